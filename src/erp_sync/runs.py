"""A job's run for one integration: recorded in the store with its counts and API calls.

A run names the process that runs it and beats a heartbeat while it works, so that a run whose
process died (kill -9, a lost machine) is closed as such, with the reason, when the next run of the
same job and integration starts or when the runs are listed, instead of showing "running" forever.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from erp_connectors.base import VendorHook
from erp_connectors.sage_sql import SageSqlHook
from erp_sync.store import Store, utcnow

log = logging.getLogger(__name__)
HEARTBEAT_EVERY = timedelta(seconds=30)
SILENT_FOR = timedelta(minutes=5)  # a run without a heartbeat for this long has lost its process
NEW_RED = "new_red"  # in a run's counts: links this run turned RED (and, per reason, new_red_<reason>)


def red_reasons(counts: dict[str, int]) -> str:
    """``new_red_vendor_unmapped: 2`` in a run's counts, as "vendor unmapped (2)"."""
    reasons = Counter({key.removeprefix(f"{NEW_RED}_"): value for key, value in counts.items()
                       if key.startswith(f"{NEW_RED}_")})
    return ", ".join(f"{reason.replace('_', ' ')} ({count})" for reason, count in reasons.most_common())


@dataclass
class TrackedRun:
    run_id: int
    job: str
    integration: str
    counts: Counter[str] = field(default_factory=Counter)
    hooks: list[VendorHook | SageSqlHook] = field(default_factory=list)

    def api_calls(self) -> dict[str, int]:
        calls: Counter[str] = Counter()
        for hook in self.hooks:
            calls[hook.vendor] += hook.total_calls
        return dict(calls)

    def rate_limits(self) -> dict[str, int]:
        """The hourly budget each vendor reported (Procore's X-Rate-Limit-Limit), for the operations chart."""
        return {hook.vendor: hook.rate_limit for hook in self.hooks if getattr(hook, "rate_limit", None)}

    def note_sql_reads(self) -> None:
        """Rows read, files written and unreadable rows of the SQL-reached ERPs go into the counts."""
        for hook in self.hooks:
            for name in ("rows_read", "files_written"):
                if getattr(hook, name, 0):
                    self.counts[f"{hook.vendor}_{name}"] = getattr(hook, name)
            for bad in getattr(hook, "bad_rows", []):
                self.counts[f"{hook.vendor}_bad_rows"] += 1
                log.warning("%s: %s row %s cannot be read: %s", self.integration, bad.table, bad.key, bad.reason)

    def summary(self) -> dict:
        summary = {"integration": self.integration, "job": self.job, "counts": dict(self.counts),
                   "api_calls": self.api_calls()}
        if self.counts[NEW_RED]:
            summary["new_red"] = f"{self.counts[NEW_RED]} new RED link(s): {red_reasons(self.counts)}"
        bad_rows = [f"{bad.table} {bad.key}: {bad.reason}" for hook in self.hooks for bad in getattr(hook, "bad_rows", [])]
        return summary | ({"bad_rows": bad_rows} if bad_rows else {})


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def close_dead_runs(store: Store, closed_when: str, job: str | None = None,
                    integration_id: int | None = None) -> int:
    """Close as failed, with the reason, the runs marked running whose process is gone (of one job and
    integration, or of all). Returns how many were closed."""
    now, closed = utcnow(), 0
    for run in store.rows("running_runs"):
        if job is not None and (run["job"], run["integration_id"]) != (job, integration_id):
            continue
        reason = why_dead(run, now)
        if reason is not None:
            with store.transaction() as tx:
                closed += tx.execute("close_dead_run", run_id=run["id"], error=f"{reason}; closed when {closed_when}.",
                                     finished_at=now).rowcount
            log.warning("Run %s (%s) closed: %s", run["id"], run["job"], reason)
    return closed


def why_dead(run: dict, now: datetime) -> str | None:
    """Why the run's process is known to be gone: it ran here and no longer exists, or it has been
    silent too long (it ran elsewhere). None while it may still be working."""
    worker = run["worker"] or "unknown"
    host, _, pid = worker.rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and not _process_exists(int(pid)):
        return f"Its process ({worker}) ended without finishing the run (killed or crashed)"
    last_sign = run["heartbeat_at"] or run["started_at"]
    if last_sign < now - SILENT_FOR:
        return (f"No sign of life from its process ({worker}) since {last_sign:%Y-%m-%d %H:%M:%S} UTC "
                "(killed, or its machine was lost)")
    return None


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class Heartbeat(threading.Thread):
    """Marks the run alive every HEARTBEAT_EVERY until stopped; a missed beat is only logged."""

    def __init__(self, store: Store, run_id: int):
        super().__init__(name=f"heartbeat of run {run_id}", daemon=True)
        self.store, self.run_id, self.stopped = store, run_id, threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(HEARTBEAT_EVERY.total_seconds()):
            try:
                with self.store.transaction() as tx:
                    tx.execute("run_heartbeat", run_id=self.run_id, now=utcnow())
            except Exception:  # noqa: BLE001 - the run goes on; SILENT_FOR allows for missed beats
                log.warning("Heartbeat of run %s not written", self.run_id, exc_info=True)

    def stop(self) -> None:
        self.stopped.set()
        self.join()
def running_task() -> dict | None:
    """The Airflow task this job runs in (the page links to its log), or None outside a task."""
    from airflow.sdk import get_current_context

    try:
        ti = get_current_context()["ti"]
    except RuntimeError:
        return None
    return {"dag_id": ti.dag_id, "task_id": ti.task_id, "map_index": ti.map_index}


@contextmanager
def tracked_run(store: Store, job: str, integration: dict, airflow_run_id: str | None) -> Iterator[TrackedRun]:
    """Start a run row, hand out its counters, and close it as success or failed with the reason; runs
    of the same job and integration whose process died are closed first."""
    run = TrackedRun(store.start_run(job, integration["id"], airflow_run_id, this_process(), running_task()), job,
                     integration["name"])
    close_dead_runs(store, f"run {run.run_id} of the same job started", job, integration["id"])
    heartbeat = Heartbeat(store, run.run_id)
    heartbeat.start()
    try:
        yield run
        run.note_sql_reads()
    except Exception as error:
        run.note_sql_reads()
        store.finish_run(run.run_id, "failed", run.counts, run.api_calls(), error=f"{type(error).__name__}: {error}",
                         rate_limits=run.rate_limits())
        log.error("%s for %s failed: %s", job, integration["name"], error)
        log.info("%s for %s, until it failed: %s", job, integration["name"], json.dumps(run.summary()))
        raise
    finally:
        heartbeat.stop()
        for hook in run.hooks:
            hook.close()
    store.finish_run(run.run_id, "success", run.counts, run.api_calls(), rate_limits=run.rate_limits())
    log.info("%s for %s: %s", job, integration["name"], json.dumps(run.summary()))
    if run.counts[NEW_RED]:
        log.warning("%s for %s: %s new RED link(s): %s", job, integration["name"], run.counts[NEW_RED],
                    red_reasons(run.counts))
