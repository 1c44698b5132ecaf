DROP TABLE IF EXISTS grafi_rs_key;
DROP TABLE IF EXISTS grafi_rs_audit;
DROP TABLE IF EXISTS grafi_rs_erased;
