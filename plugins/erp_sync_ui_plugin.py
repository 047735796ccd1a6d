"""ERP Sync's pages in the Airflow UI: a FastAPI app mounted at ``/erp-sync`` with a nav entry.

Airflow gives a plugin's FastAPI routes no authentication of their own: the app makes every route
depend on Airflow's sign-in (``erp_sync_ui.app.create_app``).
"""

from airflow.plugins_manager import AirflowPlugin

from erp_sync_ui.airflow_api import airflow_base_path
from erp_sync_ui.app import URL_PREFIX, create_app

BASE_PATH = airflow_base_path()


class ErpSyncUiPlugin(AirflowPlugin):
    name = "erp_sync_ui"
    fastapi_apps = [{"name": "erp_sync_ui", "app": create_app(), "url_prefix": URL_PREFIX}]
    # nav_top_level: Airflow's nav bar shows each as an entry of its own ("ERP Integrations", "Procore account"),
    # not under Plugins and not grouped under their category.
    external_views = [{"name": "ERP Integrations", "category": "ERP Sync", "destination": "nav", "nav_top_level": True,
                       "href": f"{BASE_PATH}{URL_PREFIX}/integrations/"},
                      {"name": "Procore account", "category": "ERP Sync", "destination": "nav", "nav_top_level": True,
                       "href": f"{BASE_PATH}{URL_PREFIX}/identity/"}]
