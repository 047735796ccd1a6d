"""
### ERP reconciliation

Per integration, Procore and the ERP side by side per commitment: committed (original, approved change
orders, revised), invoiced to date, retainage held and paid to date, from what the hourly sync already
read (no call to Procore or the ERP). Each difference is explained in one sentence from what ERP Sync
knows (a change order waiting for acceptance, RED or not exported; an ERP bill with no Procore invoice;
a payment not imported yet or voided since; a document changed in the ERP after export; a record
unlinked; an amount rounded; or, saying so, an unknown cause with both figures), with the time it was
first seen and the time it closed. The figures are in the status store (`reconciliation_figures`,
`reconciliation_differences`, views `reconciliation_projects` and `reconciliation_open_differences`:
`docs/reconciliation.md`) and on each integration's Reconciliation page.

**When it runs**: after each successful hourly sync (the `erp_sync_hourly_sync` asset, one task per
integration whose sync finished), and on demand from the trigger form, optionally for one integration
(blank: all). It reaches no vendor, so its tasks run on the default queue for every integration.
"""

from airflow.sdk import Param, dag, get_current_context, task

from erp_sync.airflow_defaults import (
    DEFAULT_ARGS,
    HOURLY_SYNC_DONE,
    INTEGRATION_NAME,
    OPERATIONS_CALLBACKS,
    START_DATE,
    refusal,
)


@dag(
    dag_id="erp_reconciliation",
    schedule=[HOURLY_SYNC_DONE],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    **OPERATIONS_CALLBACKS,
    tags=["erp-sync", "reconciliation"],
    doc_md=__doc__,
    params={
        "integration": Param(None, type=["null", "string"], maxLength=100, title="Integration",
                             description="The integration's name (python -m erp_sync integrations); blank for all."),
    },
)
def erp_reconciliation():
    @task
    def integrations_to_reconcile() -> list[dict]:
        from erp_sync.reconcile.job import chosen_integrations
        from erp_sync.store import Store

        context = get_current_context()
        events = [event for events in context["triggering_asset_events"].values() for event in events]
        try:
            return chosen_integrations(Store.from_connection(), {event.extra.get("integration") for event in events},
                                       context["params"].get("integration"))
        except LookupError as unknown:
            raise refusal(str(unknown)) from None

    @task(map_index_template=INTEGRATION_NAME)
    def reconcile(integration: dict) -> dict:
        from erp_sync.reconcile.job import reconcile_integration
        from erp_sync.store import Store

        context = get_current_context()
        return reconcile_integration(Store.from_connection(), integration, context["run_id"])

    reconcile.expand(integration=integrations_to_reconcile())


erp_reconciliation()
