"""The InnoDB exporter: every deadlock (tables, indexes, lock modes, statements, victim) and live
lock waits, from SHOW ENGINE INNODB STATUS, the error log and information_schema/performance_schema.
"""
