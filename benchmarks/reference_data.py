"""Reference-data benchmark: the Procore and ERP calls the hourly sync spends on reference data at 1,000
projects, in a first sync and in a quiet hour, next to the sync's own calls.

    .venv/bin/python benchmarks/reference_data.py [--projects 1000] [--erp acumatica]

From freshly seeded sandboxes, two runs of the hourly sync: the first reads the reference data in full (both
sides' whole lists: every active project's cost codes, the sub jobs of those whose cost codes name one, the
line item types, the vendors; the project list the sync reads anyway is reused), the next hour, in which nothing
changed, reads what changed since (Procore's vendors by ``filters[updated_at]``, each ERP list by its change
date; no project's cost codes). The reading's calls are those the hooks counted while it ran.

The old design read everything once a day and nothing in the other hours: its first sync cost what the full
reading costs here, its quiet hour nothing. A day is one full reading and 23 quiet hours.
"""

from __future__ import annotations

import argparse
from contextlib import contextmanager
from collections.abc import Iterator

from common import ERP_VENDOR, Sandboxes, calls, connect, new_store, seed
from erp_sync.jobs import hourly_sync
from erp_sync.jobs.hourly_sync import export_integration
from erp_sync.models import ErpKind

HOURS = ("first sync", "quiet hour")
QUIET_HOURS_A_DAY = 23


@contextmanager
def reading_calls(spent: list[tuple[int, int]]) -> Iterator[None]:
    """Notes (Procore calls, ERP calls) of each reference reading the hourly sync makes meanwhile."""
    read = hourly_sync.read_when_due

    def counted(store, integration, procore, adapter, *args, **kwargs):
        before = procore.total_calls, adapter.hook.total_calls
        read(store, integration, procore, adapter, *args, **kwargs)
        spent.append((procore.total_calls - before[0], adapter.hook.total_calls - before[1]))

    hourly_sync.read_when_due = counted
    try:
        yield
    finally:
        hourly_sync.read_when_due = read


def sync_calls(kind: ErpKind, projects: int, sandboxes: Sandboxes) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """For a first sync and the quiet hour after it: (Procore, ERP) calls of the whole run and of its reading."""
    seed(sandboxes, {"projects": projects, "commitments_per_project": 1, "change_orders_per_project": 0,
                     "invoices_per_project": 0})
    store, integration = new_store(kind, linked=False)
    spent, reading = [], []
    with reading_calls(reading):
        for hour in HOURS:
            before = calls(sandboxes)
            export_integration(store, integration, hour)
            after = calls(sandboxes)
            spent.append((after["procore"] - before["procore"], after[ERP_VENDOR[kind]] - before[ERP_VENDOR[kind]]))
    return list(zip(spent, reading, strict=True))


def run(kind: ErpKind, projects: int, sandboxes: Sandboxes) -> None:
    (first, full), (quiet, changes) = sync_calls(kind, projects, sandboxes)
    print(f"\n{kind.display_name}, {projects:,} projects: calls per hourly sync (export run), Procore / ERP")
    print(f"  {'':<12} {'whole run':>15} {'reference data, old':>21} {'reference data, new':>21}")
    print(f"  {'first sync':<12} {first[0]:>7,} / {first[1]:<5,} {full[0]:>11,} / {full[1]:<7,} "
          f"{full[0]:>11,} / {full[1]:<7,}  (the full reading)")
    print(f"  {'quiet hour':<12} {quiet[0]:>7,} / {quiet[1]:<5,} {0:>11,} / {0:<7,} "
          f"{changes[0]:>11,} / {changes[1]:<7,}  (what changed)")
    print(f"  {'a day':<12} {'':>15} {full[0]:>11,} / {full[1]:<7,} "
          f"{full[0] + QUIET_HOURS_A_DAY * changes[0]:>11,} / {full[1] + QUIET_HOURS_A_DAY * changes[1]:<7,}  "
          f"(one full reading, {QUIET_HOURS_A_DAY} quiet hours)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--erp", choices=[kind.value for kind in ERP_VENDOR], action="append")
    args = parser.parse_args()
    sandboxes = Sandboxes()
    connect(sandboxes)
    try:
        for kind in args.erp or [kind.value for kind in ERP_VENDOR]:
            run(ErpKind(kind), args.projects, sandboxes)
    finally:
        sandboxes.stop()


if __name__ == "__main__":
    main()
