"""
### ERP hourly sync

For every enabled integration, in two steps:

1. **export**: approved Procore commitments, commitment change orders and subcontractor invoices
   without a link are created in the ERP (found first by the pipeline's reference if an earlier
   attempt may have created them), the link is recorded and the ERP reference is written back to
   Procore (`origin_id`, `origin_data`); linked records changed in Procore are pushed as updates
   where the ERP allows it, and turn RED with the reason where it does not. With the integration's
   `export_mode` at `acceptance` (Procore's default), approved records are not sent: they wait under
   Ready to Export (BLUE, "Waiting for accounting acceptance") until an accounting approver accepts
   them (`erp_export_decisions` exports them then) or rejects them (YELLOW until Procore changes them).
2. **refresh**: what the ERP now says about every linked record (still there, deleted, reversed,
   paid, part paid, rejected), stored with the time it was seen.

Procore is read incrementally from each stream's bookmark (`filters[updated_at]`); the ERP with
`$filter` on `LastModifiedDateTime` (Acumatica), `cdc` (QuickBooks Online), `upddte` (Sage 100
Contractor), or a whole read compared with the last one (Sage 300 CRE, whose ODBC tables have no
change dates). Sage takes records through its import files: those links stay BLUE until Sage has
imported them. The Sage groups run on the `sage_onprem` queue, on a worker inside the contractor's
network. Link colours follow
Procore's ERP icons: GREEN synced, BLUE sent and waiting, YELLOW rejected, RED failed with a
reason. Each integration is its own mapped task group (one per ERP kind, so each uses its ERP's
pool); each step's counts and API calls go to the task log and to `sync_runs`. A successful
refresh emits the `erp_sync_hourly_sync` asset, which starts the payment import and the unlink
queue for that integration. The scheduled 06:00 UTC run, once every integration's sync in it has ended,
emits `erp_sync_daily_sync`, which starts the daily summary (`erp_daily_summary`).

**Schedule and API budget.** The DAG runs every hour and syncs the integrations that are due by
their own schedule (`sync_schedule`: hourly, every 2 hours, every 4 hours, daily, or never, which
syncs on demand only), plus any whose last run left work for a later window; the others are skipped.
A run triggered by hand syncs every enabled integration, whatever its schedule.
The export spends at most the Procore connection's `sync_share` of each rate window (default 70 %),
keeping the rest for on-demand work; when the share is spent it stops between records, keeps its
position and ends successfully with what it left for later (`streams_left_for_later`). Each
project-stream is read when due: every run if it changed in the last 6 hours, otherwise often enough
that no change waits longer than the integration's `max_staleness_hours`.
"""

from airflow.sdk import TriggerRule, dag, get_current_context, task, task_group

from erp_sync.airflow_defaults import (
    DAILY_SYNC_DONE,
    DEFAULT_ARGS,
    INTEGRATION_NAME,
    OPERATIONS_CALLBACKS,
    ERP_POOLS,
    HOURLY_SYNC_DONE,
    PROCORE_POOL,
    START_DATE,
    fail_fast_on_refusals,
    queue_for,
    starts_daily_summary,
)


@dag(
    dag_id="erp_hourly_sync",
    schedule="@hourly",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    **OPERATIONS_CALLBACKS,
    tags=["erp-sync", "sync"],
    doc_md=__doc__,
)
def erp_hourly_sync():
    def integrations_of(kind: str):
        @task(task_id=f"{kind}_integrations")
        def integrations() -> list[dict]:
            from erp_sync.jobs.hourly_sync import due_for_sync
            from erp_sync.store import Store, utcnow

            store = Store.from_connection()
            on_demand = get_current_context()["dag_run"].run_type != "scheduled"  # a person asked: sync them all
            return [row for row in store.integrations()
                    if row["erp_kind"] == kind and (on_demand or due_for_sync(store, row, utcnow()))]

        return integrations()

    def steps_for(kind: str, pool: str):
        queue = queue_for(kind)

        @task(task_id="export", pool=PROCORE_POOL, queue=queue, map_index_template=INTEGRATION_NAME)
        def export(integration: dict) -> dict:
            from erp_sync.jobs.hourly_sync import export_integration
            from erp_sync.store import Store

            context = get_current_context()
            with fail_fast_on_refusals():
                return export_integration(Store.from_connection(), integration, context["run_id"])

        @task(task_id="refresh", pool=pool, queue=queue, outlets=[HOURLY_SYNC_DONE],
              map_index_template=INTEGRATION_NAME)
        def refresh(integration: dict) -> dict:
            from erp_sync.jobs.hourly_sync import refresh_integration
            from erp_sync.store import Store

            context = get_current_context()
            with fail_fast_on_refusals():
                summary = refresh_integration(Store.from_connection(), integration, context["run_id"])
            context["outlet_events"][HOURLY_SYNC_DONE].extra = {"integration": integration["name"]}
            return summary

        return export, refresh

    def sync_integrations_of(kind: str, pool: str) -> None:
        export, refresh = steps_for(kind, pool)

        @task_group(group_id=f"sync_{kind}")
        def sync(integration: dict):
            export(integration=integration) >> refresh(integration=integration)  # by name: the label reads it

        return sync.expand(integration=integrations_of(kind))

    @task(outlets=[DAILY_SYNC_DONE], trigger_rule=TriggerRule.ALL_DONE)
    def daily_sync_done() -> None:
        """Skipped (and so emits nothing) except in the day's run the daily summary follows."""
        from airflow.sdk.exceptions import AirflowSkipException

        dag_run = get_current_context()["dag_run"]
        if not starts_daily_summary(dag_run.run_type, dag_run.logical_date):
            raise AirflowSkipException("the daily summary follows only the scheduled 06:00 UTC run")

    [sync_integrations_of(kind, pool) for kind, pool in ERP_POOLS.items()] >> daily_sync_done()

erp_hourly_sync()
