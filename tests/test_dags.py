"""DAG integrity (imports, conventions, no work at import time) and dag.test() runs on the sandboxes."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

from erp_sync.models import ErpKind, Integration
from erp_sync.store import Store

DAGS = Path(__file__).resolve().parents[1] / "dags"
DAG_FILES = sorted(DAGS.glob("*.py"))


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
        assert dag.schedule is not None or dag.timetable.summary == "None", dag_id
        for task in dag.tasks:
            assert task.retries >= 1 and task.retry_exponential_backoff, (dag_id, task.task_id)


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda path: path.name)
def test_each_dag_file_parses_fast_and_calls_nothing(dag_file, sandbox_server):
    """Parse in a fresh interpreter; the sandbox counts calls, so any I/O at import time would show."""
    before = dict(sandbox_server.control("GET", "procore/calls").json())
    code = ("import time, sys; from airflow.dag_processing.dagbag import DagBag; "
            f"t = time.perf_counter(); bag = DagBag(dag_folder={str(dag_file)!r}); "
            "print(time.perf_counter() - t); sys.exit(1 if bag.import_errors else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(result.stdout.strip().splitlines()[-1]) < 1.0
    assert sandbox_server.control("GET", "procore/calls").json() == before


@pytest.mark.airflow
def test_connection_check_records_each_integration(airflow_db, sandbox, tmp_path, monkeypatch, dagbag):
    store_file = tmp_path / "erp_sync.db"
    monkeypatch.setenv("AIRFLOW_CONN_ERP_SYNC_DB", json.dumps({"conn_type": "sqlite", "host": str(store_file)}))
    store = Store.from_url(f"sqlite:///{store_file}")
    store.upgrade()
    for name, company in (("summit-acumatica", 8089), ("wrong-company", 999)):
        store.save_integration(Integration(name=name, procore_conn_id="procore_test", procore_company_id=company,
                                           erp_kind=ErpKind.ACUMATICA, erp_conn_id="acumatica_test"))

    run = dagbag.dags["erp_connection_check"].test()

    runs = {row["integration"]: row for row in store.rows("recent_runs", limit=10)}
    assert runs["summit-acumatica"]["status"] == "success"
    assert json.loads(runs["summit-acumatica"]["counts_json"]) == {"procore_checked": 1, "procore_projects": 3}
    assert json.loads(runs["summit-acumatica"]["api_calls_json"])["procore"] >= 3
    assert runs["wrong-company"]["status"] == "failed"
    assert "cannot see company 999" in runs["wrong-company"]["error"]
    assert run.state == "failed"  # one integration's failure shows, the other's success still lands
