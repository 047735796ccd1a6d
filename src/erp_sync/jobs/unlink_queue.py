"""The unlink queue: claim pending requests one at a time, decide each, write the outcome back.

The same machinery works through every table people file rows into (``unlink_requests``,
``export_decisions``): a ``RequestQueue`` names its queries, and ``work_through`` claims, decides and
answers its rows one at a time.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from erp_sync.connectors import erp_adapter, procore_hook
from erp_sync.runs import tracked_run
from erp_sync.store import Store, audit, utcnow
from erp_sync.unlink import WAITING, Outcome, Unlinker, rejected, shown

log = logging.getLogger(__name__)
JOB = "unlink_queue"
STALE_CLAIM = timedelta(minutes=10)  # a claim this old belongs to a worker that died: take it over
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class RequestQueue:
    """A table of filed rows and the named queries that claim, answer and release them."""

    entity: str   # as audit_log names its rows
    job: str
    table: str    # the queries are named "{verb}_{table}"

    def query(self, verb: str) -> str:
        return f"{verb}_{self.table}"


UNLINKS = RequestQueue("unlink_request", JOB, "unlink_request")


def worker_name(run_id: str | None) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{run_id}"


def claim(store: Store, worker: str, integration: str | None, queue: RequestQueue = UNLINKS) -> dict | None:
    """The oldest pending row of an integration (or, with None, of no enabled integration), now ours."""
    now = utcnow()
    with store.transaction() as tx:
        return tx.one(queue.query("claim"), worker=worker, now=now, stale_before=now - STALE_CLAIM,
                      integration=integration, orphans=integration is None)


def finish(store: Store, request: dict, outcome: Outcome, worker: str, run_id: str | None, actor: str,
           queue: RequestQueue = UNLINKS) -> None:
    """Write the outcome; a request waiting for a sync is set aside until a sync releases it."""
    query = queue.query("wait" if outcome.status == WAITING else "finish")
    with store.transaction() as tx:
        tx.execute(query, id=request["id"], worker=worker, status=outcome.status,
                   colour=outcome.colour.value, message=outcome.message, now=utcnow(), run_id=run_id)
        audit(tx, queue.entity, request["id"], outcome.status, actor=actor, old_state=request["status"],
              new_state=outcome.status, detail={"colour": outcome.colour.value, "message": outcome.message})


def integrations_with_requests(store: Store, queue: RequestQueue = UNLINKS) -> list[dict]:
    waiting = {row["integration"] for row in store.rows(queue.query("integrations_with_pending"),
                                                        stale_before=utcnow() - STALE_CLAIM)}
    return [integration for integration in store.integrations() if integration["name"] in waiting]


def reject_unknown_integrations(store: Store, run_id: str | None, queue: RequestQueue = UNLINKS) -> int:
    """Rows naming no enabled integration are answered at once; nothing else changes."""
    worker, rejected_count = worker_name(run_id), 0
    while (request := claim(store, worker, None, queue)) is not None:
        name = (request["integration"] or "").strip()
        message = (f"There is no enabled integration named '{shown(name)}'; `python -m erp_sync integrations` "
                   "lists them." if name else "The request names no integration; say which one it is for.")
        finish(store, request, rejected(message), worker, run_id, f"{queue.job}:{run_id}", queue)
        rejected_count += 1
    return rejected_count


def work_through(store: Store, integration: dict, run_id: str | None, queue: RequestQueue,
                 process: Callable[[dict], Outcome], counts: Counter[str]) -> None:
    """Claim, decide and answer the integration's pending rows one at a time. A row whose processing
    failed is released for the next run, until it has failed MAX_ATTEMPTS times."""
    worker, actor = worker_name(run_id), f"{queue.job}:{run_id}"
    while (request := claim(store, worker, integration["name"], queue)) is not None:
        try:
            outcome = process(request)
        except Exception as error:
            if request["attempts"] >= MAX_ATTEMPTS:
                outcome = rejected(f"Processing failed {request['attempts']} times ({shown(error, 200)}); "
                                   "an engineer should look at the run logs.")
            else:
                _release(store, request, worker, f"Processing failed ({shown(error, 200)}); the next run retries.",
                         queue)
                raise
        finish(store, request, outcome, worker, run_id, actor, queue)
        counts[outcome.status] += 1
        log.info("%s %s for %s: %s %s", queue.entity, request["id"], integration["name"], outcome.colour.value,
                 outcome.message)


def drain_integration(store: Store, integration: dict, run_id: str | None) -> dict:
    with tracked_run(store, JOB, integration, run_id) as run:
        procore, adapter = procore_hook(integration), erp_adapter(integration, store)
        run.hooks += [procore, adapter.hook]
        unlinker = Unlinker(store, integration, procore, adapter, f"{JOB}:{run_id}")
        work_through(store, integration, run_id, UNLINKS, unlinker.process, run.counts)
    return run.summary()


def _release(store: Store, request: dict, worker: str, message: str, queue: RequestQueue) -> None:
    with store.transaction() as tx:
        tx.execute(queue.query("release"), id=request["id"], worker=worker, message=message)
