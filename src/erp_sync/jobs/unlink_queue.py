"""The unlink queue: claim pending requests one at a time, decide each, write the outcome back."""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from erp_sync.connectors import erp_adapter, procore_hook
from erp_sync.runs import tracked_run
from erp_sync.store import Store, audit, utcnow
from erp_sync.unlink import WAITING, Outcome, Unlinker, no_such_integration, rejected, shown

log = logging.getLogger(__name__)
JOB = "unlink_queue"
STALE_CLAIM = timedelta(minutes=10)  # a claim this old belongs to a worker that died: take it over
MAX_ATTEMPTS = 5


def worker_name(run_id: str | None) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{run_id}"


def claim(store: Store, worker: str, integration: str | None) -> dict | None:
    """The oldest pending request of an integration (or, with None, of no enabled integration), now ours."""
    now = utcnow()
    with store.transaction() as tx:
        return tx.one("claim_unlink_request", worker=worker, now=now, stale_before=now - STALE_CLAIM,
                      integration=integration, orphans=integration is None)


def finish(store: Store, request: dict, outcome: Outcome, worker: str, run_id: str | None, actor: str) -> None:
    """Write the outcome; a request waiting for a sync is set aside until a sync releases it."""
    query = "wait_unlink_request" if outcome.status == WAITING else "finish_unlink_request"
    with store.transaction() as tx:
        tx.execute(query, id=request["id"], worker=worker, status=outcome.status,
                   colour=outcome.colour.value, message=outcome.message, now=utcnow(), run_id=run_id)
        audit(tx, "unlink_request", request["id"], outcome.status, actor=actor, old_state=request["status"],
              new_state=outcome.status, detail={"colour": outcome.colour.value, "message": outcome.message})


def integrations_with_requests(store: Store) -> list[dict]:
    waiting = {row["integration"] for row in store.rows("integrations_with_unlink_requests",
                                                        stale_before=utcnow() - STALE_CLAIM)}
    return [integration for integration in store.integrations() if integration["name"] in waiting]


def reject_unknown_integrations(store: Store, run_id: str | None) -> int:
    """Requests naming no enabled integration are answered at once; nothing else changes."""
    worker, rejected_count = worker_name(run_id), 0
    while (request := claim(store, worker, None)) is not None:
        message = no_such_integration(request["integration"])
        finish(store, request, rejected(message), worker, run_id, actor=f"{JOB}:{run_id}")
        rejected_count += 1
    return rejected_count


def drain_integration(store: Store, integration: dict, run_id: str | None) -> dict:
    worker, actor = worker_name(run_id), f"{JOB}:{run_id}"
    with tracked_run(store, JOB, integration, run_id) as run:
        procore, adapter = procore_hook(integration), erp_adapter(integration, store)
        run.hooks += [procore, adapter.hook]
        unlinker = Unlinker(store, integration, procore, adapter, actor)
        while (request := claim(store, worker, integration["name"])) is not None:
            try:
                outcome = unlinker.process(request)
            except Exception as error:
                if request["attempts"] >= MAX_ATTEMPTS:
                    outcome = rejected(f"Processing failed {request['attempts']} times ({shown(error, 200)}); "
                                       "an engineer should look at the run logs.")
                else:
                    _release(store, request, worker, f"Processing failed ({shown(error, 200)}); the next run retries.")
                    raise
            finish(store, request, outcome, worker, run_id, actor)
            run.counts[outcome.status] += 1
            log.info("Unlink request %s for %s: %s %s", request["id"], integration["name"], outcome.colour.value,
                     outcome.message)
    return run.summary()


def _release(store: Store, request: dict, worker: str, message: str) -> None:
    with store.transaction() as tx:
        tx.execute("release_unlink_request", id=request["id"], worker=worker, message=message)
