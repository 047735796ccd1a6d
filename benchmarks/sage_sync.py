"""Sage benchmark: the hourly sync against Sage 300 CRE and Sage 100 Contractor (Sage's tables in
SQLite, the Procore sandbox in its own process). Prints, per phase, wall time, Procore calls, Sage
statements and rows read, import files written, and peak memory:

- first export (every approved record queued as an import file), then Sage's import run (the
  sandbox's, timed apart: it is Sage's work, not the pipeline's);
- the syncs that adopt what Sage imported, until nothing waits (CCOs follow their commitments);
- a quiet hour: Sage 100 Contractor reads only rows changed since (`upddte`) and its key lists;
  Sage 300 CRE reads its tables whole and compares them with the last read;
- an hour in which 1 % of the linked invoices were paid in Sage.

    .venv/bin/python benchmarks/sage_sync.py                 # 200 projects, 21,500 Procore records
    .venv/bin/python benchmarks/sage_sync.py --scale 0.1 --erp sage100_contractor
"""

from __future__ import annotations

import json
import os
import random
import resource
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

from common import Sandboxes, calls, new_store, run_each_erp, seed
from erp_sync.jobs.hourly_sync import export_integration, refresh_integration
from erp_sync.models import ErpKind
from sandbox.sage_office import Sage100Office, Sage300Office

FULL = {"projects": 200, "commitments_per_project": 25, "change_orders_total": 1500, "invoices_total": 15000}
OFFICES = {ErpKind.SAGE_300_CRE: ("sage300", Sage300Office), ErpKind.SAGE_100_CONTRACTOR: ("sage100", Sage100Office)}


def open_office(kind: ErpKind):
    system, office_class = OFFICES[kind]
    folder = Path(tempfile.mkdtemp(prefix=f"erp-sync-bench-{system}-"))
    office = office_class(f"sqlite:///{folder / 'sage.db'}", folder / "import")
    office.create()
    os.environ[f"AIRFLOW_CONN_{system.upper()}_BENCH"] = json.dumps(
        {"conn_type": "generic", "extra": {"sqlalchemy_url": str(office.engine.url), "import_dir": str(office.import_dir)}})
    return system, office


def phase(title: str, steps, store, integration, sandboxes: Sandboxes, system: str) -> Counter:
    before = calls(sandboxes)["procore"]
    started = time.perf_counter()
    counts: Counter = Counter()
    sage_calls = 0
    for step in steps:
        summary = step(store, integration, title)
        counts += Counter(summary["counts"])
        sage_calls += summary["api_calls"].get(system, 0)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"- {title}: {wall:.1f} s wall, Procore {calls(sandboxes)['procore'] - before} calls, {system} "
          f"{sage_calls} statements reading {counts[f'{system}_rows_read']} rows, "
          f"{counts[f'{system}_files_written']} import files written, peak RSS {peak:.0f} MiB")
    interesting = {k: v for k, v in counts.items() if not k.startswith((system, "read_"))}
    print(f"  counts: {dict(sorted(interesting.items()))}")
    return counts


def run(kind: ErpKind, sizes: dict, sandboxes: Sandboxes) -> None:
    records = seed(sandboxes, sizes)
    system, office = open_office(kind)
    store, integration = new_store(kind)
    total = sum(len(rows) for rows in records.values())
    print(f"\n## {kind.display_name}: {sizes['projects']} projects, {total} Procore records")
    export, both = [export_integration], [export_integration, refresh_integration]

    phase("first export", export, store, integration, sandboxes, system)
    for round_number in range(1, 4):
        started = time.perf_counter()
        imported = office.run_imports()
        print(f"  (Sage's import run {round_number}: {len(imported)} files in {time.perf_counter() - started:.1f} s)")
        counts = phase(f"sync after import run {round_number}", both, store, integration, sandboxes, system)
        if not counts["queued_for_import"]:
            break
    phase("quiet hour", both, store, integration, sandboxes, system)

    invoices = [row for row in store.rows("active_links", integration_id=integration["id"])
                if row["record_type"] == "subcontractor_invoice" and row["erp_ref"]]
    for link in random.Random(7).sample(invoices, max(1, len(invoices) // 100)):
        key = json.loads(link["erp_key_json"])
        if kind is ErpKind.SAGE_300_CRE:
            office.pay(key["Vendor"], key["Invoice"], "100.00", f"B{link['id']}", date(2026, 11, 20))
        else:
            office.pay(key["recnum"], "100.00", f"B{link['id']}", date(2026, 11, 20))
    phase("hour with 1 % of the invoices paid in Sage", both, store, integration, sandboxes, system)
    colours = Counter(row["colour"] for row in store.rows("active_links", integration_id=integration["id"]))
    print(f"  links: {dict(colours)}")
    office.dispose()


if __name__ == "__main__":
    run_each_erp(__doc__.splitlines()[0], OFFICES, run, FULL)
