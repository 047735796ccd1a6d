"""The hourly sync of one integration, in two steps: export to the ERP, then refresh from it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from erp_sync.budget import Work
from erp_sync.connectors import erp_adapter, procore_hook
from erp_sync.models import SyncSchedule
from erp_sync.operations import tally_colours
from erp_sync.reconcile.releases import settle_releases_made_in_erp
from erp_sync.reference.reading import read_when_due
from erp_sync.runs import tracked_run
from erp_sync.store import Store, utcnow
from erp_sync.sync.exporter import Exporter
from erp_sync.sync.links import LinkBook
from erp_sync.sync.refresher import refresh_links

EXPORT_JOB = "hourly_export"
REFRESH_JOB = "hourly_refresh"
SCHEDULE_SLACK = timedelta(minutes=15)  # an hourly tick a little early still counts as an hour later


class SyncIncomplete(Exception):
    """Some records met a transient failure; their links say so and a retry finishes them."""


def due_for_sync(store: Store, integration: dict, now: datetime) -> bool:
    """Whether the hourly DAG syncs this integration now: per its schedule (``never``: on demand only),
    or at once while an earlier run left work for a later window."""
    hours = SyncSchedule(integration["sync_schedule"]).hours
    if hours is None:
        return False
    last = store.one("last_finished_run", integration_id=integration["id"], job=EXPORT_JOB)
    if last is None or json.loads(last["counts_json"]).get("stopped_for_budget"):
        return True
    return now - last["started_at"] >= timedelta(hours=hours) - SCHEDULE_SLACK


def export_integration(store: Store, integration: dict, airflow_run_id: str | None,
                       clock: Callable[[], datetime] = utcnow) -> dict:
    """Export what is due; a spent budget share ends the run successfully, with what it left for later
    in its counts (``stopped_for_budget``, ``streams_left_for_later``, ``write_backs_left_for_later``)."""
    with tracked_run(store, EXPORT_JOB, integration, airflow_run_id) as run:
        procore, adapter = procore_hook(integration, store, Work.SYNC), erp_adapter(integration, store)
        run.hooks += [procore, adapter.hook]
        book = LinkBook(store, integration["id"], actor=f"{EXPORT_JOB}:{airflow_run_id}", run_id=run.run_id)
        exporter = Exporter(store, integration, procore, adapter, book, run.counts, clock)
        exporter.run()
        if not exporter.stopped:
            read_when_due(store, integration, procore, adapter, run.counts, f"{EXPORT_JOB}:{airflow_run_id}", clock(),
                          exporter.project_list)
        note_budget(run.counts, procore.meter.window())
        if exporter.deferred:
            raise SyncIncomplete(f"{len(exporter.deferred)} record(s) met a transient failure and wait for the "
                                 f"retry: {'; '.join(exporter.deferred[:5])}")
    return run.summary()


def note_budget(counts: Counter[str], window: dict | None) -> None:
    """What the Procore connection's current rate window holds, for the run's record and log."""
    if window:
        counts.update({"procore_window_limit": window["rate_limit"], "procore_window_sync_calls": window["sync_calls"],
                       "procore_window_on_demand_calls": window["on_demand_calls"],
                       "procore_window_remaining": window["remaining"]})


def refresh_integration(store: Store, integration: dict, airflow_run_id: str | None) -> dict:
    started = utcnow()
    with tracked_run(store, REFRESH_JOB, integration, airflow_run_id) as run:
        adapter = erp_adapter(integration, store)
        run.hooks.append(adapter.hook)
        book = LinkBook(store, integration["id"], actor=f"{REFRESH_JOB}:{airflow_run_id}", run_id=run.run_id)
        refresh_links(store, integration["id"], adapter, book, run.counts)
        settle_releases_made_in_erp(store, integration["id"], adapter.name, book, run.counts)
        tally_colours(store, integration["id"])
    spellings = store.request_names().get(integration["name"], [])
    with store.transaction() as tx:  # unlink requests that waited for a sync (Sage 300 CRE) may now be decided
        tx.execute("release_requests_waiting_for_sync", synced_from=started, names=spellings)
    return run.summary()
