"""
### ERP connection check

For every enabled integration (a Procore company paired with an ERP connection), checks that the
Procore credentials work and reach the company, that the ERP answers (once its connector is
installed), and that the status store takes writes. Each integration is its own mapped task,
named after the integration; each run is recorded in `sync_runs` with the API calls it made.

Runs daily and on demand: run it after adding or changing an integration.
"""

from airflow.sdk import dag, get_current_context, task

from erp_sync.airflow_defaults import (
    DEFAULT_ARGS,
    INTEGRATION_NAME,
    OPERATIONS_CALLBACKS,
    PROCORE_POOL,
    START_DATE,
    fail_fast_on_refusals,
    map_on_each_site,
    on_site,
)


@dag(
    dag_id="erp_connection_check",
    schedule="@daily",
    start_date=START_DATE,
    catchup=False,
    default_args=DEFAULT_ARGS,
    **OPERATIONS_CALLBACKS,
    tags=["erp-sync", "operations"],
    doc_md=__doc__,
)
def erp_connection_check():
    @task
    def enabled_integrations(site: str) -> list[dict]:
        from erp_sync.store import Store

        return on_site(site, Store.from_connection().integrations())

    @task(pool=PROCORE_POOL, map_index_template=INTEGRATION_NAME)
    def check(integration: dict) -> dict:
        from erp_sync.jobs.connection_check import check_integration
        from erp_sync.store import Store

        context = get_current_context()
        with fail_fast_on_refusals():
            return check_integration(Store.from_connection(), integration, context["run_id"])

    map_on_each_site(check, enabled_integrations)


erp_connection_check()
