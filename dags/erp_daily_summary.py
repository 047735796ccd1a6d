"""
### ERP daily summary

Once a day, after the hourly sync's scheduled 06:00 UTC run has ended (the `erp_sync_daily_sync` asset
it emits), per integration: the records waiting for accounting acceptance, the exports that failed (RED,
with the reason) and the records accounting rejected (YELLOW, with the reason), each named with its
project. It never runs at start-up or catches up, and never while the sync it reports on still works.
Each summary is sent through the notifier configured for telling operations
(`AIRFLOW__ERP_SYNC__NOTIFIER`, e.g. `SmtpNotifier`; by default written to the log). The same summary
is on each integration's Ready to Export page.
"""

from airflow.sdk import dag, get_current_context, task

from erp_sync.airflow_defaults import (
    DAILY_SYNC_DONE,
    DEFAULT_ARGS,
    INTEGRATION_NAME,
    OPERATIONS_CALLBACKS,
    START_DATE,
)


@dag(
    dag_id="erp_daily_summary",
    schedule=[DAILY_SYNC_DONE],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    **OPERATIONS_CALLBACKS,
    tags=["erp-sync", "acceptance"],
    doc_md=__doc__,
)
def erp_daily_summary():
    @task
    def integrations() -> list[dict]:
        from erp_sync.store import Store

        return Store.from_connection().integrations()

    @task(map_index_template=INTEGRATION_NAME)
    def send(integration: dict) -> str:
        from erp_sync.acceptance import daily_summary, send_summary
        from erp_sync.notify import configured_notifier
        from erp_sync.store import Store

        context = get_current_context()
        summary = daily_summary(Store.from_connection(), integration)
        return send_summary(summary, configured_notifier(), context)

    send.expand(integration=integrations())


erp_daily_summary()
