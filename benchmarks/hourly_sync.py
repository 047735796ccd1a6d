"""Hourly-sync benchmark: prints wall time, records per second, API calls per vendor against the
minimum needed, and peak memory, for a first sync and for an hour with 1 % of the records changed
(after a quiet hour, which is reported too).

    make benchmark                      # 200 projects, 5,000 commitments, 1,500 CCOs, 15,000 invoices
    .venv/bin/python benchmarks/hourly_sync.py --scale 0.1 --erp acumatica

The sandboxes run in their own process (so the memory figure is the pipeline's) with their rate
limits raised: at the real limits the figures would measure the vendors' budgets, not the pipeline;
the report says how long the same calls take at Procore's 3,600 calls an hour.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter

from common import ERP_VENDOR, TABLES, Sandboxes, calls, new_store, phase, run_each_erp, seed
from erp_sync.models import ErpKind

FULL = {"projects": 200, "commitments_per_project": 25, "change_orders_total": 1500, "invoices_total": 15000}
PROCORE_PAGE, ACUMATICA_PAGE, QUICKBOOKS_PAGE = 100, 500, 1000


def pages(count: int, size: int) -> int:
    return max(1, math.ceil(count / size))


def procore_list_pages(records: dict[str, list[dict]], projects: int) -> int:
    """One list per stream and project (at least one page each), plus the project list."""
    per_project: Counter[tuple[str, int]] = Counter()
    for table, rows in records.items():
        for row in rows:
            per_project[(table, row.get("project_id") or row["project"]["id"])] += 1
    return pages(projects, PROCORE_PAGE) + sum(pages(per_project[(table, p)], PROCORE_PAGE)
                                               for table in TABLES for p in range(projects))


def erp_refresh_pages(kind: ErpKind, linked: Counter[str], first: bool) -> int:
    if kind is ErpKind.ACUMATICA:  # changed documents, plus a key-only list (deletions are not reported)
        return sum(pages(n, ACUMATICA_PAGE) * (1 if first else 2) for n in linked.values())
    if first:
        return pages(linked["commitment"], QUICKBOOKS_PAGE) + pages(linked["subcontractor_invoice"], QUICKBOOKS_PAGE)
    return 1  # one cdc call


def change_one_percent(sandboxes: Sandboxes, records: dict[str, list[dict]], rng: random.Random) -> dict[str, int]:
    every = [(table, row) for table, rows in records.items() for row in rows]
    changed = rng.sample(every, max(1, len(every) // 100))
    for table, row in changed:
        field = "invoice_number" if table == "requisitions" else "title"
        value = f"{row.get(field) or 'changed'} (rev)"[:90]
        sandboxes.control("PATCH", f"procore/{table}/{row['id']}", json={field: value})
    return Counter(table for table, _ in changed)


def run(kind: ErpKind, sizes: dict, sandboxes: Sandboxes) -> None:
    records = seed(sandboxes, sizes)
    store, integration = new_store(kind)
    total = sum(len(rows) for rows in records.values())
    print(f"\n## {kind.display_name}: {sizes['projects']} projects, "
          + ", ".join(f"{len(rows)} {table}" for table, rows in records.items()) + f" ({total} records)")

    first = phase(store, integration, sandboxes, "first")
    links = store.rows("active_links", integration_id=integration["id"])
    linked = Counter(row["record_type"] for row in links if row["erp_ref"])
    exported = sum(linked.values())
    list_pages = procore_list_pages(records, sizes["projects"])
    minimum_first = {"procore": list_pages + exported,
                     ERP_VENDOR[kind]: exported + erp_refresh_pages(kind, linked, first=True)}
    report("first sync", first, total, minimum_first)

    quiet = phase(store, integration, sandboxes, "quiet")
    minimum_quiet = {"procore": procore_list_pages({t: [] for t in TABLES}, sizes["projects"]),
                     ERP_VENDOR[kind]: erp_refresh_pages(kind, linked, first=False)}
    report("next hour, nothing changed (reads once more what the first sync wrote back)", quiet, 0, minimum_quiet)

    changed = change_one_percent(sandboxes, records, random.Random(7))
    hour = phase(store, integration, sandboxes, "hour")
    updates = sum(v for k, v in hour["counts"].items() if k.startswith("updated_"))
    minimum_hour = {"procore": procore_list_pages({t: [] for t in TABLES}, sizes["projects"]),
                    ERP_VENDOR[kind]: updates + erp_refresh_pages(kind, linked, first=False)}
    report(f"hour with 1 % changed ({sum(changed.values())} records, {updates} of them linked and pushed)",
           hour, sum(changed.values()), minimum_hour)
    colours = Counter(row["colour"] for row in store.rows("active_links", integration_id=integration["id"]))
    print(f"  links: {dict(colours)}")


def report(title: str, figures: dict, records: int, minimum: dict[str, int]) -> None:
    wall = figures["wall"]
    rate = f", {records / wall:.0f} records/s" if records else ""
    print(f"- {title}: {wall:.1f} s wall{rate}, peak RSS {figures['peak_rss_mib']:.0f} MiB")
    for vendor, minimum_calls in minimum.items():
        made = figures["calls"][vendor]
        print(f"  {vendor:<10} {made:>7} calls (minimum {minimum_calls}: pages to read + one write per changed "
              f"record; the rest is sign-in and read-before-write)")
    print(f"  at Procore's 3,600 calls an hour the Procore calls alone take {figures['calls']['procore'] / 3600:.2f} h")
    print(f"  counts: {dict(sorted(figures['counts'].items()))}")


if __name__ == "__main__":
    run_each_erp(__doc__.splitlines()[0], ERP_VENDOR, run, FULL)
