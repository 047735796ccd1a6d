"""
### File an unlink request

The form for asking that a Procore record be unlinked from its ERP record, so that it can be edited,
deleted and exported again. Fill in the integration, the record type and the Procore record (its
id, or its project id and its number as you see it in Procore). You ask as yourself: the requester
is the Procore account you connected to your Airflow login (Procore account, in the Airflow nav bar), confirmed
with Procore when you trigger; without one the run fails and says how to connect. Procore then
checks your own permissions. The request is checked before anything is written: an integration that
does not exist or is switched off, or a record that integration never synced, fails the run with the
sentence saying so (the same words the queue answers a typed row with). A good request is written to
`unlink_requests` (the same table people may type rows into) and the unlink queue starts at once.

The queue answers in the request's row: GREEN `Successfully Unlinked`, or RED with what to do first
(for example `The requisition is still in Acumatica Cloud ERP. Please delete it before retrying.`).
"""

from airflow.sdk import Param, dag, get_current_context, task

from erp_sync.airflow_defaults import DEFAULT_ARGS, OPERATIONS_CALLBACKS, START_DATE, UNLINK_REQUESTED, refusal


@dag(
    dag_id="erp_file_unlink_request",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    default_args=DEFAULT_ARGS,
    **OPERATIONS_CALLBACKS,
    tags=["erp-sync", "unlink"],
    doc_md=__doc__,
    params={
        "integration": Param("", type="string", minLength=1, maxLength=100, title="Integration",
                             description="The integration's name, as `python -m erp_sync integrations` lists it."),
        "record_type": Param("subcontractor_invoice", type="string", title="Record type",
                             enum=["commitment", "commitment_change_order", "subcontractor_invoice"]),
        "procore_id": Param(None, type=["null", "integer"], minimum=1, title="Procore record id",
                            description="The record's id in Procore; or leave blank and give project and number."),
        "project_id": Param(None, type=["null", "integer"], minimum=1, title="Procore project id"),
        "record_number": Param(None, type=["null", "string"], maxLength=100, title="Record number",
                               description="As Procore shows it: SC-001, SC-001-CO01, an invoice number."),
    },
)
def erp_file_unlink_request():
    @task(outlets=[UNLINK_REQUESTED])
    def file_request() -> dict:
        from erp_sync.identity import NotConnected
        from erp_sync.store import Store
        from erp_sync.unlink import Refused
        from erp_sync.unlink import file_request as write_request

        context = get_current_context()
        fields = {key: context["params"].get(key) for key in
                  ("integration", "record_type", "procore_id", "project_id", "record_number")}
        filed_by = context["dag_run"].triggering_user_name
        try:
            request_id = write_request(Store.from_connection(), fields, filed_by)
        except (Refused, NotConnected) as refused:
            raise refusal(str(refused)) from None
        return {"request_id": request_id, "filed_by": filed_by}

    file_request()


erp_file_unlink_request()
