"""Reference-data benchmark: the Procore and ERP calls the hourly sync spends on reference data at 1,000
projects, in a first sync and in a quiet hour, next to the sync's own calls (today's figures: the sync
without reference data).

    .venv/bin/python benchmarks/reference_data.py [--projects 1000] [--erp acumatica]

Each figure is measured twice from freshly seeded sandboxes: today's (the store says the reference data was
read just now, so the sync does not read it) and with the reference data read (the company vendor list and
the ERP's vendor list; the project list the sync reads anyway is reused, not read again). The next hour is
quiet: the reading is due once a day.
"""

from __future__ import annotations

import argparse

from common import ERP_VENDOR, Sandboxes, calls, connect, new_store, seed
from erp_sync.jobs.hourly_sync import export_integration
from erp_sync.models import ErpKind
from erp_sync.reference.reading import WATERMARK
from erp_sync.store import utcnow

HOURS = ("first sync", "quiet hour")


def sync_calls(kind: ErpKind, projects: int, sandboxes: Sandboxes, reference: bool) -> list[tuple[int, int]]:
    """(Procore calls, ERP calls) of a first sync and the quiet hour after it, from freshly seeded sandboxes;
    without reference data, the store says it was read just now (the reading is not due)."""
    seed(sandboxes, {"projects": projects, "commitments_per_project": 1, "change_orders_per_project": 0,
                     "invoices_per_project": 0})
    store, integration = new_store(kind, linked=False)
    if not reference:
        store.set_watermark(integration["id"], WATERMARK, utcnow().isoformat())
    spent = []
    for hour in HOURS:
        before = calls(sandboxes)
        export_integration(store, integration, hour)
        after = calls(sandboxes)
        spent.append((after["procore"] - before["procore"], after[ERP_VENDOR[kind]] - before[ERP_VENDOR[kind]]))
    return spent


def run(kind: ErpKind, projects: int, sandboxes: Sandboxes) -> None:
    today = sync_calls(kind, projects, sandboxes, reference=False)
    with_reference = sync_calls(kind, projects, sandboxes, reference=True)
    print(f"\n{kind.display_name}, {projects:,} projects: calls per hourly sync (export run)")
    print(f"  {'':<12} {'Procore today':>14} {'with reference':>15} {'ERP today':>10} {'with reference':>15}")
    for hour, (procore, erp), (procore_ref, erp_ref) in zip(HOURS, today, with_reference, strict=True):
        print(f"  {hour:<12} {procore:>14,} {procore_ref:>15,} {erp:>10,} {erp_ref:>15,}"
              f"   reference data: +{procore_ref - procore} Procore, +{erp_ref - erp} ERP")


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
