"""The sync lives within its share of Procore's rate window: it stops and resumes without loss or
duplicates, on-demand work keeps its reserve, and a 429 from a small budget stops it without failing."""

from __future__ import annotations

import multiprocessing
import threading
import time
from datetime import datetime, timedelta
from collections import Counter

import pytest
import sqlalchemy as sa

from erp_connectors.base import BudgetSpent, RateReading
from erp_connectors.procore import ProcoreHook
from erp_sync.budget import ProcoreBudget, Work
from erp_sync.connectors import procore_hook
from erp_sync.jobs.hourly_sync import EXPORT_JOB, due_for_sync, export_integration
from erp_sync.models import ErpKind, ExportMode, Integration
from erp_sync.store import Store, utcnow
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
    link_sandbox_references(store, sandbox)  # the reset made new projects, cost codes and vendors
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
    link_sandbox_references(store, sandbox)  # the reset made new projects, cost codes and vendors
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
        plan.save()

    assert len(reads) == 4 * len(projects)
    for (project_id, _stream), hours in reads.items():
        gaps = [later - earlier for earlier, later in zip(hours, hours[1:]) if earlier >= 4]  # past the first pass
        assert gaps and max(gaps) <= 5, (project_id, hours)  # idle interval: staleness 6 h less one run
    busy_reads = sum(len(hours) for (project_id, _), hours in reads.items() if project_id in busy)
    idle_reads = sum(len(hours) for (project_id, _), hours in reads.items() if project_id not in busy)
    assert busy_reads > idle_reads  # changed streams still get the budget the deadlines leave


def test_a_budget_too_small_for_the_staleness_says_which_staleness_it_can_keep(sandbox, store, integration, caplog):
    sandbox.reset(projects=4, commitments_per_project=1, change_orders_per_project=1, invoices_per_project=1)
    link_sandbox_references(store, sandbox)  # the reset made new projects, cost codes and vendors
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


# Leases under concurrency: workers (threads, then processes) share one window of a fake Procore ----------

WINDOW, LEASE = 100, 7  # a lease that does not divide the share: the last leases are cut to what is left
SHARE_CALLS, RESERVE = 70, 30  # of WINDOW, at SHARE


class FakeProcore:
    """Procore's rate window as its answers report it: what is left after every call, by anyone."""

    def __init__(self, calls, reset: int):
        self.calls, self.reset = calls, reset  # calls: a multiprocessing.Value, shared by every worker

    def answer(self, status: int = 200) -> RateReading:
        with self.calls.get_lock():
            self.calls.value += 1
            return RateReading(WINDOW, max(0, WINDOW - self.calls.value), self.reset, status)


def open_window(store: Store, reset: int) -> None:
    with store.transaction() as tx:
        tx.execute("start_budget_window", conn_id="procore_test", reset=reset, rate_limit=WINDOW, remaining=WINDOW,
                   sync_calls=0, on_demand_calls=0, now=utcnow())


def spend(store: Store, procore: FakeProcore, work: Work, most: int | None = None) -> int:
    """Calls made until the share is spent (or ``most``), each admitted, answered and observed."""
    meter, made = ProcoreBudget(store, "procore_test", work, SHARE, lease_calls=LEASE), 0
    try:
        while most is None or made < most:
            meter.admit()
            made += 1
            meter.observe(procore.answer())
            time.sleep(0.001)  # the call's time on the wire: other workers take their turn
    except BudgetSpent:
        pass
    finally:
        meter.settle()
    return made


def spend_in_process(store: Store, calls, reset: int, made, start) -> None:
    store.engine.dispose(close=False)  # the parent's pooled connections stay the parent's
    start.wait(timeout=60)  # all begin together, however late the machine started each
    made.put(spend(store, FakeProcore(calls, reset), Work.SYNC))


def run_threads(*jobs) -> None:
    workers = [threading.Thread(target=job) for job in jobs]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)


def test_a_lease_gives_back_what_it_did_not_use(store):
    reset = int(time.time()) + 120
    open_window(store, reset)
    procore = FakeProcore(multiprocessing.Value("i", 0), reset)
    assert spend(store, procore, Work.SYNC, most=3) == 3
    window = store.one("budget_of_connection", conn_id="procore_test")
    assert (window["sync_calls"], window["remaining"]) == (3, WINDOW - 3)  # not the lease of 7


def test_concurrent_threads_spend_exactly_the_share_and_on_demand_work_keeps_its_reserve(store):
    reset = int(time.time()) + 120
    open_window(store, reset)
    procore, synced, on_demand = FakeProcore(multiprocessing.Value("i", 0), reset), [], []
    run_threads(*[lambda: synced.append(spend(store, procore, Work.SYNC)) for _ in range(6)],
                *[lambda: on_demand.append(spend(store, procore, Work.ON_DEMAND, most=10)) for _ in range(2)])
    assert len(synced) == 6 and sum(synced) == SHARE_CALLS  # never more, and none lost to unused leases
    assert on_demand == [10, 10]  # never refused, while the sync spent its share beside it
    window = store.one("budget_of_connection", conn_id="procore_test")
    assert (window["sync_calls"], window["on_demand_calls"]) == (SHARE_CALLS, 20)
    assert window["remaining"] == WINDOW - SHARE_CALLS - 20

    assert spend(store, procore, Work.ON_DEMAND, most=10) == 10  # the reserve is still there after the sync
    assert spend(store, procore, Work.SYNC) == 0


def test_concurrent_processes_never_overspend_the_share(store):
    reset = int(time.time()) + 120
    open_window(store, reset)
    context = multiprocessing.get_context("fork")
    calls, made, start = context.Value("i", 0), context.Queue(), context.Barrier(3)
    workers = [context.Process(target=spend_in_process, args=(store, calls, reset, made, start)) for _ in range(3)]
    for worker in workers:
        worker.start()
    spent = [made.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    assert sum(spent) == calls.value == SHARE_CALLS  # none overspent, none lost to unused leases
    # they really ran side by side; on a loaded machine one of three may find the share already spent
    assert sum(1 for made_calls in spent if made_calls) >= 2
    window = store.one("budget_of_connection", conn_id="procore_test")
    assert window["sync_calls"] == SHARE_CALLS and window["remaining"] == RESERVE


def test_a_429_seen_by_one_worker_stops_the_others_at_their_next_lease(store):
    reset = int(time.time()) + 120
    open_window(store, reset)
    procore = FakeProcore(multiprocessing.Value("i", 0), reset)
    first, second = (ProcoreBudget(store, "procore_test", Work.SYNC, SHARE, lease_calls=LEASE) for _ in range(2))
    first.admit()
    second.admit()
    with pytest.raises(BudgetSpent, match="429"):  # others spent Procore's window: it answers 429 at once
        second.observe(RateReading(WINDOW, 0, reset, 429))
    assert store.one("budget_of_connection", conn_id="procore_test")["remaining"] == 0  # written at once
    for _ in range(LEASE - 1):
        first.admit()  # what its lease holds is spent in memory (Procore answers each with a 429 of its own)
    with pytest.raises(BudgetSpent, match="share of Procore's rate window is spent"):
        first.admit()
    first.settle()
    second.settle()
    assert spend(store, procore, Work.ON_DEMAND, most=3) == 3  # on-demand work goes on (it waits out the 429)


def test_a_lease_ends_with_its_window_and_gives_nothing_back_to_the_next(store):
    reset = int(time.time()) + 1
    open_window(store, reset)
    meter = ProcoreBudget(store, "procore_test", Work.SYNC, SHARE, lease_calls=LEASE)
    meter.admit()
    meter.observe(RateReading(WINDOW, WINDOW - 1, reset, 200))
    time.sleep(max(0.0, reset - time.time()) + 0.05)
    meter.admit()  # the old lease is void: a new one is taken in the new window
    meter.observe(RateReading(WINDOW, WINDOW - 1, reset + 60, 200))
    meter.settle()
    window = store.one("budget_of_connection", conn_id="procore_test")
    assert (window["window_reset"], window["sync_calls"], window["remaining"]) == (reset + 60, 1, WINDOW - 1)
