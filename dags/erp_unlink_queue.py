"""
### ERP unlink queue

Works through `unlink_requests` (rows typed in by people, or filed with `erp_file_unlink_request`):
every five minutes, as soon as a request is filed, and after each hourly sync. Each pending request
is claimed by exactly one worker, then:

1. Procore is asked, now, whether the requester has 'Admin' on the project's Commitments tool,
   'Standard' or 'Admin' on the ERP Integrations tool, and 'Can Push to Accounting';
2. the ERP is asked whether the record is gone (deleted; for Acumatica change orders, reversed).
   Sage 300 CRE is seen only through the hourly sync: its request waits (BLUE, status `waiting`)
   until a sync that started after it was filed has completed, then is decided from what that
   sync saw;
3. the Procore record's ERP reference is cleared and the link is ended (kept for audit), so the
   next hourly sync may export the record again as a new link.

Rows are taken as people type them: `Pending` or ` pending ` is pending, and spaces around the
integration's name do not matter; a status the queue does not know is answered. Each request is
decided on its own: one that cannot be read or that a vendor refuses is answered RED, one that meets
transient trouble is tried again after a pause (1, 2, 4, 8 minutes) and answered RED after the fifth
attempt; the others go on. The task fails only when Procore or the ERP cannot be reached at all.

The outcome goes back into the request's row (`status`, `colour`, `message`, `processed_at`,
`processed_by_run`): GREEN `Successfully Unlinked`, or RED saying what is wrong or what to do first,
e.g. `The commitment is still in QuickBooks® Online. Please delete it before retrying.` A bad
request changes nothing else. Each integration is its own mapped task; those with an on-premises
ERP run as `work_queue_onprem`, on the `sage_onprem` queue.
"""

from airflow.sdk import (
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    dag,
    get_current_context,
    task,
)

from erp_sync.airflow_defaults import (
    DEFAULT_ARGS,
    INTEGRATION_NAME,
    OPERATIONS_CALLBACKS,
    HOURLY_SYNC_DONE,
    PROCORE_POOL,
    START_DATE,
    UNLINK_REQUESTED,
    fail_fast_on_refusals,
    map_on_each_site,
    on_site,
)


@dag(
    dag_id="erp_unlink_queue",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("*/5 * * * *", timezone="UTC"),
                                 assets=(UNLINK_REQUESTED | HOURLY_SYNC_DONE)),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    **OPERATIONS_CALLBACKS,
    tags=["erp-sync", "unlink"],
    doc_md=__doc__,
)
def erp_unlink_queue():
    @task
    def integrations_with_requests(site: str) -> list[dict]:
        from erp_sync.jobs.unlink_queue import (
            integrations_with_requests,
            reject_unknown_integrations,
            tidy_typed_requests,
        )
        from erp_sync.store import Store

        store, run_id = Store.from_connection(), get_current_context()["run_id"]
        tidy_typed_requests(store, run_id)
        reject_unknown_integrations(store, run_id)
        return on_site(site, integrations_with_requests(store))

    @task(pool=PROCORE_POOL, map_index_template=INTEGRATION_NAME)
    def work_queue(integration: dict) -> dict:
        from erp_sync.jobs.unlink_queue import drain_integration
        from erp_sync.store import Store

        context = get_current_context()
        with fail_fast_on_refusals():
            return drain_integration(Store.from_connection(), integration, context["run_id"])

    map_on_each_site(work_queue, integrations_with_requests)


erp_unlink_queue()
