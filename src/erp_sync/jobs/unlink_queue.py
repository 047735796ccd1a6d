"""The unlink queue: claim pending requests one at a time, decide each, write the outcome back.

Each request is decided on its own: what goes wrong with one is answered on that request, RED at once
when retrying cannot help, or after retries with a growing pause when it might; the others go on in
the same run. The run fails only when the whole integration is out of reach: its credentials are
refused, or, after a request met transient trouble, Procore or the ERP does not answer a connection check.

The same machinery works through every table people file rows into (``unlink_requests``,
``export_decisions``): a ``RequestQueue`` names its queries, and ``work_through`` claims, decides and
answers its rows one at a time, each in isolation as above.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from erp_connectors.base import VendorApiError
from erp_sync.budget import Work
from erp_sync.connectors import erp_adapter, procore_hook
from erp_sync.models import integration_name
from erp_sync.runs import tracked_run
from erp_sync.store import Store, audit, utcnow
from erp_sync.sync.exporter import TRANSIENT
from erp_sync.unlink import (
    PENDING,
    QUEUE_STATUSES,
    WAITING,
    Outcome,
    Unlinker,
    no_such_integration,
    rejected,
    shown,
    typed_status,
    unknown_status,
)

log = logging.getLogger(__name__)
JOB = "unlink_queue"
STALE_CLAIM = timedelta(minutes=10)  # a claim this old belongs to a worker that died: take it over
MAX_ATTEMPTS = 5
FIRST_RETRY_AFTER = timedelta(minutes=1)  # doubled at each attempt: 1, 2, 4, 8 minutes


class IntegrationUnreachable(Exception):
    """Procore or the ERP does not answer at all: no request can go on; a retry of the task tries again."""


@dataclass(frozen=True)
class RequestQueue:
    """A table of filed rows and the named queries that claim, answer and release them."""

    entity: str   # as audit_log names its rows
    job: str
    table: str    # the queries are named "{verb}_{table}{rest}"
    noun: str     # what a person calls a row, in the answers
    carried_out: str  # what the queue does with a pending row, in the answers
    statuses: frozenset[str] = QUEUE_STATUSES  # as the queue spells them; any other typed status is tidied

    def query(self, verb: str, rest: str = "") -> str:
        return f"{verb}_{self.table}{rest}"

    def unknown_status(self, typed: str) -> Outcome:
        return rejected(unknown_status(typed, self.noun, self.carried_out))


UNLINKS = RequestQueue("unlink_request", JOB, "unlink_request", "request", "decides the request")


def worker_name(run_id: str | None) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{run_id}"


def claim(store: Store, worker: str, names: list[str], unnamed: bool = False,
          queue: RequestQueue = UNLINKS) -> dict | None:
    """The oldest due row naming an integration as spelt in ``names`` (with ``unnamed``, or naming
    none), now ours."""
    now = utcnow()
    with store.transaction() as tx:
        return tx.one(queue.query("claim"), worker=worker, now=now, stale_before=now - STALE_CLAIM,
                      names=names, unnamed=unnamed)


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
    now = utcnow()
    due = {integration_name(row["integration"]) for row in store.rows(queue.query("integrations_with_pending"),
                                                                      now=now, stale_before=now - STALE_CLAIM)}
    return [integration for integration in store.integrations() if integration["name"] in due]


def tidy_typed_requests(store: Store, run_id: str | None, queue: RequestQueue = UNLINKS) -> int:
    """A status typed another way ('Pending', ' PENDING ') is put in the queue's spelling; a status the queue
    does not know is answered. Returns how many rows were tidied or answered."""
    worker, actor, tidied = worker_name(run_id), f"{queue.job}:{run_id}", 0
    for row in store.rows(queue.query("unanswered", "s")):
        if row["status"] in queue.statuses:
            continue
        if typed_status(row["status"]) != PENDING:
            tidied += _answer_typed(store, row, queue.unknown_status(row["status"]), worker, run_id, actor, queue)
            continue
        with store.transaction() as tx:
            changed = tx.execute(queue.query("normalise", "_status"), id=row["id"], typed_status=row["status"],
                                 status=PENDING).rowcount
            if changed:
                audit(tx, queue.entity, row["id"], "normalised", actor=actor, old_state=row["status"],
                      new_state=PENDING)
        tidied += changed
    return tidied


def _answer_typed(store: Store, row: dict, outcome: Outcome, worker: str, run_id: str | None, actor: str,
                  queue: RequestQueue) -> int:
    with store.transaction() as tx:
        claimed = tx.one(queue.query("claim_typed"), id=row["id"], typed_status=row["status"], worker=worker,
                         now=utcnow())
    if claimed is None:  # changed meanwhile: the next run looks at it again
        return 0
    finish(store, claimed | {"status": row["status"]}, outcome, worker, run_id, actor, queue)
    return 1


def reject_unknown_integrations(store: Store, run_id: str | None, queue: RequestQueue = UNLINKS) -> int:
    """Rows naming no enabled integration are answered at once; nothing else changes."""
    worker, rejected_count = worker_name(run_id), 0
    enabled = {integration["name"] for integration in store.integrations()}
    unknown = [spelling for name, spellings in store.request_names(queue.table).items() if name not in enabled
               for spelling in spellings]
    while (request := claim(store, worker, unknown, unnamed=True, queue=queue)) is not None:
        message = no_such_integration(request["integration"])
        finish(store, request, rejected(message), worker, run_id, f"{queue.job}:{run_id}", queue)
        rejected_count += 1
    return rejected_count


def work_through(store: Store, integration: dict, run_id: str | None, queue: RequestQueue,
                 process: Callable[[dict], Outcome], counts: Counter[str], hooks: list) -> None:
    """Claim, decide and answer the integration's due rows one at a time, each in isolation (see above)."""
    worker, actor = worker_name(run_id), f"{queue.job}:{run_id}"
    spellings = store.request_names(queue.table).get(integration["name"], [])
    while (request := claim(store, worker, spellings, queue=queue)) is not None:
        try:
            outcome = process(request)
        except Exception as error:  # noqa: BLE001 - one row's trouble is answered on that row
            if isinstance(error, VendorApiError) and error.refuses_access:
                _release(store, request, worker, retry_at=None, given_back=1, queue=queue,
                         message=f"Waiting until the integration is reachable again ({shown(error, 200)}).")
                raise
            outcome = _retry_later(store, request, worker, error, queue)
            if outcome is None:
                counts["retry_later"] += 1
                if isinstance(error, TRANSIENT):
                    _check_reachable(hooks)
                continue
        finish(store, request, outcome, worker, run_id, actor, queue)
        counts[outcome.status] += 1
        log.info("%s %s for %s: %s %s", queue.entity, request["id"], integration["name"], outcome.colour.value,
                 outcome.message)


def drain_integration(store: Store, integration: dict, run_id: str | None) -> dict:
    with tracked_run(store, JOB, integration, run_id) as run:
        procore, adapter = procore_hook(integration, store, Work.ON_DEMAND), erp_adapter(integration, store)
        run.hooks += [procore, adapter.hook]
        unlinker = Unlinker(store, integration, procore, adapter, f"{JOB}:{run_id}")
        work_through(store, integration, run_id, UNLINKS, unlinker.process, run.counts, run.hooks)
    return run.summary()


def _check_reachable(hooks: list) -> None:
    """After a request met transient trouble: was it the request's, or is the integration out of reach?"""
    for hook in hooks:
        try:
            hook.check()
        except Exception as error:
            raise IntegrationUnreachable(f"{hook.vendor} cannot be reached ({error}); the queue waits for it") \
                from error


def _retry_later(store: Store, request: dict, worker: str, error: Exception, queue: RequestQueue) -> Outcome | None:
    """Release the row to be tried again after a pause that doubles at each attempt; past the last
    attempt, its RED answer."""
    attempts = request["attempts"]
    log.error("%s %s, attempt %s of %s, failed", queue.entity, request["id"], attempts, MAX_ATTEMPTS, exc_info=error)
    if attempts >= MAX_ATTEMPTS:
        return rejected(f"Processing failed {attempts} times ({shown(error, 200)}); "
                        "an engineer should look at the run logs.")
    pause = FIRST_RETRY_AFTER * 2 ** (attempts - 1)
    _release(store, request, worker, f"Processing failed ({shown(error, 200)}); tried again after "
                                     f"{pause.total_seconds() / 60:.0f} minute(s).",
             retry_at=utcnow() + pause, given_back=0, queue=queue)
    return None


def _release(store: Store, request: dict, worker: str, message: str, retry_at, given_back: int,
             queue: RequestQueue) -> None:
    with store.transaction() as tx:
        tx.execute(queue.query("release"), id=request["id"], worker=worker, message=message,
                   retry_at=retry_at, given_back=given_back)
