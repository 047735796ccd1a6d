"""One integration's reconciliation as a tracked run (``sync_runs`` job ``reconcile``): no vendor calls."""

from __future__ import annotations

from erp_sync.models import integration_name
from erp_sync.reconcile.compute import Books, reconcile
from erp_sync.reconcile.history import save
from erp_sync.runs import tracked_run
from erp_sync.store import Store, utcnow
from erp_sync.unlink import no_such_integration

JOB = "reconcile"


def reconcile_integration(store: Store, integration: dict, airflow_run_id: str | None = None) -> dict:
    with tracked_run(store, JOB, integration, airflow_run_id) as run:
        results = reconcile(Books.load(store, integration))
        saved = save(store, integration["id"], results, utcnow())
        run.counts.update({"commitments": len(results), "differing": sum(r.differs for r in results),
                           "differences_opened": saved.opened, "differences_closed": saved.closed})
    return run.summary()


def chosen_integrations(store: Store, synced: set[str | None], asked: str | None) -> list[dict]:
    """After hourly syncs, the integrations whose sync just succeeded; on demand, the one asked for (blank: all).
    LookupError names an integration that is not there."""
    integrations = store.integrations()
    if synced:
        return [row for row in integrations if row["name"] in synced]
    wanted = integration_name(asked)
    chosen = [row for row in integrations if not wanted or row["name"] == wanted]
    if not chosen:
        raise LookupError(no_such_integration(wanted))
    return chosen
