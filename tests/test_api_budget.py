"""The sync lives within its share of Procore's rate window: it stops and resumes without loss or
duplicates, on-demand work keeps its reserve, and a 429 from a small budget stops it without failing."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from collections import Counter

import pytest

from erp_connectors.base import BudgetSpent
from erp_connectors.procore import ProcoreHook
from erp_sync.budget import Work
from erp_sync.connectors import procore_hook
from erp_sync.jobs.hourly_sync import EXPORT_JOB, due_for_sync, export_integration
from erp_sync.models import ErpKind, ExportMode, Integration
from erp_sync.store import utcnow
from erp_sync.sync.reading import ReadingPlan, Resume
from sandbox.procore_data import DEMO_COMPANY_ID
from seed_links import link_sandbox_references

TABLES = ("work_order_contracts", "purchase_order_contracts", "commitment_change_orders", "requisitions")
APPROVED = {"Approved", "approved", "approved_as_noted"}
LIMIT, SHARE = 40, 0.7


@pytest.fixture
def integration(sandbox, store) -> dict:
    store.save_integration(Integration(name="summit", procore_conn_id="procore_test",
                                       procore_company_id=DEMO_COMPANY_ID, erp_kind=ErpKind.ACUMATICA,
                                       erp_conn_id="acumatica_test", export_mode=ExportMode.DIRECT))
    link_sandbox_references(store, sandbox)
    return store.integrations()[0]


def small_window(sandbox, seconds: float = 3) -> None:
    sandbox.control("PUT", "procore/rate_limit", json={"limit": LIMIT, "window_seconds": seconds})


def wait_for_next_window(store) -> None:
    reset = store.one("budget_of_connection", conn_id="procore_test")["window_reset"]
    time.sleep(max(0.0, reset - time.time()) + 0.05)


def test_a_spent_share_stops_and_resumes_without_loss_or_duplicates(sandbox, store, integration, monkeypatch):
    sandbox.reset(projects=4, commitments_per_project=4, change_orders_per_project=2, invoices_per_project=9,
                  companies=1)
    monkeypatch.setattr(ProcoreHook, "per_page", 2)  # several pages per stream: stops fall inside streams too
    monkeypatch.setattr("erp_sync.sync.exporter.READ_AHEAD_SHARE", 0)  # each stream read once in this pass
    small_window(sandbox)
    records = {table: sandbox.procore_rows(table) for table in TABLES}
    runs = []
    while not runs or runs[-1]["counts"].get("stopped_for_budget"):
        if runs:
            wait_for_next_window(store)
        runs.append(export_integration(store, integration, f"run-{len(runs)}"))
        window = store.one("budget_of_connection", conn_id="procore_test")
        assert window["sync_calls"] <= SHARE * LIMIT and window["remaining"] >= (1 - SHARE) * LIMIT - 1
        assert len(runs) < 20

    assert len(runs) >= 2 and any(run["counts"].get("streams_left_for_later") for run in runs)
    reads = sum((Counter({k: v for k, v in run["counts"].items() if k.startswith("read_")}) for run in runs), Counter())
    assert sum(reads.values()) == sum(len(rows) for rows in records.values())  # each record handled once
    links = store.rows("active_links", integration_id=integration["id"])
    approved = {row["id"] for rows in records.values() for row in rows if row["status"] in APPROVED}
    assert {row["procore_id"] for row in links if row["state"] == "synced"} == approved
    erp_documents = sum(len(sandbox.erp_rows("acumatica", entity)) for entity in ("Subcontract", "ChangeOrder", "Bill"))
    assert erp_documents == len(approved)  # nothing created twice
    for table in TABLES:
        for row in sandbox.procore_rows(table):
            assert (row["origin_id"] is not None) == (row["id"] in approved)


def test_on_demand_work_gets_its_reserve_after_the_sync_spent_its_share(sandbox, store, integration):
    sandbox.reset(projects=5, commitments_per_project=4, change_orders_per_project=2, invoices_per_project=4)
    small_window(sandbox, seconds=120)
    stopped = export_integration(store, integration, "sync")
    assert stopped["counts"]["stopped_for_budget"] == 1

    with procore_hook(integration, store, Work.SYNC) as sync, pytest.raises(BudgetSpent, match="share"):
        sync.projects()
    started = time.monotonic()
    with procore_hook(integration, store, Work.ON_DEMAND) as on_demand:
        project = on_demand.projects()[0]["id"]
        assert on_demand.unlink_permissions(101, project).missing() == []
        assert on_demand.payment_sync_refusal(101) is None
    assert time.monotonic() - started < 5  # answered at once, in the same window, without waiting for it
    window = store.one("budget_of_connection", conn_id="procore_test")
    assert window["sync_calls"] <= SHARE * LIMIT < window["sync_calls"] + window["on_demand_calls"]
    assert window["on_demand_calls"] >= 5


def test_a_429_from_an_unexpectedly_small_budget_stops_the_sync_without_failing(sandbox, store, integration):
    sandbox.control("PUT", "procore/rate_limit", json={"limit": 6, "window_seconds": 120})
    with ProcoreHook("procore_test", DEMO_COMPANY_ID) as elsewhere:  # another process, not counting with us
        for _ in range(6):
            elsewhere.get("me")
    started = time.monotonic()
    summary = export_integration(store, integration, "sync")
    assert time.monotonic() - started < 5  # stopped, never slept through the window
    assert summary["counts"]["stopped_for_budget"] == 1
    assert summary["api_calls"]["procore"] == 2  # the token and the one call refused with 429: no retry
    run = store.one("last_finished_run", integration_id=integration["id"], job=EXPORT_JOB)
    assert run["status"] == "success"
    assert due_for_sync(store, integration, utcnow())  # the next hourly tick resumes it
    assert store.one("budget_of_connection", conn_id="procore_test")["remaining"] == 0


def test_an_integration_is_synced_per_its_schedule(sandbox, store, integration):
    export_integration(store, integration, "sync")
    now = utcnow()
    assert not due_for_sync(store, integration, now)
    assert due_for_sync(store, integration, now + timedelta(hours=1))
    assert not due_for_sync(store, integration | {"sync_schedule": "never"}, now)
    with pytest.raises(ValueError, match="at least 24"):
        Integration(name="x", procore_conn_id="p", procore_company_id=1, erp_kind=ErpKind.ACUMATICA,
                    erp_conn_id="e", sync_schedule="daily", max_staleness_hours=6)


def test_idle_streams_are_read_round_robin_within_the_staleness_and_changed_ones_every_run(
        sandbox, store, integration, monkeypatch):
    monkeypatch.setattr("erp_sync.sync.exporter.READ_AHEAD_SHARE", 0)  # only what is due
    start = utcnow()

    def run_at(hours: int) -> Counter:
        return Counter(export_integration(store, integration, f"h{hours}", clock=lambda: start + timedelta(hours=hours))
                       ["counts"])

    def read_at(project_id: int) -> datetime:
        rows = store.rows("project_streams_of_integration", integration_id=integration["id"])
        return next(row["read_at"] for row in rows
                    if row["project_id"] == project_id and row["stream"] == "requisitions")

    first = run_at(0)
    streams = 4 * first["projects"]
    assert first["streams_due"] == first["streams_read"] == streams
    invoice = next(row for row in store.rows("active_links", integration_id=integration["id"])
                   if row["record_type"] == "subcontractor_invoice")
    time.sleep(1)  # Procore's times have whole seconds: an edit in the second of our write-back would look like it
    sandbox.control("PATCH", f"procore/requisitions/{invoice['procore_id']}", json={"invoice_number": "INV-EDITED"})

    # idle streams are read again within 5 hours (max staleness 6 h, hourly runs), a fifth of them each hour
    pace, caught = -(-streams // 5), None
    for hour in range(1, 6):
        counts = run_at(hour)
        assert pace <= counts["streams_due"] <= pace + 1  # and, once the edit was seen, the stream it changed
        if counts["updated_subcontractor_invoice"] and caught is None:
            caught = hour
            assert read_at(invoice["procore_project_id"]) == start + timedelta(hours=hour)
        elif caught is not None:  # a stream that changed is read every run for a while
            assert read_at(invoice["procore_project_id"]) == start + timedelta(hours=hour)
    assert caught is not None
    rows = store.rows("project_streams_of_integration", integration_id=integration["id"])
    assert len(rows) == streams and all(row["read_at"] > start for row in rows)


def test_under_a_tight_budget_idle_streams_are_read_within_their_staleness_while_changed_ones_compete(store):
    """Ten projects (40 streams), max staleness 6 h, room for 10 reads a run: a pass over every stream
    every 5 runs needs 8, while the 20 streams of five busy projects change every hour and would fill
    every run. Each idle stream is still read within 5 runs of its last read, so a change waits at most
    the staleness; the busy streams get what the deadlines leave."""
    store.save_integration(Integration(name="tight", procore_conn_id="procore_test", procore_company_id=1,
                                       erp_kind=ErpKind.ACUMATICA, erp_conn_id="acumatica_test",
                                       max_staleness_hours=6))
    integration = store.integrations()[0]
    projects, busy, capacity = list(range(1, 11)), set(range(1, 6)), 10
    start = utcnow()
    reads: dict[tuple[int, str], list[int]] = {}
    for hour in range(30):
        now = start + timedelta(hours=hour)
        plan = ReadingPlan(store, integration, now)
        due, _ahead = plan.due(projects)
        for state in due[:capacity]:
            plan.finished(state, Resume(since=None, until=now.isoformat(), started=now.isoformat()),
                          changed=state.project_id in busy)
            reads.setdefault((state.project_id, state.stream.name), []).append(hour)

    assert len(reads) == 4 * len(projects)
    for (project_id, _stream), hours in reads.items():
        gaps = [later - earlier for earlier, later in zip(hours, hours[1:]) if earlier >= 4]  # past the first pass
        assert gaps and max(gaps) <= 5, (project_id, hours)  # idle interval: staleness 6 h less one run
    busy_reads = sum(len(hours) for (project_id, _), hours in reads.items() if project_id in busy)
    idle_reads = sum(len(hours) for (project_id, _), hours in reads.items() if project_id not in busy)
    assert busy_reads > idle_reads  # changed streams still get the budget the deadlines leave


def test_a_budget_too_small_for_the_staleness_says_which_staleness_it_can_keep(sandbox, store, integration, caplog):
    sandbox.reset(projects=4, commitments_per_project=1, change_orders_per_project=1, invoices_per_project=1)
    sandbox.control("PUT", "procore/rate_limit", json={"limit": 6, "window_seconds": 3})
    with caplog.at_level("WARNING", logger="erp_sync.sync.exporter"):
        counts = export_integration(store, integration, "sync")["counts"]
    # 16 project-streams; the share is 4 calls, one lists the projects: 3 reads an hour, a pass in 6 h
    assert counts["feasible_staleness_hours"] == 6 + 1 > integration["max_staleness_hours"]
    warnings = [record.getMessage() for record in caplog.records if "cannot keep" in record.getMessage()]
    assert len(warnings) == 1
    assert "16 project-streams within the 6 h staleness" in warnings[0]
    assert "the staleness this budget can keep is 7 h" in warnings[0]

    store.save_integration(Integration(**{key: integration[key] for key in (
        "name", "procore_conn_id", "procore_company_id", "erp_kind", "erp_conn_id")}, max_staleness_hours=7))
    wait_for_next_window(store)
    counts = export_integration(store, store.integrations()[0], "sync")["counts"]
    assert counts["projects"] == 4 and "feasible_staleness_hours" not in counts  # 7 h is within reach: no word
