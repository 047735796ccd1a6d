"""Procore's API budget, shared by every task and process that uses one Procore connection.

Procore grants each app a budget per rate window (3,600 an hour is not a given: 600 is common) and
reports it on every answer in ``X-Rate-Limit-Limit``, ``-Remaining`` and ``-Reset``. The status store
keeps, per Procore connection, what the current window holds: its reset time, what is left, and what
the scheduled sync and on-demand work have spent of it. Each call is admitted by one atomic UPDATE,
so tasks in several processes and on several workers count against the same window.

The scheduled sync may spend at most its share of the window (the connection's extra ``sync_share``,
default 0.7); the rest is kept for on-demand work (unlink permission checks, on-demand payment syncs),
which is always admitted. When its share is spent the sync is refused with ``BudgetSpent`` and
stops; a later window resumes it. A 429 that says the whole window is spent (an app's budget smaller
than expected, or spent by others) stops the sync the same way instead of failing it.
"""

from __future__ import annotations

import time
from enum import StrEnum

from erp_connectors.base import BudgetSpent, RateReading
from erp_sync.store import Store, utcnow

DEFAULT_SYNC_SHARE = 0.7


class Work(StrEnum):
    SYNC = "sync"            # the scheduled sync: within its share, stops when it is spent
    ON_DEMAND = "on_demand"  # what a person is waiting for: always goes first


def sync_share(extras: dict) -> float:
    share = float(extras.get("sync_share", DEFAULT_SYNC_SHARE))
    if not 0 < share < 1:
        raise ValueError(f"the Procore connection's sync_share must be between 0 and 1 (it is {share})")
    return share


class ProcoreBudget:
    """The rate meter of one Procore hook: admits its calls and notes what the answers say."""

    def __init__(self, store: Store, conn_id: str, work: Work, share: float):
        self.store, self.conn_id, self.work, self.share = store, conn_id, work, share

    def admit(self) -> None:
        with self.store.transaction() as tx:
            tx.execute("roll_over_budget_window", conn_id=self.conn_id, epoch=int(time.time()), now=utcnow())
            if self.work is Work.ON_DEMAND:
                tx.execute("admit_on_demand_call", conn_id=self.conn_id, now=utcnow())
                return
            if tx.one("budget_of_connection", conn_id=self.conn_id) is None:
                return  # nothing known yet: the first answer tells the budget
            if tx.execute("admit_sync_call", conn_id=self.conn_id, share=self.share, now=utcnow()).rowcount:
                return
            window = tx.one("budget_of_connection", conn_id=self.conn_id)
        raise BudgetSpent(self.spent_message(window))

    def observe(self, reading: RateReading) -> None:
        if reading.spike:
            return  # the spike window's reset is seconds away and not the budget's window
        counted = {"sync_calls": int(self.work is Work.SYNC), "on_demand_calls": int(self.work is Work.ON_DEMAND)}
        with self.store.transaction() as tx:
            params = {"conn_id": self.conn_id, "reset": reading.reset, "rate_limit": reading.limit,
                      "remaining": reading.remaining, "now": utcnow()}
            if not tx.execute("note_budget_window", **params).rowcount:
                tx.execute("start_budget_window", **params, **counted)
        if reading.status == 429 and self.work is Work.SYNC:
            raise BudgetSpent(f"Procore answered 429: the rate window of {reading.limit} calls is spent "
                              f"until {reading.reset} (epoch s); the sync resumes in the next window")

    def spent_message(self, window: dict) -> str:
        return (f"the sync's share of Procore's rate window is spent ({window['sync_calls']} of "
                f"{int(self.share * window['rate_limit'])} calls; {window['remaining']} of {window['rate_limit']} "
                "left, kept for on-demand work); it resumes in the next window")

    def window(self) -> dict | None:
        return self.store.one("budget_of_connection", conn_id=self.conn_id)
