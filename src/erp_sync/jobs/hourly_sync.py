"""The hourly sync of one integration, in two steps: export to the ERP, then refresh from it."""

from __future__ import annotations

from erp_sync.connectors import erp_adapter, procore_hook
from erp_sync.models import ExportMode
from erp_sync.operations import tally_colours
from erp_sync.runs import tracked_run
from erp_sync.store import Store, utcnow
from erp_sync.sync.exporter import Exporter
from erp_sync.sync.links import LinkBook
from erp_sync.sync.refresher import refresh_links

EXPORT_JOB = "hourly_export"
REFRESH_JOB = "hourly_refresh"


class SyncIncomplete(Exception):
    """Some records met a transient failure; their links say so and a retry finishes them."""


def export_integration(store: Store, integration: dict, airflow_run_id: str | None) -> dict:
    with tracked_run(store, EXPORT_JOB, integration, airflow_run_id) as run:
        procore, adapter = procore_hook(integration), erp_adapter(integration, store)
        run.hooks += [procore, adapter.hook]
        book = LinkBook(store, integration["id"], actor=f"{EXPORT_JOB}:{airflow_run_id}", run_id=run.run_id)
        exporter = Exporter(store, integration["id"], procore, adapter, book, run.counts,
                            acceptance=integration["export_mode"] == ExportMode.ACCEPTANCE)
        exporter.run()
        if exporter.deferred:
            raise SyncIncomplete(f"{len(exporter.deferred)} record(s) met a transient failure and wait for the "
                                 f"retry: {'; '.join(exporter.deferred[:5])}")
    return run.summary()


def refresh_integration(store: Store, integration: dict, airflow_run_id: str | None) -> dict:
    started = utcnow()
    with tracked_run(store, REFRESH_JOB, integration, airflow_run_id) as run:
        adapter = erp_adapter(integration, store)
        run.hooks.append(adapter.hook)
        book = LinkBook(store, integration["id"], actor=f"{REFRESH_JOB}:{airflow_run_id}", run_id=run.run_id)
        refresh_links(store, integration["id"], adapter, book, run.counts)
        tally_colours(store, integration["id"])
    with store.transaction() as tx:  # unlink requests that waited for a sync (Sage 300 CRE) may now be decided
        tx.execute("release_requests_waiting_for_sync", integration=integration["name"], synced_from=started)
    return run.summary()
