"""Ready to Export benchmark: what checking waiting records' lines costs with accounting acceptance on. Every
approved commitment, CCO and subcontractor invoice waits; each one's lines are read once (a CCO's or invoice's
once its commitment's are known) and kept. Prints the first sync's Procore calls and line reads against the
records waiting, what they wait for, and then quiet hours: the Procore calls (the lists only, no line read) and
the wall time of each, with the records the sync looks at again though Procore did not change them.

    .venv/bin/python benchmarks/ready_lines.py --rounds 3

SQLite store, Acumatica, 20 projects (one company) with about 1,600 records.
"""

from __future__ import annotations

import argparse
from collections import Counter

from common import Sandboxes, connect, new_store, phase, seed
from erp_sync.models import ErpKind, ExportMode

SIZES = {"projects": 20, "commitments_per_project": 12, "change_orders_total": 400, "invoices_total": 1000}


def run(sandboxes: Sandboxes, rounds: int) -> None:
    records = seed(sandboxes, SIZES)
    store, integration = new_store(ErpKind.ACUMATICA, export_mode=ExportMode.ACCEPTANCE)
    first = phase(store, integration, sandboxes, "first")
    waiting = store.rows("links_in_state", integration_id=integration["id"], state="ready", record_type=None)
    reasons = Counter(row["reason_code"] or "waiting for acceptance" for row in waiting)
    print(f"\n## {SIZES['projects']} projects, {sum(len(rows) for rows in records.values())} records, "
          f"{len(waiting)} waiting for acceptance")
    print(f"- first sync: {first['wall']:.2f} s, {first['calls']['procore']} Procore calls, "
          f"{first['counts']['procore_line_reads']} of them line reads; waiting for: "
          + ", ".join(f"{reason} {count}" for reason, count in reasons.most_common()))
    for index in range(rounds):
        quiet = phase(store, integration, sandboxes, f"quiet-{index}")
        print(f"- quiet hour {index + 1}: {quiet['wall']:.2f} s, {quiet['calls']['procore']} Procore calls, "
              f"{quiet['counts'].get('procore_line_reads', 0)} line reads, {quiet['counts'].get('retried', 0)} "
              "waiting records looked at again")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="quiet hours after the first sync")
    args = parser.parse_args()
    sandboxes = Sandboxes()
    connect(sandboxes)
    try:
        run(sandboxes, args.rounds)
    finally:
        sandboxes.stop()


if __name__ == "__main__":
    main()
