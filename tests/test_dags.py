"""DAG integrity (imports, conventions, no work at import time) and dag.test() runs on the sandboxes."""

import json
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.dag_processing.dagbag import DagBag

from erp_connectors.base import VendorHook
from erp_sync.airflow_defaults import DAILY_SYNC_DONE, INTEGRATION_NAME, starts_daily_summary
from erp_sync.models import ErpKind, Integration
from erp_sync.store import Store
from conftest import add_test_integrations
from sandbox.acumatica_data import INACTIVE_VENDORS, VENDORS as ACUMATICA_VENDORS
from seed_links import link_sandbox_references

DAGS = Path(__file__).resolve().parents[1] / "dags"
DAG_FILES = sorted(DAGS.glob("*.py"))
ON_DEMAND_ONLY = {"erp_file_unlink_request"}  # a form a person fills in; every other DAG has a schedule


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS))


def test_every_dag_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert len(dagbag.dags) == len(DAG_FILES)


def test_every_dag_follows_the_conventions(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags and "erp-sync" in dag.tags, dag_id
        assert dag.doc_md and len(dag.doc_md.strip()) > 80, dag_id
        assert dag.catchup is False, dag_id
        assert (dag.schedule is not None) != (dag_id in ON_DEMAND_ONLY), dag_id
        for task in dag.tasks:
            assert task.retries >= 1 and task.retry_exponential_backoff, (dag_id, task.task_id)


def test_each_dag_file_parses_on_its_own_and_calls_nothing(sandbox_server):
    """Parse each file on its own in a fresh interpreter; the sandbox counts calls, so any I/O at import
    time would show. (How fast each file parses is printed by benchmarks/dag_parse.py.)"""
    vendors = sandbox_server.sandboxes.traffic
    before = {vendor: sandbox_server.control("GET", f"{vendor}/calls").json() for vendor in vendors}
    code = ("import sys; from airflow.dag_processing.dagbag import DagBag; "
            f"bags = [DagBag(dag_folder=path) for path in {[str(path) for path in DAG_FILES]!r}]; "
            "print([len(bag.dags) for bag in bags]); sys.exit(1 if any(bag.import_errors for bag in bags) else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == str([1] * len(DAG_FILES))
    assert {vendor: sandbox_server.control("GET", f"{vendor}/calls").json() for vendor in vendors} == before


@pytest.mark.airflow
def test_connection_check_records_each_integration(airflow_db, sandbox, airflow_sqlite_store, dagbag):
    store = airflow_sqlite_store
    for name, company in (("summit-acumatica", 8089), ("wrong-company", 999)):
        store.save_integration(Integration(name=name, procore_conn_id="procore_test", procore_company_id=company,
                                           erp_kind=ErpKind.ACUMATICA, erp_conn_id="acumatica_test"))

    run = dagbag.dags["erp_connection_check"].test()

    runs = {row["integration"]: row for row in store.rows("recent_runs", limit=10)}
    assert runs["summit-acumatica"]["status"] == "success"
    assert json.loads(runs["summit-acumatica"]["counts_json"]) == {
        "procore_checked": 1, "procore_projects": 3, "acumatica_checked": 1,
        "acumatica_vendors": len(ACUMATICA_VENDORS) + len(INACTIVE_VENDORS)}
    assert json.loads(runs["summit-acumatica"]["api_calls_json"])["procore"] >= 3
    assert runs["wrong-company"]["status"] == "failed"
    assert "cannot see company 999" in runs["wrong-company"]["error"]
    assert run.state == "failed"  # one integration's failure shows, the other's success still lands


def runs_of(store: Store, run_id: str) -> dict[tuple[str, str], dict]:
    return {(row["integration"], row["job"]): row for row in store.rows("runs_of_airflow_run", airflow_run_id=run_id)}


@pytest.mark.airflow
def test_hourly_sync_exports_then_writes_nothing_then_pushes_an_edit_and_sees_a_deletion(
        airflow_db, sandbox, airflow_store, dagbag):
    store = airflow_store
    add_test_integrations(store)
    link_sandbox_references(store, sandbox)
    dag = dagbag.dags["erp_hourly_sync"]

    first = dag.test()
    assert first.state == "success"
    runs = runs_of(store, first.run_id)
    assert {key: row["status"] for key, row in runs.items()} == {
        (name, job): "success" for name in ("summit-acumatica", "harbor-quickbooks")
        for job in ("hourly_export", "hourly_refresh")}
    colours = {(row["integration"], row["colour"]): row["links"] for row in store.rows("links_by_colour")}
    assert set(colours) == {("summit-acumatica", "GREEN"), ("harbor-quickbooks", "GREEN")}
    assert json.loads(runs[("summit-acumatica", "hourly_export")]["api_calls_json"]).keys() == {"procore", "acumatica"}

    writes_before = {vendor: write_calls(sandbox, vendor) for vendor in ("procore", "acumatica", "quickbooks")}
    second = dag.test()
    assert second.state == "success"
    assert {vendor: write_calls(sandbox, vendor) for vendor in writes_before} == writes_before
    for (name, job), row in runs_of(store, second.run_id).items():
        counts = json.loads(row["counts_json"])
        assert not [key for key in counts if key.startswith(("created", "updated", "red_"))], (name, job, counts)

    # A Procore user edits an exported invoice; an Acumatica user deletes another one's bill.
    acumatica = next(i for i in store.integrations() if i["erp_kind"] == "acumatica")
    invoices = [row for row in store.rows("active_links", integration_id=acumatica["id"])
                if row["record_type"] == "subcontractor_invoice"]
    def bill_amount() -> float:
        return next(b["Amount"]["value"] for b in sandbox.erp_rows("acumatica", "Bill")
                    if f"Bill/{b['ReferenceNbr']['value']}" == invoices[0]["erp_ref"])

    amount_before = bill_amount()
    retained = sandbox.bill_more(invoices[0]["procore_id"], "100.00")  # the invoice's total follows its lines
    sandbox.control("DELETE", f"acumatica/Bill/{invoices[1]['erp_ref']}")

    third = dag.test()
    assert third.state == "success"
    runs = runs_of(store, third.run_id)
    assert json.loads(runs[("summit-acumatica", "hourly_export")]["counts_json"])["updated_subcontractor_invoice"] == 1
    assert json.loads(runs[("summit-acumatica", "hourly_refresh")]["counts_json"])["erp_deleted"] == 1
    after = {row["id"]: row for row in store.rows("active_links", integration_id=acumatica["id"])}
    assert after[invoices[1]["id"]]["erp_condition"] == "deleted" and after[invoices[1]["id"]]["erp_seen_at"]
    assert Decimal(str(bill_amount())) == Decimal(str(amount_before)) + 100 - retained  # net of retainage


def write_calls(sandbox, vendor: str) -> int:
    sign_in = ("/oauth/token", "/entity/auth/login", "/entity/auth/logout", "/oauth2/v1/tokens/bearer")
    return sum(n for path, n in sandbox.control("GET", f"{vendor}/calls").json().items()
               if path.split()[0] in ("POST", "PUT", "PATCH", "DELETE") and not path.endswith(sign_in))


@pytest.mark.airflow
def test_hourly_sync_under_a_fifth_of_calls_failing_ends_green_without_duplicates(
        airflow_db, sandbox, airflow_sqlite_store, monkeypatch, dagbag):
    """429, 500 and answers lost after the ERP committed, on one call in five to every vendor."""
    store = airflow_sqlite_store
    add_test_integrations(store)
    link_sandbox_references(store, sandbox)
    monkeypatch.setattr(VendorHook, "_wait", lambda self, state: 0.05)  # keep the test quick; waits are tested elsewhere
    for vendor in ("procore", "acumatica", "quickbooks"):
        for seed, rule in enumerate(({"status": 429}, {"status": 500}, {"drop": True, "after_commit": True})):
            sandbox.fault(vendor, probability=0.07, seed=seed, **rule)
    dag = dagbag.dags["erp_hourly_sync"]
    for task in dag.tasks:
        task.retry_delay = timedelta(seconds=1)

    for _attempt in range(6):
        dag.test()
        colours = Counter(row["colour"] for row in store.rows("links_by_colour") for _ in range(row["links"]))
        if set(colours) == {"GREEN"}:
            break
    played = {vendor: sandbox.control("GET", f"{vendor}/faults").json() for vendor in ("procore", "acumatica", "quickbooks")}
    for vendor in played:
        sandbox.control("DELETE", f"{vendor}/faults")
    print(f"faults played: {played}; DAG runs under faults: {_attempt + 1}")
    assert all(sum(kinds.values()) >= 3 for kinds in played.values()), played
    assert set().union(*played.values()) == {"429", "500", "drop after commit"}, played
    assert dag.test().state == "success"

    links = [row for integration in store.integrations()
             for row in store.rows("active_links", integration_id=integration["id"])]
    assert links and all(row["colour"] == "GREEN" for row in links)
    documents = {"acumatica": ("Subcontract", "ChangeOrder", "Bill"), "quickbooks": ("PurchaseOrder", "Bill")}
    marks = Counter()
    for vendor, entities in documents.items():
        for entity in entities:
            for document in sandbox.erp_rows(vendor, entity):
                notes = [document.get("Description", {}).get("value") if vendor == "acumatica"
                         else document.get("PrivateNote")]
                notes += [line.get("Description") for line in document.get("Line", [])[1:]]
                marks.update(re.findall(r"PC-\w+-\d+-L\d+", " ".join(filter(None, notes))))
    assert marks and max(marks.values()) == 1, "a document was created twice"
    assert sum(marks.values()) == sum(1 for row in links if row["erp_ref"])


def test_every_task_mapped_over_integrations_is_named_after_its_integration_from_the_start(dagbag):
    """The label comes from the task's own input, which Airflow renders before the task runs, so a task
    that is running or waiting to retry shows the integration's name, not "Map Index 0"."""
    import jinja2

    mapped = [(dag_id, task) for dag_id, dag in dagbag.dags.items() for task in dag.tasks
              if "integration" in getattr(task, "op_kwargs", {}) or task.get_needs_expansion()]
    assert {"sync_quickbooks_online.refresh", "import_payments_onprem", "send"} <= {task.task_id for _, task in mapped}
    for dag_id, task in mapped:
        assert task.map_index_template == INTEGRATION_NAME, (dag_id, task.task_id)
    unmapped = SimpleNamespace(op_kwargs={"integration": {"name": "harbor-quickbooks"}})
    assert jinja2.Environment().from_string(INTEGRATION_NAME).render(task=unmapped) == "harbor-quickbooks"


def test_the_daily_summary_follows_the_end_of_the_6_oclock_sync_once_a_day(dagbag):
    """Scheduled on an asset only the scheduled 06:00 UTC hourly run emits, after every integration's sync of
    that run has ended: no run at start-up, no catch-up, no race with the sync it reports on."""
    summary, hourly = dagbag.dags["erp_daily_summary"], dagbag.dags["erp_hourly_sync"]
    assert list(summary.timetable.asset_condition.objects) == [DAILY_SYNC_DONE]
    assert summary.catchup is False
    done = hourly.get_task("daily_sync_done")
    assert [outlet.name for outlet in done.outlets] == [DAILY_SYNC_DONE.name] and done.trigger_rule == "all_done"
    refreshes = {task.task_id for task in hourly.tasks if task.task_id.endswith(".refresh")}
    assert len(refreshes) == 4 and refreshes <= done.upstream_task_ids
    six = datetime(2026, 12, 7, 6, tzinfo=UTC)
    assert starts_daily_summary("scheduled", six)
    assert not starts_daily_summary("scheduled", six + timedelta(hours=1))
    assert not starts_daily_summary("manual", six)  # a person's sync at 06:00 does not send a second summary
