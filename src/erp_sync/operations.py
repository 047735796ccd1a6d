"""The operator's view of one integration: the recent runs of each job, API calls per vendor per hour
against the vendor's hourly budget, the RED count over time, and where each vendor connection stands."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from erp_sync.connectors import vendors_of
from erp_sync.page import AirflowTask
from erp_sync.store import Store, utcnow

WINDOW = timedelta(hours=24)
MAX_RUNS = 500
RUNS_PER_JOB = 5
# Hourly budgets as the vendors publish them; a budget a vendor reports in its answers (Procore's
# X-Rate-Limit-Limit, kept with each run) wins over these.
PUBLISHED_HOURLY_BUDGETS = {"procore": 3600, "quickbooks": 500 * 60}


def tally_colours(store: Store, integration_id: int) -> None:
    """Keep how many links each colour has now (after a refresh): the RED count over time."""
    with store.transaction() as tx:
        tx.execute("tally_colours", integration_id=integration_id, now=utcnow())


@dataclass(frozen=True)
class JobRun:
    job: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, int]
    api_calls: dict[str, int]
    rate_limits: dict[str, int]
    error: str | None
    task: AirflowTask | None

    @property
    def sentence(self) -> str | None:
        """The error as a person reads it: without the exception class's name its record starts with."""
        name, said, rest = (self.error or "").partition(": ")
        return rest if said and name.isidentifier() and name[:1].isupper() else self.error

    @classmethod
    def from_row(cls, row: dict) -> JobRun:
        return cls(job=row["job"], status=row["status"], started_at=row["started_at"], finished_at=row["finished_at"],
                   counts=json.loads(row["counts_json"] or "{}"), api_calls=json.loads(row["api_calls_json"] or "{}"),
                   rate_limits=json.loads(row["rate_limits_json"] or "{}"), error=row["error"],
                   task=AirflowTask.of_run(row))


@dataclass(frozen=True)
class VendorHours:
    """One vendor's API calls in each of the last hours, and its hourly budget (None: it publishes none)."""

    vendor: str
    hours: list[datetime]
    calls: list[int]
    budget: int | None


@dataclass(frozen=True)
class ConnectionState:
    vendor: str
    last_success: datetime | None
    last_error_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class Operations:
    runs_by_job: dict[str, list[JobRun]]
    api_calls: list[VendorHours]
    red_over_time: list[tuple[datetime, int]]
    connections: list[ConnectionState]


def operations(store: Store, integration: dict, now: datetime | None = None) -> Operations:
    now = now or utcnow()
    since = now - WINDOW
    runs = [JobRun.from_row(row) for row in store.rows("runs_of_integration", integration_id=integration["id"],
                                                       since=since, limit=MAX_RUNS)]
    vendors = vendors_of(integration)
    by_job: dict[str, list[JobRun]] = defaultdict(list)
    for run in runs:
        if len(by_job[run.job]) < RUNS_PER_JOB:
            by_job[run.job].append(run)
    red = [(row["taken_at"], int(row["red"])) for row in store.rows(
        "red_over_time", integration_id=integration["id"], since=since)]
    return Operations(dict(sorted(by_job.items())), [_hourly_calls(runs, vendor, now) for vendor in vendors], red,
                      [_connection_state(runs, vendor) for vendor in vendors])


def latest_run(store: Store, integration: dict, job: str) -> JobRun | None:
    row = store.one("latest_run_of_job", integration_id=integration["id"], job=job)
    return JobRun.from_row(row) if row else None


def _hourly_calls(runs: list[JobRun], vendor: str, now: datetime) -> VendorHours:
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    hours = [this_hour - timedelta(hours=back) for back in range(int(WINDOW / timedelta(hours=1)) - 1, -1, -1)]
    calls: Counter[datetime] = Counter()
    for run in runs:
        calls[run.started_at.replace(minute=0, second=0, microsecond=0)] += run.api_calls.get(vendor, 0)
    reported = [run.rate_limits[vendor] for run in runs if run.rate_limits.get(vendor)]
    budget = reported[0] if reported else PUBLISHED_HOURLY_BUDGETS.get(vendor)
    return VendorHours(vendor, hours, [calls[hour] for hour in hours], budget)


def _connection_state(runs: list[JobRun], vendor: str) -> ConnectionState:
    """Runs are newest first; a run used a vendor when it called it (a failed run, when it names it)."""
    success = next((run for run in runs if run.status == "success" and run.api_calls.get(vendor)), None)
    failure = next((run for run in runs if run.status == "failed"
                    and (run.api_calls.get(vendor) or vendor in (run.error or "").lower())), None)
    return ConnectionState(vendor, success.finished_at if success else None,
                           failure.finished_at if failure else None, failure.error if failure else None)
