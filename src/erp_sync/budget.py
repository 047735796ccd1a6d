"""Procore's API budget, shared by every task and process that uses one Procore connection.

Procore grants each app a budget per rate window (3,600 an hour is not a given: 600 is common) and
reports it on every answer in ``X-Rate-Limit-Limit``, ``-Remaining`` and ``-Reset``. The status store
keeps, per Procore connection, what the current window holds: its reset time, what is left, and what
the scheduled sync and on-demand work have spent of it. A task takes its calls in leases (``LEASE_CALLS``
at a time, each taken by one atomic UPDATE that checks and counts them) and spends them in memory, so
tasks in several processes and on several workers count against the same window at one store
transaction per lease rather than per call; a task gives back what it did not use when its hook
closes. What the answers' headers say is kept in memory and written when the window changes, on a
429, with the next lease and when the hook closes.

The scheduled sync may spend at most its share of the window (the connection's extra ``sync_share``,
default 0.7); the rest is kept for on-demand work (unlink permission checks, on-demand payment syncs),
which is always admitted. When its share is spent the sync is refused with ``BudgetSpent`` and
stops; a later window resumes it. A 429 that says the whole window is spent (an app's budget smaller
than expected, or spent by others) stops the sync the same way instead of failing it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from enum import StrEnum

from erp_connectors.base import BudgetSpent, RateReading
from erp_sync.store import Store, Transaction, utcnow

DEFAULT_SYNC_SHARE = 0.7
LEASE_CALLS = 20  # a lease left unused by a task that died is counted until its window ends


class Work(StrEnum):
    SYNC = "sync"            # the scheduled sync: within its share, stops when it is spent
    ON_DEMAND = "on_demand"  # what a person is waiting for: always goes first


def sync_share(extras: dict) -> float:
    share = float(extras.get("sync_share", DEFAULT_SYNC_SHARE))
    if not 0 < share < 1:
        raise ValueError(f"the Procore connection's sync_share must be between 0 and 1 (it is {share})")
    return share


@dataclass
class Lease:
    """Calls counted in one window ahead of use, spent in memory; what is left goes back to that window."""

    calls: int
    reset: int | None  # the window's reset (epoch s); None until the first answer of a new window tells it
    counted: bool = True  # False: taken before anything was known of the budget, so nothing to give back
    spent: int = 0

    @property
    def left(self) -> int:
        return self.calls - self.spent

    def usable(self, epoch: float) -> bool:
        return self.left > 0 and (self.reset is None or epoch < self.reset)


class ProcoreBudget:
    """The rate meter of one Procore hook: admits its calls from a lease and notes what the answers say."""

    def __init__(self, store: Store, conn_id: str, work: Work, share: float, lease_calls: int = LEASE_CALLS):
        self.store, self.conn_id, self.work, self.share, self.lease_calls = store, conn_id, work, share, lease_calls
        self.lease: Lease | None = None
        self.unwritten: RateReading | None = None  # the lowest remaining the lease's window reported, not yet stored
        self.seen: dict | None = None  # the window as the last lease left it in the store

    @property
    def counter(self) -> str:
        return f"{self.work.value}_calls"

    def admit(self) -> None:
        if self.lease is None or not self.lease.usable(time.time()):
            self.lease = self.take_lease()
        self.lease.spent += 1

    def take_lease(self) -> Lease:
        """Gives back the last lease, then takes the next one in one transaction; ``BudgetSpent`` when the
        sync's share (or the on-demand reserve) leaves nothing to take."""
        with self.store.transaction() as tx:
            self.write_down(tx)
            tx.execute("roll_over_budget_window", conn_id=self.conn_id, epoch=int(time.time()), now=utcnow())
            window = tx.one("budget_of_connection", conn_id=self.conn_id)
            if window is None:
                return Lease(1, None, counted=False)  # nothing known yet: the first answer tells the budget
            if self.work is Work.ON_DEMAND:
                calls = self.lease_calls
                tx.execute("lease_on_demand_calls", conn_id=self.conn_id, calls=calls, now=utcnow())
            else:
                calls, window = self.lease_sync_calls(tx, window)
        if not calls:
            self.seen = window
            raise BudgetSpent(self.spent_message(window))
        self.seen = window | {self.counter: window[self.counter] + calls, "remaining": window["remaining"] - calls}
        return Lease(calls, window["window_reset"])

    def lease_sync_calls(self, tx: Transaction, window: dict) -> tuple[int, dict]:
        """As many calls as the share and the reserve leave, up to a lease (0: none). When another worker
        counted calls meanwhile the UPDATE refuses, and a smaller lease is worked out from the window now."""
        most = self.lease_calls
        while (calls := min(most, self.room(window))) > 0:
            if tx.execute("lease_sync_calls", conn_id=self.conn_id, calls=calls, share=self.share,
                          now=utcnow()).rowcount:
                return calls, window
            most, window = calls - 1, tx.one("budget_of_connection", conn_id=self.conn_id)
        return 0, window

    def room(self, window: dict) -> int:
        share_left = self.share * window["rate_limit"] - window["sync_calls"]
        reserve_left = window["remaining"] + window["on_demand_calls"] - (window["rate_limit"] - self.share * window["rate_limit"])
        return math.floor(min(share_left, reserve_left))

    def observe(self, reading: RateReading) -> None:
        if reading.spike:
            return  # the spike window's reset is seconds away and not the budget's window
        lease = self.lease
        if lease is not None and lease.reset == reading.reset and reading.status != 429:
            if self.unwritten is None or reading.remaining < self.unwritten.remaining:
                self.unwritten = reading
        else:  # the first answer of a window, a new window, or a 429: the store hears it at once
            self.write(reading)
            if lease is not None and lease.reset is None:
                lease.reset = reading.reset
            elif lease is not None and lease.reset != reading.reset:
                self.lease = self.unwritten = None  # counted in a window that is over: nothing to give back
        if reading.status == 429 and self.work is Work.SYNC:
            raise BudgetSpent(f"Procore answered 429: the rate window of {reading.limit} calls is spent "
                              f"until {reading.reset} (epoch s); the sync resumes in the next window")

    def settle(self) -> None:
        """Gives back the lease's unused calls and writes what the answers said; at the end of a task."""
        if self.unwritten is not None or (self.lease is not None and self.lease.counted and self.lease.left):
            with self.store.transaction() as tx:
                self.write_down(tx)
        self.lease = None

    def write_down(self, tx: Transaction) -> None:
        lease, self.lease = self.lease, None
        if lease is not None and lease.counted and lease.left:
            tx.execute(f"return_{self.counter}", conn_id=self.conn_id, calls=lease.left, reset=lease.reset,
                       now=utcnow())
        if self.unwritten is not None:
            self.note(tx, self.unwritten)
            self.unwritten = None
        self.seen = None

    def write(self, reading: RateReading) -> None:
        with self.store.transaction() as tx:
            self.note(tx, reading)
        self.seen = None

    def note(self, tx: Transaction, reading: RateReading) -> None:
        params = {"conn_id": self.conn_id, "reset": reading.reset, "rate_limit": reading.limit,
                  "remaining": reading.remaining, "now": utcnow()}
        if not tx.execute("note_budget_window", **params).rowcount:  # a window newer than the one kept
            counted = {"sync_calls": int(self.work is Work.SYNC), "on_demand_calls": int(self.work is Work.ON_DEMAND)}
            tx.execute("start_budget_window", **params, **counted)

    def spent_message(self, window: dict) -> str:
        return (f"the sync's share of Procore's rate window is spent ({window['sync_calls']} of "
                f"{int(self.share * window['rate_limit'])} calls; {window['remaining']} of {window['rate_limit']} "
                "left, kept for on-demand work); it resumes in the next window")

    def window(self) -> dict | None:
        """The connection's current window as this meter knows it: as its last lease left it in the store
        (read again after the store heard an answer), without its own unused calls, with the lowest
        remaining its answers reported."""
        if self.seen is None:
            self.seen = self.store.one("budget_of_connection", conn_id=self.conn_id)
        if self.seen is None:
            return None
        window, lease = dict(self.seen), self.lease
        if lease is not None and lease.counted and lease.reset == window["window_reset"]:
            window[self.counter] -= lease.left
            window["remaining"] += lease.left
        if self.unwritten is not None:
            window["remaining"] = min(window["remaining"], self.unwritten.remaining)
        return window
