"""Payment-import benchmark: 40,000 ERP payments (10 % of them partial, 2 % voided later) against bills
the hourly sync exported; prints the first import, an import with nothing new, and the import of the
voids: wall time, API calls per vendor against the minimum needed, and peak memory.

    make benchmark                                   # runs this after the hourly-sync benchmark
    .venv/bin/python benchmarks/payment_import.py --payments 4000 --erp quickbooks_online

The minimum is the pages of payments to read plus Procore's sync calls (up to 1,000 payments each,
per project). Runs follow each other within seconds, so the two minutes of overlap that every
bookmark keeps make "nothing new" read the recent payments again; it still writes nothing.
"""

from __future__ import annotations

import argparse
import math
import random
import resource
import time
from collections import Counter
from decimal import Decimal

from common import ERP_VENDOR, Sandboxes, calls, connect, new_store, seed
from erp_sync.jobs.hourly_sync import export_integration, refresh_integration
from erp_sync.jobs.payment_import import import_payments
from erp_sync.models import ErpKind
from erp_sync.store import Store

PROJECTS, PARTIAL_SHARE, VOID_SHARE, PARTS = 200, 0.10, 0.02, 2
APPROVED_SHARE = 0.6  # of the sandbox's seeded invoices, as its status cycle has it
ERP_PAGE = {ErpKind.ACUMATICA: 500, ErpKind.QUICKBOOKS_ONLINE: 1000}
SEED_CHUNK = 2000


def plan(bills: list[dict], total: int, rng: random.Random) -> list[tuple[str, Decimal, bool]]:
    """(bill, amount, by card): 90 % of the payments settle a bill in full, 10 % are halves and thirds."""
    partial = int(total * PARTIAL_SHARE)
    full = total - partial
    payments = [(bill["erp_ref"], bill["erp_amount"], rng.random() < 0.25) for bill in bills[:full]]
    for bill in bills[full: full + partial // PARTS]:
        for share in ("0.5", "0.3")[:PARTS]:
            payments.append((bill["erp_ref"], (bill["erp_amount"] * Decimal(share)).quantize(Decimal("0.01")), False))
    return payments


def seed_payments(sandboxes: Sandboxes, kind: ErpKind, payments: list[tuple[str, Decimal, bool]]) -> list[str]:
    """Pay through the ERP sandbox's control API (as its users would), in bulk; returns the payment ids."""
    ids: list[str] = []
    for start in range(0, len(payments), SEED_CHUNK):
        chunk = payments[start:start + SEED_CHUNK]
        if kind is ErpKind.ACUMATICA:
            body = [{"bill": ref.split("/")[-1], "amount": str(amount), "method": "CREDITCARD" if card else "CHECK"}
                    for ref, amount, card in chunk]
            ids += sandboxes.control("POST", "acumatica/payments/bulk", json=body).json()["references"]
        else:
            body = [{"bills": {ref: str(amount)}, "pay_type": "CreditCard" if card else "Check"}
                    for ref, amount, card in chunk]
            ids += sandboxes.control("POST", "quickbooks/payments/bulk", json=body).json()["ids"]
    return ids


def phase(store: Store, integration: dict, sandboxes: Sandboxes, name: str) -> dict:
    before = calls(sandboxes)
    started = time.perf_counter()
    summary = import_payments(store, integration, name)
    wall = time.perf_counter() - started
    return {"wall": wall, "counts": Counter(summary["counts"]),
            "calls": {vendor: n - before[vendor] for vendor, n in calls(sandboxes).items()},
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def report(title: str, figures: dict, kind: ErpKind, minimum: dict[str, int]) -> None:
    print(f"- {title}: {figures['wall']:.1f} s wall, peak RSS {figures['peak_rss_mib']:.0f} MiB")
    for vendor in ("procore", ERP_VENDOR[kind]):
        print(f"  {vendor:<10} {figures['calls'][vendor]:>6} calls (minimum {minimum[vendor]}; the rest is sign-in)")
    print(f"  counts: {dict(sorted(figures['counts'].items()))}")


def procore_batches(store: Store, integration: dict, wanted: set[str] | None = None) -> int:
    per_project = Counter(row["procore_project_id"]
                          for row in store.rows("payments_of_integration", integration_id=integration["id"])
                          if wanted is None or row["origin_id"] in wanted)
    return sum(math.ceil(n / 1000) for n in per_project.values())


def run(kind: ErpKind, total: int, sandboxes: Sandboxes) -> None:
    bills_needed = total - int(total * PARTIAL_SHARE) + int(total * PARTIAL_SHARE) // PARTS
    invoices = math.ceil(bills_needed / APPROVED_SHARE * 1.01)
    seed(sandboxes, {"projects": PROJECTS, "commitments_per_project": 5, "change_orders_total": 0,
                     "invoices_total": invoices})
    store, integration = new_store(kind)
    started = time.perf_counter()
    export_integration(store, integration, "sync")
    refresh_integration(store, integration, "sync")
    bills = [row for row in store.rows("active_links", integration_id=integration["id"])
             if row["record_type"] == "subcontractor_invoice" and row["erp_ref"]]
    print(f"\n## {kind.display_name}: {total} payments on {len(bills)} exported bills "
          f"({invoices} invoices synced first in {time.perf_counter() - started:.0f} s)")
    rng = random.Random(11)
    payments = plan(bills, total, rng)
    ids = seed_payments(sandboxes, kind, payments)

    page = ERP_PAGE[kind]
    first = phase(store, integration, sandboxes, "first")
    report("first import", first, kind, {"procore": procore_batches(store, integration),
                                         ERP_VENDOR[kind]: math.ceil(len(ids) / page)})
    quiet = phase(store, integration, sandboxes, "again")
    report("import again, nothing new (0 writes expected)", quiet, kind,
           {"procore": 0, ERP_VENDOR[kind]: math.ceil(len(ids) / page)})

    voided = rng.sample(ids, int(total * VOID_SHARE))
    path = "acumatica/payments/void/bulk" if kind is ErpKind.ACUMATICA else "quickbooks/payments/void/bulk"
    for start in range(0, len(voided), SEED_CHUNK):
        sandboxes.control("POST", path, json=voided[start:start + SEED_CHUNK])
    voids = phase(store, integration, sandboxes, "voids")
    key = "Payment/" if kind is ErpKind.ACUMATICA else "BillPayment/"
    voided_keys = {f"{key}{payment}" for payment in voided}
    origins = {row["origin_id"] for row in store.rows("payments_of_integration", integration_id=integration["id"])
               if row["erp_payment_key"] in voided_keys}
    report(f"import after {len(voided)} payments were voided", voids, kind,
           {"procore": procore_batches(store, integration, origins),
            ERP_VENDOR[kind]: math.ceil(len(ids) / page)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--erp", choices=[k.value for k in ERP_VENDOR], action="append")
    parser.add_argument("--payments", type=int, default=40_000)
    args = parser.parse_args()
    sandboxes = Sandboxes()
    connect(sandboxes)
    try:
        for kind in args.erp or [k.value for k in ERP_VENDOR]:
            run(ErpKind(kind), args.payments, sandboxes)
    finally:
        sandboxes.stop()


if __name__ == "__main__":
    main()
