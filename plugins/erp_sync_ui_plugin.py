"""ERP Sync's pages in the Airflow UI: a FastAPI app mounted at ``/erp-sync`` with a nav entry.

Airflow gives a plugin's FastAPI routes no authentication of their own: the app makes every route
depend on Airflow's sign-in (``erp_sync_ui.app.create_app``).
"""

from urllib.parse import urlsplit

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin

from erp_sync_ui.app import URL_PREFIX, create_app

BASE_PATH = urlsplit(conf.get("api", "base_url", fallback="")).path.rstrip("/")


class ErpSyncUiPlugin(AirflowPlugin):
    name = "erp_sync_ui"
    fastapi_apps = [{"name": "erp_sync_ui", "app": create_app(), "url_prefix": URL_PREFIX}]
    external_views = [{"name": "Procore account", "category": "ERP Sync", "destination": "nav",
                       "href": f"{BASE_PATH}{URL_PREFIX}/identity/"}]
