"""
### ERP export decisions (accounting acceptance)

Carries out the accept and reject decisions filed in `export_decisions`: from the Ready to Export
page (ERP Integrations in the Airflow nav bar → an integration → Ready to Export), which starts this
DAG at once, or typed into the table by people and tools, which it picks up every five minutes. For
each decision, claimed by exactly one worker:

1. the row must name a record that waits for accounting acceptance, and a rejection must say why;
2. a typed row must come from its decider's own database role (PostgreSQL);
3. Procore is asked, now, whether the decider has 'Standard' or 'Admin' on the ERP Integrations
   tool and 'Can Push to Accounting';
4. an accepted record is exported at once (with the hourly sync's guarantees: opened before it is
   sent, found by its reference before anything is created again, the reference written back to
   Procore); a rejected one turns YELLOW with the reason until Procore changes it.

The outcome goes back into the decision's row (`status`, `colour`, `message`), and the record's link
shows the export. Each integration is its own mapped task; on-premises ERPs run as
`decide_onprem` on the `sage_onprem` queue.
"""

from airflow.sdk import CronTriggerTimetable, dag, get_current_context, task

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
    dag_id="erp_export_decisions",
    schedule=CronTriggerTimetable("*/5 * * * *", timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    **OPERATIONS_CALLBACKS,
    tags=["erp-sync", "acceptance"],
    doc_md=__doc__,
)
def erp_export_decisions():
    @task
    def integrations_to_decide(site: str) -> list[dict]:
        from erp_sync.jobs.export_decisions import integrations_to_decide
        from erp_sync.store import Store

        return on_site(site, integrations_to_decide(Store.from_connection(), get_current_context()["run_id"]))

    @task(pool=PROCORE_POOL, map_index_template=INTEGRATION_NAME)
    def decide(integration: dict) -> dict:
        from erp_sync.jobs.export_decisions import decide_integration
        from erp_sync.store import Store

        context = get_current_context()
        with fail_fast_on_refusals():
            return decide_integration(Store.from_connection(), integration, context["run_id"])

    map_on_each_site(decide, integrations_to_decide)


erp_export_decisions()
