"""Accept and reject: work through the integration's filed decisions, then export what was accepted."""

from __future__ import annotations

from erp_sync.acceptance import DECISIONS, JOB, Decider
from erp_sync.budget import Work
from erp_sync.connectors import erp_adapter, procore_hook
from erp_sync.jobs.hourly_sync import SyncIncomplete
from erp_sync.jobs.unlink_queue import (
    integrations_with_requests,
    reject_unknown_integrations,
    tidy_typed_requests,
    work_through,
)
from erp_sync.runs import tracked_run
from erp_sync.store import Store
from erp_sync.sync.exporter import Exporter
from erp_sync.sync.links import LinkBook, LinkState


def integrations_to_decide(store: Store, run_id: str | None) -> list[dict]:
    """Integrations with decisions to carry out or accepted records to export; decisions typed with a status
    of their own are tidied, and those naming no enabled integration answered, at once."""
    tidy_typed_requests(store, run_id, DECISIONS)
    reject_unknown_integrations(store, run_id, DECISIONS)
    pending = {row["name"] for row in integrations_with_requests(store, DECISIONS)}
    return [integration for integration in store.integrations()
            if integration["name"] in pending or store.rows("links_in_state", integration_id=integration["id"],
                                                            state=LinkState.ACCEPTED, record_type=None)]


def decide_integration(store: Store, integration: dict, run_id: str | None) -> dict:
    actor = f"{JOB}:{run_id}"
    with tracked_run(store, JOB, integration, run_id) as run:
        procore, adapter = procore_hook(integration, store, Work.ON_DEMAND), erp_adapter(integration, store)
        run.hooks += [procore, adapter.hook]
        decider = Decider(store, integration, procore, LinkBook(store, integration["id"], actor=actor))
        work_through(store, integration, run_id, DECISIONS, decider.process, run.counts, run.hooks)
        exporter = Exporter(store, integration, procore, adapter,
                            LinkBook(store, integration["id"], actor, run_id=run.run_id), run.counts,
                            confirmed=decider.confirmed)  # asked of Procore as they were accepted
        exporter.export_accepted()
        if exporter.deferred:
            raise SyncIncomplete(f"{len(exporter.deferred)} accepted record(s) met a transient failure and wait for "
                                 f"the retry: {'; '.join(exporter.deferred[:5])}")
    return run.summary()
