"""Reconciliation benchmark: the links, ERP views, payments and keyed-in bills an hourly sync leaves for
1,000 projects (5 commitments each, one change order and two invoices per commitment; 5 % of the
commitments changed in the ERP, 2 % of the bills paid but not imported, 1 % of the commitments with a bill
keyed in the ERP), then the time, SQL statements and vendor calls of reconciling them (the first run, which
opens every difference, and the next, which finds them open); then the Reconciliation page at 20,000
commitments, served by Airflow's own API server over HTTP, signed in: median and slowest response of each view.

    make benchmark                                                     # runs this, on SQLite
    .venv/bin/python benchmarks/reconciliation.py --database postgresql --projects 1000 --page-commitments 20000
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from decimal import Decimal

import sqlalchemy as sa
from integrations_page import ApiServer, measure, store_for

from erp_sync.models import RecordType
from erp_sync.reconcile.job import reconcile_integration
from erp_sync.store import Store, utcnow
from erp_sync.sync.records import STREAM_BY_NAME, ProcoreRecord

PER_PROJECT = 5
CHUNK = 2000
STREAMS = {RecordType.COMMITMENT: "work_order_contracts", RecordType.COMMITMENT_CHANGE_ORDER: "commitment_change_orders",
           RecordType.SUBCONTRACTOR_INVOICE: "requisitions"}


def record(record_type: RecordType, n: int, commitment_id: int, project_id: int) -> ProcoreRecord:
    data = {"id": 10_000_000 * (list(RecordType).index(record_type) + 1) + n, "updated_at": "2026-11-01T10:00:00Z",
            "status": "approved", "project": {"id": project_id, "name": f"Project {project_id}"},
            "title": f"Package {n}", "vendor": {"id": 1, "name": "Apex Concrete"}}
    if record_type is RecordType.COMMITMENT:
        data |= {"number": f"SC-{n:06d}", "grand_total": f"{100_000 + n}.00"}
    elif record_type is RecordType.COMMITMENT_CHANGE_ORDER:
        data |= {"number": f"SC-{n:06d}-CO01", "grand_total": f"{1_000 + n % 500}.00", "contract_id": commitment_id}
    else:
        data |= {"number": n, "invoice_number": f"INV-{n:07d}", "commitment_id": commitment_id,
                 "summary": {"current_payment_due": f"{5_000 + n % 900}.00"}}
    return ProcoreRecord(STREAM_BY_NAME[STREAMS[record_type]], data)


def fill(store: Store, integration_id: int, projects: int) -> None:
    """What an hourly export and refresh leave: every link synced and seen by the ERP, with the drift above."""
    now, links, bills, payments = utcnow(), [], [], []
    for c in range(projects * PER_PROJECT):
        project = 500_000 + c // PER_PROJECT
        commitment = record(RecordType.COMMITMENT, c, 0, project)
        drifted = c % 20 == 0
        links.append((commitment, f"SC{c}", commitment.amount + (250 if drifted else 0), None))
        cco = record(RecordType.COMMITMENT_CHANGE_ORDER, c, commitment.id, project)
        links.append((cco, f"CO{c}", cco.amount, None))
        for i in range(2):
            invoice = record(RecordType.SUBCONTRACTOR_INVOICE, 2 * c + i, commitment.id, project)
            unpaid = invoice.amount if (2 * c + i) % 50 else Decimal(0)  # 2 % paid in the ERP, not imported
            links.append((invoice, f"Bill/{2 * c + i}", invoice.amount, unpaid))
        if c % 100 == 7:
            bills.append({"integration_id": integration_id, "erp_ref": f"Bill/K{c}", "commitment_ref": f"SC{c}",
                          "erp_number": f"KEYED-{c}", "amount": Decimal("750.00"), "erp_balance": Decimal("750.00"),
                          "retainage": Decimal("75.00"), "released_from": None, "erp_modified_at": now, "seen_at": now,
                          "gone_at": None})
    table = sa.Table("record_links", sa.MetaData(), autoload_with=store.engine)
    rows = [{"integration_id": integration_id, "record_type": r.record_type.value, "procore_id": r.id,
             "procore_project_id": r.project_id, "procore_number": r.number, "erp_ref": ref,
             "erp_key_json": json.dumps({"entity": "bench"}), "state": "synced", "colour": "GREEN",
             "procore_json": r.snapshot(), "procore_updated_at": r.updated_at, "exported_at": now,
             "erp_present": True, "erp_condition": "open", "erp_amount": amount, "erp_balance": balance,
             "erp_modified_at": now, "erp_seen_at": now, "created_at": now, "updated_at": now}
            for r, ref, amount, balance in links]
    with store.engine.begin() as sql:
        for start in range(0, len(rows), CHUNK):
            sql.execute(sa.insert(table), rows[start:start + CHUNK])
    with store.transaction() as tx:
        tx.execute_many("upsert_erp_bill", bills)
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as sql:
        sql.execute(sa.text("ANALYZE"))


def timed_reconcile(store: Store, integration: dict) -> tuple[float, int, dict]:
    statements = 0

    def count(*_args) -> None:
        nonlocal statements
        statements += 1

    sa.event.listen(store.engine, "before_cursor_execute", count)
    started = time.perf_counter()
    summary = reconcile_integration(store, integration, "bench")
    elapsed = time.perf_counter() - started
    sa.event.remove(store.engine, "before_cursor_execute", count)
    return elapsed, statements, summary


def views(name: str, last_page: int) -> dict[str, str]:
    page = f"/erp-sync/integrations/{name}/reconciliation"
    return {"page 1 (differing first)": page, f"page {last_page}": f"{page}?page={last_page}",
            "only differences": f"{page}?only_differences=1", "cause: changed in the ERP": f"{page}?cause=changed_in_erp",
            "one project": f"{page}?project=500007", "CSV of the differences": f"{page}.csv?only_differences=1"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--page-commitments", type=int, default=20_000)
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)

    store, integration, cleanup = store_for(args.database)
    try:
        fill(store, integration["id"], args.projects)
        print(f"Reconciling {args.projects:,} projects ({args.projects * PER_PROJECT:,} commitments, "
              f"{args.projects * PER_PROJECT * 4:,} links) on {args.database}:")
        for run in ("first run (opens every difference)", "next run (differences stay open)"):
            elapsed, statements, summary = timed_reconcile(store, integration)
            print(f"  {run:<38} {elapsed:6.2f} s  {statements:>4} SQL statements  vendor calls: "
                  f"{sum(summary['api_calls'].values())}  {summary['counts']['differing']:,} commitments differ")
    finally:
        cleanup()

    store, integration, cleanup = store_for(args.database)
    try:
        fill(store, integration["id"], args.page_commitments // PER_PROJECT)
        elapsed, _statements, _summary = timed_reconcile(store, integration)
        print(f"The Reconciliation page at {args.page_commitments:,} commitments (reconciled in {elapsed:.1f} s); "
              "20 requests per view:")
        server = ApiServer()
        session = server.signed_in("bench")
        for name, path in views(integration["name"], args.page_commitments // 50).items():
            timings = measure(session, server.url + path)
            print(f"  {name:<32} median {statistics.median(timings):7.1f} ms   slowest {max(timings):7.1f} ms")
        server.server.should_exit = True
    finally:
        cleanup()


if __name__ == "__main__":
    main()
