-- Accounts for compose's MySQL (run once by the image's entrypoint on an empty data dir).
-- The shop owns its schema; the exporters get least privilege: PROCESS for SHOW ENGINE INNODB
-- STATUS and the processlist, SELECT for information_schema / performance_schema views,
-- REPLICATION CLIENT for mysqld_exporter's replica status.
CREATE USER IF NOT EXISTS 'shop'@'%' IDENTIFIED BY 'shop';
GRANT ALL PRIVILEGES ON shop.* TO 'shop'@'%';
CREATE USER IF NOT EXISTS 'exporter'@'%' IDENTIFIED BY 'exporter' WITH MAX_USER_CONNECTIONS 5;
GRANT PROCESS, REPLICATION CLIENT, SELECT ON *.* TO 'exporter'@'%';
-- The InnoDB exporter's own account: PROCESS for SHOW ENGINE INNODB STATUS and
-- information_schema.INNODB_TRX, SELECT on the two lock tables it joins; no table of the shop.
CREATE USER IF NOT EXISTS 'innodb_exporter'@'%' IDENTIFIED BY 'innodb_exporter' WITH MAX_USER_CONNECTIONS 3;
GRANT PROCESS ON *.* TO 'innodb_exporter'@'%';
GRANT SELECT ON performance_schema.data_locks TO 'innodb_exporter'@'%';
GRANT SELECT ON performance_schema.data_lock_waits TO 'innodb_exporter'@'%';
