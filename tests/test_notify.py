"""Problems are loud: a link that turns RED is a warning line of its own and a count in the task's
summary, and operations hear of new REDs and failed runs once per DAG run (not once per record)."""

import json
import logging

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.smtp.notifications.smtp import SmtpNotifier

from erp_sync.models import ErpKind, Integration
from erp_sync.notify import LogNotifier, configured_notifier
from conftest import add_test_integrations
from erp_sync.reference.links import link
from erp_sync.reference.model import ErpItem, ProcoreRef, ReferenceKind
from seed_links import link_sandbox_references
from test_dags import DAGS


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS))


@pytest.fixture
def notices(tmp_path, monkeypatch):
    """The log notifier, configured as operations would configure any notifier, writing to a file."""
    path = tmp_path / "operations.log"
    monkeypatch.setenv("AIRFLOW__ERP_SYNC__NOTIFIER", "erp_sync.notify.LogNotifier")
    monkeypatch.setenv("AIRFLOW__ERP_SYNC__NOTIFIER_KWARGS", json.dumps({"path": str(path)}))
    return lambda: [block for block in (path.read_text() if path.exists() else "").split("\n\n") if block]


def link_two_commitments_to_a_gone_erp_vendor(sandbox, store) -> None:
    """Foundry Mechanical exists in Procore, not in the ERPs, yet was linked to an ERP vendor that is gone (as
    before the next reading saw it go): the ERPs refuse its commitments."""
    foundry = next(v for v in sandbox.sandboxes.procore.vendors.values() if v.name == "Foundry Mechanical")
    link_sandbox_references(store, sandbox)
    for integration in store.integrations():
        link(store, integration, ProcoreRef(ReferenceKind.VENDOR, str(foundry.id), "", foundry.name),
             ErpItem(ReferenceKind.VENDOR, "999", "999", "Foundry Mechanical"), by="tests")
    companies = {project_id: project.company.id for project_id, project in sandbox.sandboxes.procore.projects.items()}
    approved = [row for row in sandbox.procore_rows("work_order_contracts") if row["status"] == "Approved"]
    chosen = [next(row for row in approved if companies[row["project"]["id"]] == company) for company in (8089, 8090)]
    for commitment in chosen:
        sandbox.control("PATCH", f"procore/work_order_contracts/{commitment['id']}",
                        json={"vendor": {"id": foundry.id, "name": foundry.name}})


@pytest.mark.airflow
def test_new_reds_are_warnings_in_the_summary_and_one_notice_per_run(
        airflow_db, sandbox, airflow_sqlite_store, dagbag, notices, caplog):
    add_test_integrations(airflow_sqlite_store)
    link_two_commitments_to_a_gone_erp_vendor(sandbox, airflow_sqlite_store)
    dag = dagbag.dags["erp_hourly_sync"]

    with caplog.at_level(logging.INFO):
        first = dag.test()

    assert first.state == "success"
    reds = [record.getMessage() for record in caplog.records
            if record.levelno == logging.WARNING and record.getMessage().startswith("New RED:")]
    assert len(reds) == 2 and all("\n" not in line and "{" not in line for line in reds)
    assert all("refused the commitment" in line for line in reds)
    summaries = [record.getMessage() for record in caplog.records
                 if record.levelno == logging.WARNING and record.name == "erp_sync.runs"]
    assert sorted(summaries) == [f"hourly_export for {name}: 1 new RED link(s): erp validation (1)"
                                 for name in ("harbor-quickbooks", "summit-acumatica")]
    assert sum('"new_red": "1 new RED link(s): erp validation (1)"' in record.getMessage()
               for record in caplog.records if record.name == "erp_sync.runs") == 2  # each task's summary
    (notice,) = notices()
    assert "ERP Sync: erp_hourly_sync succeeded, 2 new RED link(s)" in notice
    assert "summit-acumatica: 1 new RED link(s): erp validation (1)" in notice

    second = dag.test()  # still RED, nothing new: nothing to tell

    assert second.state == "success" and len(notices()) == 1


@pytest.mark.airflow
def test_a_failed_run_is_one_notice_with_each_failure(airflow_db, sandbox, airflow_sqlite_store, dagbag, notices):
    for company in (998, 999):
        airflow_sqlite_store.save_integration(Integration(
            name=f"wrong-company-{company}", procore_conn_id="procore_test", procore_company_id=company,
            erp_kind=ErpKind.ACUMATICA, erp_conn_id="acumatica_test"))

    run = dagbag.dags["erp_connection_check"].test()

    assert run.state == "failed"
    (notice,) = notices()
    assert "ERP Sync: erp_connection_check failed" in notice
    assert "connection_check for wrong-company-998 failed:" in notice and "cannot see company 999" in notice
    assert "See the log of task check in Airflow." in notice


def test_any_notifier_class_can_be_configured_by_its_dotted_path(monkeypatch):
    monkeypatch.setenv("AIRFLOW__ERP_SYNC__NOTIFIER", "airflow.providers.smtp.notifications.smtp.SmtpNotifier")
    monkeypatch.setenv("AIRFLOW__ERP_SYNC__NOTIFIER_KWARGS", json.dumps({
        "to": "operations@example.com", "subject": "{{ erp_sync_subject }}",
        "html_content": "<pre>{{ erp_sync_message }}</pre>"}))
    notifier = configured_notifier()
    assert isinstance(notifier, SmtpNotifier) and notifier.to == "operations@example.com"

    monkeypatch.delenv("AIRFLOW__ERP_SYNC__NOTIFIER")
    monkeypatch.delenv("AIRFLOW__ERP_SYNC__NOTIFIER_KWARGS")
    assert isinstance(configured_notifier(), LogNotifier)  # the default


def test_every_dag_tells_operations(dagbag):
    from erp_sync.notify import notify_operations

    for dag_id, dag in dagbag.dags.items():
        assert dag.on_failure_callback is notify_operations, dag_id
        assert dag.on_success_callback is notify_operations, dag_id


def test_a_notice_counts_only_its_own_dags_jobs(airflow_sqlite_store, notices):
    """Run ids are unique per DAG only: the unlink queue's scheduled run may share the hourly sync's id."""
    from erp_sync.notify import notify_operations

    integration = add_test_integrations(airflow_sqlite_store)["summit-acumatica"]
    run_id = "scheduled__2026-11-23T06:00:00+00:00"
    row = airflow_sqlite_store.start_run("hourly_export", integration["id"], run_id)
    airflow_sqlite_store.finish_run(row, "success", {"new_red": 1, "new_red_parent_missing": 1}, {})

    notify_operations({"dag": a_dag("erp_unlink_queue"), "run_id": run_id, "reason": "success"})
    assert notices() == []
    notify_operations({"dag": a_dag("erp_hourly_sync"), "run_id": run_id, "reason": "success"})
    (notice,) = notices()
    assert "ERP Sync: erp_hourly_sync succeeded, 1 new RED link(s)" in notice


def a_dag(dag_id: str):
    from airflow.sdk import DAG

    return DAG(dag_id=dag_id, schedule=None)
