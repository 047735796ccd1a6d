"""
### ERP payment import ("Sync Payments for Synced Invoices")

Imports the bill payments made in the ERP against bills this pipeline exported from Procore
subcontractor invoices into the Payments Issued tab of the invoice's commitment: one Procore
payment per ERP payment per bill it pays (checks and credit cards, full and partial payments), with
the ERP reference in `origin_id`. Voids and later changes follow: a voided payment stays in Procore
at 0 with a note saying when and in which ERP it was voided. Payment numbers and attachments edited
in Procore are never overwritten. Invoice numbers that do not match the ERP's bill number are
reported. Running it again changes nothing and writes nothing. Integrations with an on-premises
ERP (Sage) are imported by `import_payments_onprem`, on the `sage_onprem` queue.

**When it runs**: after successful hourly syncs (the `erp_sync_hourly_sync` asset, one event per
integration), and on demand from the trigger form, optionally for one integration (blank: all). One
run at a time: the syncs that finish while a run is working are taken together by the next run, one
task per integration whose sync finished (however many times it did), so a busy hour makes a few
runs rather than one per event. On demand you ask as yourself: the Procore account you connected to
your Airflow login (Procore account, in the Airflow nav bar), confirmed with Procore when you trigger; without
one the run fails and says how to connect. Procore is asked whether you have 'Admin' on the ERP
Integrations tool or are an accounting approver; if not, the run ends with that message (the task's
first error line), recorded in `sync_runs`.
"""

from airflow.sdk import Param, dag, get_current_context, task

from erp_sync.airflow_defaults import (
    DEFAULT_ARGS,
    INTEGRATION_NAME,
    OPERATIONS_CALLBACKS,
    HOURLY_SYNC_DONE,
    PROCORE_POOL,
    START_DATE,
    fail_fast_on_refusals,
    map_on_each_site,
    on_site,
    refusal,
)


@dag(
    dag_id="erp_payment_import",
    schedule=[HOURLY_SYNC_DONE],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,  # the scheduler holds asset events back while a run works: the next run takes them all
    default_args=DEFAULT_ARGS,
    **OPERATIONS_CALLBACKS,
    tags=["erp-sync", "payments"],
    doc_md=__doc__,
    params={
        "integration": Param(None, type=["null", "string"], maxLength=100, title="Integration",
                             description="The integration's name (python -m erp_sync integrations); blank for all."),
    },
)
def erp_payment_import():
    @task
    def integrations_to_import(site: str) -> list[dict]:
        from erp_sync.identity import NotConnected
        from erp_sync.jobs.payment_import import with_requester
        from erp_sync.models import integration_name
        from erp_sync.store import Store
        from erp_sync.unlink import no_such_integration

        context = get_current_context()
        store = Store.from_connection()
        integrations = store.integrations()
        events = [event for events in context["triggering_asset_events"].values() for event in events]
        if events:  # after hourly syncs: the integrations whose sync just succeeded
            synced = {event.extra.get("integration") for event in events}
            return on_site(site, [dict(row, requested_by=None) for row in integrations if row["name"] in synced])
        wanted = integration_name(context["params"].get("integration"))
        chosen = [row for row in integrations if not wanted or row["name"] == wanted]
        if not chosen:
            raise refusal(no_such_integration(wanted))
        try:
            return with_requester(store, on_site(site, chosen), context["dag_run"].triggering_user_name)
        except NotConnected as not_connected:
            raise refusal(str(not_connected)) from None

    @task(pool=PROCORE_POOL, map_index_template=INTEGRATION_NAME)
    def import_payments(integration: dict) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from erp_sync.jobs.payment_import import PaymentSyncRefused, import_payments
        from erp_sync.store import Store

        context = get_current_context()
        try:
            with fail_fast_on_refusals():
                return import_payments(Store.from_connection(), integration, context["run_id"],
                                       requested_by=integration["requested_by"])
        except PaymentSyncRefused as refused:  # its sentence is already the task's first error line
            raise AirflowFailException(str(refused)) from None

    map_on_each_site(import_payments, integrations_to_import)


erp_payment_import()
