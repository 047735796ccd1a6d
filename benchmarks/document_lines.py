"""Document-lines benchmark: what reading each record's lines costs at 1,000 projects. Prints the Procore calls
per exported record (with the lines, and what the same export cost before documents had lines), the first
sync's time and calls, a quiet hour's calls (no line is read), an hour with 1 % of the records changed (only
those records' lines are read), and peak memory.

    .venv/bin/python benchmarks/document_lines.py                  # 1,000 projects, Acumatica and QuickBooks
    .venv/bin/python benchmarks/document_lines.py --scale 0.1 --erp acumatica

The integration's reference data is linked first (vendors by name, projects, cost codes and cost types by
code), outside the measured phases, as an accountant would have done on the Reference data tab.
"""

from __future__ import annotations

import random
import time
from collections import Counter

from common import ERP_VENDOR, TABLES, Sandboxes, calls, new_store, phase, run_each_erp, seed
from erp_sync.models import ErpKind

FULL = {"projects": 1000, "commitments_per_project": 2, "change_orders_total": 500, "invoices_total": 1000}


def edit_one_percent_of_the_lines(sandboxes: Sandboxes, records: dict[str, list[dict]], rng: random.Random) -> int:
    """A schedule-of-values edit (or an invoice line's) on 1 % of the records: one line's description."""
    every = [(table, row) for table, rows in records.items() for row in rows]
    changed = rng.sample(every, max(1, len(every) // 100))
    for table, row in changed:
        lines = sandboxes.control("GET", f"procore/{table}/{row['id']}/lines").json()
        if not lines:
            continue
        key = "description_of_work" if table == "requisitions" else "description"
        lines[0][key] = f"{lines[0][key]} (rev)"[:90]
        sandboxes.control("PUT", f"procore/{table}/{row['id']}/lines", json=lines)
    return len(changed)


def run(kind: ErpKind, sizes: dict, sandboxes: Sandboxes) -> None:
    records = seed(sandboxes, sizes)
    store, integration = new_store(kind)
    total = sum(len(rows) for rows in records.values())
    print(f"\n## {kind.display_name}: {sizes['projects']} projects, {total} records")

    first = phase(store, integration, sandboxes, "first")
    exported = sum(v for k, v in first["counts"].items() if k.startswith("created_"))
    reads = first["counts"]["procore_line_reads"]
    per_record = (first["calls"]["procore"] - list_calls(first)) / max(1, exported)
    print(f"- first sync: {first['wall']:.1f} s, {first['calls']['procore']} Procore calls and "
          f"{first['calls'][ERP_VENDOR[kind]]} {ERP_VENDOR[kind]} calls for {exported} exported records; peak RSS "
          f"{first['peak_rss_mib']:.0f} MiB")
    print(f"  Procore calls per exported record beyond the lists: {per_record:.2f} with lines "
          f"({reads} line reads), {(per_record * max(1, exported) - reads) / max(1, exported):.2f} before documents "
          "had lines")
    quiet = phase(store, integration, sandboxes, "quiet")
    print(f"- quiet hour: {quiet['calls']['procore']} Procore calls, {quiet['counts'].get('procore_line_reads', 0)} "
          f"line reads, {quiet['wall']:.1f} s")
    edited = edit_one_percent_of_the_lines(sandboxes, records, random.Random(7))
    hour = phase(store, integration, sandboxes, "hour")
    updates = sum(v for k, v in hour["counts"].items() if k.startswith("updated_"))
    print(f"- hour with a line edited on 1 % of the records ({edited}): {hour['calls']['procore']} Procore calls, "
          f"{hour['counts'].get('procore_line_reads', 0)} line reads, {updates} ERP updates, {hour['wall']:.1f} s; "
          f"peak RSS {hour['peak_rss_mib']:.0f} MiB")
    colours = Counter(row["colour"] for row in store.rows("active_links", integration_id=integration["id"]))
    print(f"  links: {dict(colours)}")


def list_calls(figures: dict) -> int:
    """The calls that read lists (projects and the four streams, page by page) rather than one record."""
    counts = figures["counts"]
    return counts["streams_read"] + counts["streams_read_ahead"] + 1


if __name__ == "__main__":
    run_each_erp(__doc__.splitlines()[0], ERP_VENDOR, run, FULL)
