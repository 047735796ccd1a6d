"""Runs whose process died are closed with the reason, on SQLite and PostgreSQL: a run killed with
kill -9 when the next run of its job and integration starts; a run silent on another machine when the
runs are listed; a run that is alive is never touched."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta

import sqlalchemy as sa

from erp_sync import runs
from erp_sync.__main__ import main
from erp_sync.models import ErpKind, Integration
from erp_sync.runs import tracked_run
from erp_sync.store import Store, utcnow

ACME = Integration(name="acme-acumatica", procore_conn_id="procore_default", procore_company_id=42,
                   erp_kind=ErpKind.ACUMATICA, erp_conn_id="acumatica_default")

# A run that starts, says so, and works until it is killed.
WORKER = """
import sys, time
from erp_sync.runs import tracked_run
from erp_sync.store import Store

with tracked_run(Store.from_url(sys.argv[1]), "hourly_export", {"id": int(sys.argv[2]), "name": "acme-acumatica"},
                 "scheduled__killed"):
    print("started", flush=True)
    time.sleep(600)
"""


def store_url(store: Store) -> str:
    """The store's URL for another process, with the test's own PostgreSQL schema."""
    url = store.engine.url
    if url.get_backend_name() == "postgresql":
        with store.engine.connect() as connection:
            schema = connection.execute(sa.text("SELECT current_schema()")).scalar()
        url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def run_rows(store: Store) -> dict[int, dict]:
    return {row["id"]: row for row in store.rows("recent_runs", limit=50)}


def test_a_run_killed_mid_way_is_closed_with_the_reason_when_the_next_run_starts(store):
    integration = {"id": store.save_integration(ACME), "name": ACME.name}
    worker = subprocess.Popen([sys.executable, "-c", WORKER, store_url(store), str(integration["id"])],
                              stdout=subprocess.PIPE, text=True)
    assert worker.stdout.readline().strip() == "started"
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    [killed] = store.rows("running_runs")

    with tracked_run(store, "hourly_refresh", integration, "other-job"):  # another job leaves it alone
        assert run_rows(store)[killed["id"]]["status"] == "running"
    with tracked_run(store, "hourly_export", integration, "scheduled__next") as next_run:
        pass

    rows = run_rows(store)
    assert rows[killed["id"]]["status"] == "failed"
    assert rows[killed["id"]]["error"] == (
        f"Its process ({socket.gethostname()}:{worker.pid}) ended without finishing the run (killed or crashed); "
        f"closed when run {next_run.run_id} of the same job started.")
    assert rows[killed["id"]]["finished_at"] is not None
    assert rows[next_run.run_id]["status"] == "success"
    assert store.rows("running_runs") == []


def test_listing_the_runs_closes_a_run_silent_on_another_machine_and_leaves_live_ones(store, capsys):
    integration_id = store.save_integration(ACME)
    silent = store.start_run("unlink_queue", integration_id, "scheduled__1", "worker-7.example:4242")
    live = store.start_run("unlink_queue", integration_id, "scheduled__2", "worker-8.example:4243")
    last_beat = utcnow() - runs.SILENT_FOR - timedelta(minutes=1)
    with store.transaction() as tx:
        tx.execute("run_heartbeat", run_id=silent, now=last_beat)

    assert main(["--db-url", store_url(store), "runs"]) == 0

    listing = capsys.readouterr().out
    rows = run_rows(store)
    assert rows[silent]["status"] == "failed" and rows[live]["status"] == "running"
    assert rows[silent]["error"] == (
        f"No sign of life from its process (worker-7.example:4242) since {last_beat:%Y-%m-%d %H:%M:%S} UTC "
        "(killed, or its machine was lost); closed when the runs were listed.")
    assert "No sign of life from its process (worker-7.example:4242)" in listing


def test_a_working_run_beats_its_heartbeat_and_a_run_that_finishes_keeps_its_own_outcome(store, monkeypatch):
    monkeypatch.setattr(runs, "HEARTBEAT_EVERY", timedelta(seconds=0.05))
    integration = {"id": store.save_integration(ACME), "name": ACME.name}
    with tracked_run(store, "payment_import", integration, "scheduled__1") as run:
        started = store.rows("running_runs")[0]
        time.sleep(0.5)
        beating = store.rows("running_runs")[0]
        with store.transaction() as tx:  # declared dead by mistake while it works: its own end still wins
            tx.execute("close_dead_run", run_id=run.run_id, error="taken for dead", finished_at=utcnow())
    assert beating["heartbeat_at"] > started["heartbeat_at"]
    assert run_rows(store)[run.run_id]["status"] == "success"
