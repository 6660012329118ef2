-- Accounts for compose's MySQL (run once by the image's entrypoint on an empty data dir).
-- The shop owns its schema; the exporters get least privilege: PROCESS for SHOW ENGINE INNODB
-- STATUS and the processlist, SELECT for information_schema / performance_schema views,
-- REPLICATION CLIENT for mysqld_exporter's replica status.
CREATE USER IF NOT EXISTS 'shop'@'%' IDENTIFIED BY 'shop';
GRANT ALL PRIVILEGES ON shop.* TO 'shop'@'%';
CREATE USER IF NOT EXISTS 'exporter'@'%' IDENTIFIED BY 'exporter' WITH MAX_USER_CONNECTIONS 5;
GRANT PROCESS, REPLICATION CLIENT, SELECT ON *.* TO 'exporter'@'%';
