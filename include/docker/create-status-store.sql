-- The status store lives in its own database beside Airflow's metadata database.
CREATE DATABASE erp_sync OWNER airflow;
