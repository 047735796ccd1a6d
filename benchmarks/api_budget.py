"""API-budget benchmark: 1,000 projects synced within a share of Procore's rate window, with the sandbox's
"hour" scaled down, at budgets of 600 and 3,600 calls a window. Prints the windows to a complete first
sync, the calls of quiet windows, the largest share of any window the sync used, the longest a changed
record waited to be exported, and how long an unlink filed during the first sync waited for its answer.

    make benchmark
    .venv/bin/python benchmarks/api_budget.py --budget 600 --scale 0.1

Each budget runs with its own scaled hour (long enough for a window's calls on two shared cores); the
sync's clock runs at the same scale, so "6 hours" of staleness are six scaled windows. The spike window
is scaled with the hour (set to the budget, i.e. out of the way), and the sync runs every scaled hour.
After the first sync, 10 % of the projects change each hour (75 of a busy 100, 25 of the other 900,
one approved record each) for three hours; quiet hours follow until every change is exported and no
stream is still active (changed in the last 6 hours): the windows from then on are the quiet ones.
"""

from __future__ import annotations

import argparse
import os
import random
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from common import Sandboxes, connect, new_store, seed  # noqa: E402
from erp_connectors.procore import ProcoreHook  # noqa: E402
from erp_sync.identity import ProcoreAccounts  # noqa: E402
from erp_sync.jobs.hourly_sync import export_integration  # noqa: E402
from erp_sync.jobs.unlink_queue import drain_integration  # noqa: E402
from erp_sync.models import ErpKind, Integration  # noqa: E402
from erp_sync.store import Store, utcnow  # noqa: E402
from erp_sync.sync.reading import ACTIVE_FOR  # noqa: E402
from erp_sync.unlink import file_request  # noqa: E402
from sandbox.procore import sign_in  # noqa: E402
from sandbox.procore_data import DEMO_REDIRECT_URIS, SIGN_INS  # noqa: E402

SIZES = {"projects": 1000, "commitments_per_project": 1, "change_orders_per_project": 1, "invoices_per_project": 1}
SETTINGS = {600: {"hour_seconds": 15.0, "staleness": 12}, 3600: {"hour_seconds": 45.0, "staleness": 6}}
CHANGE_HOURS = 3
APPROVED = {"Approved", "approved", "approved_as_noted"}
BUSY_PROJECTS, CHANGES_PER_HOUR = 100, 100
ACCOUNTANT, ACCOUNTANT_LOGIN = "accountant", "avery.admin@summit.example"  # files the unlink as themselves


class ScaledClock:
    """The sync's clock: one scaled hour of real seconds is an hour."""

    def __init__(self, hour_seconds: float):
        self.origin, self.factor = utcnow(), 3600 / hour_seconds

    def __call__(self) -> datetime:
        return self.origin + (utcnow() - self.origin) * self.factor


class Hours:
    """Runs the sync at each scaled hour's tick, as the hourly DAG would (a run that overruns skips ticks)."""

    def __init__(self, hour_seconds: float):
        self.hour, self.start = hour_seconds, time.monotonic()

    def wait_for_tick(self, store: Store) -> None:
        """The next tick, and the sandbox's window reset (rounded up to a whole second, which a scaled hour
        of seconds feels: without it a run would start in the last second of the previous window)."""
        elapsed = time.monotonic() - self.start
        ticks = -(-elapsed // self.hour)
        time.sleep(max(0.0, self.start + ticks * self.hour - time.monotonic()))
        window = store.one("budget_of_connection", conn_id="procore_bench")
        if window and window["window_reset"]:
            time.sleep(max(0.0, min(self.hour / 2, window["window_reset"] - time.time() + 0.05)))


def run_budget(sandboxes: Sandboxes, budget: int, hour_seconds: float, staleness: int, sizes: dict) -> None:
    records = seed(sandboxes, {**sizes, "companies": 1})
    store, integration = new_store(ErpKind.ACUMATICA)
    sandboxes.control("PUT", "procore/rate_limit", json={"limit": budget, "window_seconds": hour_seconds,
                                                         "spike_limit": budget, "spike_seconds": 10})
    store.save_integration(Integration(**{k: integration[k] for k in ("name", "procore_conn_id", "procore_company_id",
                                                                       "erp_kind", "erp_conn_id")},
                                       max_staleness_hours=staleness))
    integration = store.integrations()[0]
    connect_accountant(store)
    total = sum(len(rows) for rows in records.values())
    print(f"\n## budget {budget} calls a window, {sizes['projects']} projects ({total} records), "
          f"max staleness {staleness} h, sync share 70 %, one hour = {hour_seconds:g} s")
    clock, hours = ScaledClock(hour_seconds), Hours(hour_seconds)
    began = time.monotonic()

    unlink = first_sync(store, integration, clock, hours)
    first_done = time.time()
    changes = Changes(sandboxes, store, integration, records, clock)
    for _ in range(CHANGE_HOURS):
        sync(store, integration, clock, hours)
        changes.exported()
        changes.make(CHANGES_PER_HOUR)
    last_change, quiet_from, runs = time.time(), None, 0
    while runs <= staleness + ACTIVE_FOR.total_seconds() / 3600 + 1:  # a change waits at most the staleness
        sync(store, integration, clock, hours)
        changes.exported()
        runs += 1
        if quiet_from is not None and not changes.pending:
            break
        if quiet_from is None and time.time() - last_change >= ACTIVE_FOR.total_seconds() / 3600 * hour_seconds:
            quiet_from = time.time()  # no change for as long as a change keeps a stream active: quiet
    every = windows(sandboxes)
    first = [w for w in every if w["start"] < first_done]
    quiet = [w for w in every if quiet_from is not None and w["start"] >= quiet_from - 1]
    report(budget, every, len(first), quiet, changes, unlink, staleness, hour_seconds, time.monotonic() - began)


def connect_accountant(store: Store) -> None:
    """The accountant connects their Procore account once, signing in on Procore's page as themselves."""
    with ProcoreHook("procore_bench") as procore:
        authorize_url = procore.authorization_url(DEMO_REDIRECT_URIS[0], "benchmark")
    code = parse_qs(urlsplit(sign_in(authorize_url, ACCOUNTANT_LOGIN, SIGN_INS[ACCOUNTANT_LOGIN])).query)["code"][0]
    ProcoreAccounts(store).connect(ACCOUNTANT, "procore_bench", code, DEMO_REDIRECT_URIS[0])


def first_sync(store: Store, integration: dict, clock: ScaledClock, hours: Hours) -> dict:
    """Runs until every project-stream has been read once; an unlink is filed during the first run after
    a record was synced."""
    unlink = {}
    while True:
        if not unlink and synced_link(store, integration):
            summary, unlink = sync_with_unlink(store, integration, clock, hours)
        else:
            summary = sync(store, integration, clock, hours)
        if first_sync_complete(store, integration, summary):
            return unlink


def sync(store: Store, integration: dict, clock: ScaledClock, hours: Hours) -> dict:
    hours.wait_for_tick(store)
    return export_integration(store, integration, "bench", clock=clock)


def first_sync_complete(store: Store, integration: dict, summary: dict) -> bool:
    """Every project-stream read once and every reference written back (later reads are re-reads)."""
    streams = store.rows("project_streams_of_integration", integration_id=integration["id"])
    read = sum(row["read_at"] is not None for row in streams)
    return read == 4 * summary["counts"]["projects"] and not summary["counts"].get("write_backs_left_for_later")


def synced_link(store: Store, integration: dict) -> dict | None:
    return next((row for row in store.rows("active_links", integration_id=integration["id"])
                 if row["state"] == "synced"), None)


def sync_with_unlink(store: Store, integration: dict, clock: ScaledClock, hours: Hours) -> tuple[dict, dict]:
    """An accountant files an unlink request while the sync is under way; the queue answers it at once."""
    hours.wait_for_tick(store)
    link = synced_link(store, integration)
    result = {}
    worker = threading.Thread(target=lambda: result.update(export_integration(store, integration, "bench",
                                                                              clock=clock)))
    worker.start()
    time.sleep(hours.hour / 4)  # the sync is a quarter of the way into its window
    filed = time.monotonic()
    request_id = file_request(store, {"integration": integration["name"], "record_type": link["record_type"],
                                      "procore_id": link["procore_id"]}, ACCOUNTANT)
    drained = drain_integration(store, integration, "unlink")
    waited = time.monotonic() - filed
    sync_running = worker.is_alive()
    worker.join()
    answer = store.one("unlink_request", id=request_id)
    return result, {"seconds": waited, "filed_at": time.time() - (time.monotonic() - filed),
                    "procore_calls": drained["api_calls"].get("procore", 0) - 1,  # the sign-in is outside the budget
                    "sync_running": sync_running, "answer": f"{answer['colour']} {answer['message']}"}


class Changes:
    """Edits approved records in Procore as project teams would, and sees when each was exported."""

    def __init__(self, sandboxes: Sandboxes, store: Store, integration: dict, records: dict, clock: ScaledClock):
        self.sandboxes, self.store, self.integration, self.clock = sandboxes, store, integration, clock
        self.rng = random.Random(18)
        self.by_project: dict[int, list[tuple[str, dict]]] = defaultdict(list)
        for table, rows in records.items():
            for row in rows:
                if row["status"] in APPROVED:
                    self.by_project[row.get("project_id") or row["project"]["id"]].append((table, row))
        self.projects = sorted(self.by_project)
        self.pending: dict[int, tuple[datetime, datetime]] = {}  # record id: (changed at by the clock, updated_at)
        self.waits: list[timedelta] = []

    def make(self, count: int) -> None:
        busy = self.projects[:BUSY_PROJECTS]
        chosen = self.rng.sample(busy, count * 3 // 4) + self.rng.sample(self.projects[BUSY_PROJECTS:], count // 4)
        for project in chosen:
            table, row = self.rng.choice(self.by_project[project])
            field = "invoice_number" if table == "requisitions" else "title"
            value = f"{row.get(field) or 'changed'} r{self.rng.randrange(10**6)}"[:90]
            edited = self.sandboxes.control("PATCH", f"procore/{table}/{row['id']}", json={field: value}).json()
            updated_at = datetime.fromisoformat(edited["updated_at"].replace("Z", "+00:00"))
            self.pending[row["id"]] = (self.clock(), updated_at)

    def exported(self) -> None:
        seen = {row["procore_id"]: row["procore_updated_at"]
                for row in self.store.rows("active_links", integration_id=self.integration["id"])}
        now = self.clock()
        for record_id, (changed, updated_at) in list(self.pending.items()):
            if seen.get(record_id) and seen[record_id] >= updated_at:
                self.waits.append(now - changed)
                del self.pending[record_id]


def windows(sandboxes: Sandboxes) -> list[dict]:
    return sandboxes.control("GET", "procore/rate_limit").json()["windows"]


def report(budget: int, every: list[dict], first_windows: int, quiet: list[dict],
           changes: Changes, unlink: dict, staleness: int, hour_seconds: float, wall: float) -> None:
    share = 0.7 * budget
    sync_calls = [w["calls"] - (unlink["procore_calls"] if w["start"] <= unlink["filed_at"] < w["start"] + hour_seconds
                                else 0) for w in every]
    largest = max(sync_calls)
    print(f"- first sync complete after {first_windows} windows")
    quiet_calls = [w["calls"] for w in quiet]
    if quiet_calls:
        print(f"- quiet windows (no change for 6 hours): {len(quiet_calls)}, calls {min(quiet_calls)} to "
              f"{max(quiet_calls)} (mean {sum(quiet_calls) / len(quiet_calls):.0f}), at most "
              f"{max(quiet_calls) / budget:.0%} of {budget}")
    print(f"- largest share of a window the sync used: {largest} calls = {largest / budget:.1%} "
          f"(its share: {share:.0f} = 70 %) over {len(every)} windows")
    if changes.waits:
        longest = max(changes.waits)
        mean = sum(changes.waits, timedelta()) / len(changes.waits)
        print(f"- changes exported: {len(changes.waits)}, longest wait {longest.total_seconds() / 3600:.1f} h, "
              f"mean {mean.total_seconds() / 3600:.1f} h (max staleness {staleness} h); "
              f"still waiting at the end: {len(changes.pending)}")
    scaled = unlink["seconds"] * 3600 / hour_seconds / 60
    print(f"- unlink filed during the first sync: answered after {unlink['seconds']:.2f} s = {scaled:.1f} scaled "
          f"minutes, with {unlink['procore_calls']} Procore calls from the on-demand reserve "
          f"({'while the sync was still running' if unlink['sync_running'] else 'the sync had stopped'}): "
          f"{unlink['answer']}")
    print(f"- benchmark wall time at this budget: {wall:.0f} s")



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, choices=sorted(SETTINGS), action="append")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the 1,000 projects")
    args = parser.parse_args()
    sizes = dict(SIZES, projects=max(BUSY_PROJECTS + CHANGES_PER_HOUR, round(SIZES["projects"] * args.scale)))
    sandboxes = Sandboxes()
    connect(sandboxes)
    try:
        for budget in args.budget or sorted(SETTINGS):
            run_budget(sandboxes, budget, SETTINGS[budget]["hour_seconds"], SETTINGS[budget]["staleness"], sizes)
    finally:
        sandboxes.stop()


if __name__ == "__main__":
    main()
