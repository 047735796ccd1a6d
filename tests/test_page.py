"""What the ERP Integrations page reads, on SQLite and PostgreSQL: the views of a tab a page at a time,
their counts, filters and search, the Airflow task of a link, and the operations figures."""

from __future__ import annotations

from datetime import timedelta

from erp_sync.models import ErpKind, Integration, RecordType
from erp_sync.operations import operations, tally_colours
from erp_sync.page import AirflowTask, IntegrationPage, View
from erp_sync.store import utcnow
from erp_sync.sync.records import STREAM_BY_NAME, ProcoreRecord


def add_integration(store) -> dict:
    store.save_integration(Integration(name="page-test", procore_conn_id="procore_test", procore_company_id=1,
                                       erp_kind=ErpKind.ACUMATICA, erp_conn_id="acumatica_test"))
    return store.integrations()[0]


def add_link(store, integration: dict, procore_id: int, number: str, colour: str, project_id: int = 7,
             run_id: int | None = None) -> int:
    data = {"id": procore_id, "number": number, "title": f"Package {number}", "status": "Approved",
            "updated_at": "2026-11-01T10:00:00Z", "grand_total": "1200.50",
            "project": {"id": project_id, "name": f"Tower {project_id}"}, "vendor": {"id": 1, "name": "Apex Concrete"}}
    record = ProcoreRecord(STREAM_BY_NAME["work_order_contracts"], data)
    with store.transaction() as tx:
        return tx.scalar("insert_link", integration_id=integration["id"], record_type="commitment",
                         procore_id=procore_id, procore_project_id=project_id, procore_number=number, state="synced",
                         colour=colour, message=None if colour == "GREEN" else f"{colour} because of {number}",
                         reason_code=None, procore_json=record.snapshot(), procore_updated_at=record.updated_at,
                         fingerprint=None, run_id=run_id, now=utcnow())


def test_a_tab_counts_its_views_and_pages_filters_and_searches_them(store):
    integration = add_integration(store)
    run_id = store.start_run("hourly_refresh", integration["id"], "scheduled__1",
                             {"dag_id": "erp_hourly_sync", "task_id": "sync_acumatica.refresh", "map_index": 2})
    for n in range(1, 6):
        add_link(store, integration, 100 + n, f"SC-00{n}", "GREEN", project_id=7 if n % 2 else 8, run_id=run_id)
    add_link(store, integration, 200, "SC_100%", "RED")
    ended = add_link(store, integration, 300, "SC-300", "GREEN")
    with store.transaction() as tx:
        tx.execute("end_link", id=ended, now=utcnow(), ended_by="unlink_queue:run-9", reason="request 4")
    page = IntegrationPage(store, integration)

    assert page.counts(RecordType.COMMITMENT) == {View.SYNCED: 5, View.WAITING: 0, View.FAILED: 1, View.REJECTED: 0,
                                                  View.UNLINKED: 1}
    first, second = (page.links(RecordType.COMMITMENT, View.SYNCED, page=n, per_page=3) for n in (1, 2))
    assert [row.number for row in first.rows + second.rows] == ["SC-005", "SC-004", "SC-003", "SC-002", "SC-001"]
    assert (first.total, first.pages) == (5, 2)
    row = first.rows[0]
    assert (row.title, row.project, row.vendor, str(row.amount)) == ("Package SC-005", "Tower 7", "Apex Concrete",
                                                                     "1200.50")
    assert row.last_task.path == "/dags/erp_hourly_sync/runs/scheduled__1/tasks/sync_acumatica.refresh/mapped/2"

    assert [r.number for r in page.links(RecordType.COMMITMENT, View.SYNCED, project_id=8).rows] == ["SC-004", "SC-002"]
    assert [r.number for r in page.links(RecordType.COMMITMENT, View.SYNCED, number=" sc-00").rows] == [
        "SC-005", "SC-004", "SC-003", "SC-002", "SC-001"]
    assert page.links(RecordType.COMMITMENT, View.FAILED, number="_100%").rows[0].reason == "RED because of SC_100%"
    assert page.links(RecordType.COMMITMENT, View.SYNCED, number="%").total == 0  # % is a character, not a wildcard
    (unlinked,) = page.links(RecordType.COMMITMENT, View.UNLINKED).rows
    assert (unlinked.number, unlinked.ended_by) == ("SC-300", "unlink_queue:run-9")
    assert page.projects == {7: "Tower 7", 8: "Tower 8"}


def test_the_task_of_a_run_outside_airflow_has_no_page():
    assert AirflowTask.of_run({"dag_id": None, "airflow_run_id": "sync", "task_id": None}) is None
    assert AirflowTask("erp_payment_import", "manual__2026-11-23T06:00:00+00:00", "import_payments").path == (
        "/dags/erp_payment_import/runs/manual__2026-11-23T06%3A00%3A00%2B00%3A00/tasks/import_payments")


def test_operations_draw_calls_per_hour_against_the_reported_budget_and_the_red_count_over_time(store):
    integration = add_integration(store)
    for n, colour in enumerate(("GREEN", "RED", "RED")):
        add_link(store, integration, 400 + n, f"SC-40{n}", colour)
    tally_colours(store, integration["id"])
    ok = store.start_run("hourly_export", integration["id"], "scheduled__2")
    store.finish_run(ok, "success", {"synced": 3}, {"procore": 40, "acumatica": 12}, rate_limits={"procore": 600})
    failed = store.start_run("hourly_refresh", integration["id"], "scheduled__2")
    store.finish_run(failed, "failed", {}, {}, error="VendorApiError: acumatica said 503 Service Unavailable")

    ops = operations(store, integration, now=utcnow() + timedelta(minutes=1))

    procore, acumatica = ops.api_calls
    assert (procore.vendor, procore.budget, procore.calls[-1], sum(procore.calls)) == ("procore", 600, 40, 40)
    assert (acumatica.vendor, acumatica.budget, acumatica.calls[-1]) == ("acumatica", None, 12)
    assert len(procore.hours) == 24
    assert [red for _, red in ops.red_over_time] == [2]
    states = {state.vendor: state for state in ops.connections}
    assert states["procore"].last_success is not None and states["procore"].last_error is None
    assert states["acumatica"].last_error == "VendorApiError: acumatica said 503 Service Unavailable"
    assert [run.status for run in ops.runs_by_job["hourly_refresh"]] == ["failed"]
