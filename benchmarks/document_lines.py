"""Document-lines benchmark: what reading each record's lines costs at 1,000 projects. Prints the Procore calls
per exported record (with the lines, and without them: the same run's calls less its line reads, one call
each), the first sync's time and calls, a quiet hour's calls (no line is read, so they are the calls without
lines) and memory, an hour with 1 % of the records changed (only those records' lines are read), and peak
memory: the process's peak RSS, and the Python heap's peak during the quiet and the changed hour (tracemalloc,
which the first sync goes without so its time is not slowed).

The first sync's time and memory without lines cannot be measured in the same run (the export without lines
is gone); they are the hourly sync benchmark's, at its own size, before issue 23.

    .venv/bin/python benchmarks/document_lines.py                  # 1,000 projects, Acumatica and QuickBooks
    .venv/bin/python benchmarks/document_lines.py --scale 0.1 --erp acumatica

The integration's reference data is linked first (vendors by name, projects, cost codes and cost types by
code), outside the measured phases, as an accountant would have done on the Reference data tab.
"""

from __future__ import annotations

import json
import random
import time
import tracemalloc
from collections import Counter

import requests
from common import ERP_VENDOR, TABLES, Sandboxes, calls, new_store, phase, run_each_erp, seed
from erp_sync.models import ErpKind
from sandbox import acumatica_data as acumatica

FULL = {"projects": 1000, "commitments_per_project": 2, "change_orders_total": 500, "invoices_total": 1000}


def open_every_job(sandboxes: Sandboxes, kind: ErpKind, projects: int) -> int:
    """The ERP holds a job for every seeded Procore project (the ERP sandboxes hold the demo's 60), so each project
    links by its number (the Procore sandbox numbers its projects 2401 on) and the whole company is exported;
    outside what is measured."""
    numbers = {str(2401 + index) for index in range(projects)}
    if kind is ErpKind.ACUMATICA:
        session = requests.Session()
        session.post(f"{sandboxes.url}/acumatica/entity/auth/login", timeout=60, json={
            "name": acumatica.DEMO_USER, "password": acumatica.DEMO_PASSWORD, "tenant": acumatica.DEMO_TENANT})
        known = {row["ProjectID"]["value"] for row in sandboxes.control("GET", "acumatica/Project").json()}
        for number in sorted(numbers - known):
            session.put(f"{sandboxes.url}/acumatica/entity/Default/{acumatica.VERSION}/Project", timeout=60, json={
                "ProjectID": {"value": number}, "Description": {"value": f"Job {number}"},
                "Status": {"value": "Active"}}).raise_for_status()
        session.post(f"{sandboxes.url}/acumatica/entity/auth/logout", timeout=60)
        return len(numbers - known)
    customers = sandboxes.control("GET", "quickbooks/Customer").json()
    owner = next(row["Id"] for row in customers if not row.get("Job"))
    missing = numbers - {row["DisplayName"] for row in customers}
    for number in sorted(missing):
        sandboxes.control("POST", "quickbooks/Customer", json={"DisplayName": number, "Job": True, "Active": True,
                                                               "ParentRef": {"value": owner}})
    return len(missing)


def edit_one_percent_of_the_lines(sandboxes: Sandboxes, store, integration: dict, rng: random.Random) -> int:
    """A schedule-of-values edit (or an invoice line's) on 1 % of the exported records: one line's description."""
    every = [(json.loads(row["procore_json"])["stream"], {"id": row["procore_id"]})
             for row in store.rows("active_links", integration_id=integration["id"])
             if row["erp_ref"] and row["colour"] == "GREEN"]
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
    opened = open_every_job(sandboxes, kind, sizes['projects'])
    store, integration = new_store(kind)
    total = sum(len(rows) for rows in records.values())
    print(f"\n## {kind.display_name}: {sizes['projects']} projects, {total} records ({opened} jobs opened in the ERP "
          "beside the 60 it is seeded with)")

    first = phase(store, integration, sandboxes, "first")
    exported = sum(v for k, v in first["counts"].items() if k.startswith("created_"))
    reads = first["counts"]["procore_line_reads"]
    per_record = (first["calls"]["procore"] - list_calls(first)) / max(1, exported)
    print(f"- first sync: {first['wall']:.1f} s, {first['calls']['procore']} Procore calls and "
          f"{first['calls'][ERP_VENDOR[kind]]} {ERP_VENDOR[kind]} calls for {exported} exported records; peak RSS "
          f"{first['peak_rss_mib']:.0f} MiB")
    without = first["calls"]["procore"] - reads
    print(f"  Procore calls per exported record beyond the lists: {per_record:.2f} with lines ({reads} line reads), "
          f"{(per_record * max(1, exported) - reads) / max(1, exported):.2f} without; first sync's Procore calls "
          f"{first['calls']['procore']} with lines, {without} without (+{reads / max(1, without):.0%})")
    quiet, quiet_heap = traced(lambda: phase(store, integration, sandboxes, "quiet"))
    print(f"- quiet hour: {quiet['calls']['procore']} Procore calls, {quiet['counts'].get('procore_line_reads', 0)} "
          f"line reads (so the same calls as without lines), {quiet['calls'][ERP_VENDOR[kind]]} "
          f"{ERP_VENDOR[kind]} calls, {quiet['wall']:.1f} s; Python heap peak {quiet_heap:.0f} MiB, process peak "
          f"RSS so far {quiet['peak_rss_mib']:.0f} MiB")
    edited = edit_one_percent_of_the_lines(sandboxes, store, integration, random.Random(7))
    hour, hour_heap = traced(lambda: phase(store, integration, sandboxes, "hour"))
    updates = sum(v for k, v in hour["counts"].items() if k.startswith("updated_"))
    print(f"- hour with a line edited on 1 % of the records ({edited}): {hour['calls']['procore']} Procore calls, "
          f"{hour['counts'].get('procore_line_reads', 0)} line reads, {updates} ERP updates, {hour['wall']:.1f} s; "
          f"Python heap peak {hour_heap:.0f} MiB, process peak RSS {hour['peak_rss_mib']:.0f} MiB")
    colours = Counter(row["colour"] for row in store.rows("active_links", integration_id=integration["id"]))
    print(f"  links: {dict(colours)}")


def traced(measured):
    """What ``measured`` returns, and the Python heap's peak while it ran, in MiB."""
    tracemalloc.start()
    try:
        return measured(), tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def list_calls(figures: dict) -> int:
    """The calls that read lists (projects and the four streams, page by page) rather than one record."""
    counts = figures["counts"]
    return counts["streams_read"] + counts["streams_read_ahead"] + 1


if __name__ == "__main__":
    run_each_erp(__doc__.splitlines()[0], ERP_VENDOR, run, FULL)
