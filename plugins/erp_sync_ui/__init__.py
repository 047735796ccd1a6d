"""ERP Sync's pages inside the Airflow UI (loaded by ``plugins/erp_sync_ui_plugin.py``)."""
