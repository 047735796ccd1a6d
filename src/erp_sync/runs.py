"""A job's run for one integration: recorded in the store with its counts and API calls."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from erp_connectors.base import VendorHook
from erp_connectors.sage_sql import SageSqlHook
from erp_sync.store import Store

log = logging.getLogger(__name__)


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
        bad_rows = [f"{bad.table} {bad.key}: {bad.reason}" for hook in self.hooks for bad in getattr(hook, "bad_rows", [])]
        return summary | ({"bad_rows": bad_rows} if bad_rows else {})


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
    """Start a run row, hand out its counters, and close it as success or failed with the reason."""
    run = TrackedRun(store.start_run(job, integration["id"], airflow_run_id, running_task()), job, integration["name"])
    try:
        yield run
        run.note_sql_reads()
    except Exception as error:
        run.note_sql_reads()
        store.finish_run(run.run_id, "failed", run.counts, run.api_calls(), error=f"{type(error).__name__}: {error}",
                         rate_limits=run.rate_limits())
        log.error("%s for %s failed after %s", job, integration["name"], json.dumps(run.summary()))
        raise
    finally:
        for hook in run.hooks:
            hook.close()
    store.finish_run(run.run_id, "success", run.counts, run.api_calls(), rate_limits=run.rate_limits())
    log.info("%s for %s: %s", job, integration["name"], json.dumps(run.summary()))
