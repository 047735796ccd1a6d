-- Beside Airflow's metadata database (POSTGRES_DB): the status store, and Celery's result backend.
CREATE DATABASE erp_sync OWNER airflow;
CREATE DATABASE celery_results OWNER airflow;
