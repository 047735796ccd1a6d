"""Quiet-hour benchmark: what the hourly export costs when nothing changed in Procore, against paging
the same Procore lists bare (a ProcoreHook with no budget, no store) through the same sandbox. Prints,
on SQLite and on PostgreSQL, the wall-time ratio (median of interleaved rounds), the store
transactions per Procore call and the export's Procore calls per list page. Goal: at most 1.2x bare
paging, with calls at most 1.02x the pages.

    make benchmark
    .venv/bin/python benchmarks/quiet_hour.py --rounds 7 --store sqlite

40 projects and about 4,300 records (Acumatica, direct export); after a first sync exports them all,
both sides read every project-stream from its bookmark (the budget is raised, so the export reads
ahead every stream not yet due, as it does for a small company). PostgreSQL is the server at
ERP_SYNC_BENCH_POSTGRES (default: the test server), in a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta

import sqlalchemy as sa

from common import Sandboxes, connect, link_reference_data, new_store, seed
from erp_connectors.procore import ProcoreHook
from erp_sync.jobs.hourly_sync import export_integration
from erp_sync.models import ErpKind, ExportMode, Integration
from erp_sync.store import Store, utcnow
from erp_sync.sync.reading import as_time
from erp_sync.sync.records import STREAM_BY_NAME
from sandbox import procore_data as procore

SIZES = {"projects": 40, "commitments_per_project": 25, "change_orders_total": 800, "invoices_total": 2500}
POSTGRES_URL = os.environ.get("ERP_SYNC_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CLOCK_SKEW = timedelta(minutes=5)


class Transactions:
    """Counts the transactions begun on a store's engine."""

    def __init__(self, store: Store):
        self.count = 0
        sa.event.listen(store.engine, "begin", self.begun)

    def begun(self, _connection) -> None:
        self.count += 1


@contextmanager
def postgres_store():
    schema = f"erp_sync_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    store = Store.from_url(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        store.upgrade()
        store.save_integration(Integration(name="bench-acumatica", procore_conn_id="procore_bench",
                                           procore_company_id=procore.DEMO_COMPANY_ID, erp_kind=ErpKind.ACUMATICA,
                                           erp_conn_id="acumatica_bench", export_mode=ExportMode.DIRECT))
        link_reference_data(store, store.integrations()[0])
        yield store, store.integrations()[0]
    finally:
        store.engine.dispose()
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def sqlite_store():
    yield new_store(ErpKind.ACUMATICA)


def bare_paging(integration: dict, bookmarks: list[dict]) -> None:
    """The project list, then every project-stream's list from its bookmark, as the export asks for them."""
    with ProcoreHook("procore_bench", integration["procore_company_id"]) as hook:
        hook.projects()
        until = utcnow() + CLOCK_SKEW
        for row in bookmarks:
            for _page in STREAM_BY_NAME[row["stream"]].pages(hook, row["project_id"], as_time(row["bookmark"]), until):
                pass


def measured(sandboxes: Sandboxes, transactions: Transactions, work) -> tuple[float, int, int]:
    """The wall time of ``work()``, the Procore calls the sandbox answered and the store transactions begun."""
    calls, begun, started = sandboxes.calls("procore"), transactions.count, time.perf_counter()
    work()
    return time.perf_counter() - started, sandboxes.calls("procore") - calls, transactions.count - begun


def run(sandboxes: Sandboxes, kind: str, rounds: int) -> None:
    records = seed(sandboxes, SIZES)
    total = sum(len(rows) for rows in records.values())
    with (sqlite_store if kind == "sqlite" else postgres_store)() as (store, integration):
        transactions = Transactions(store)
        first = export_integration(store, integration, "first")
        print(f"\n## {kind}: {SIZES['projects']} projects, {total} records; the first sync made "
              f"{first['api_calls']['procore']} Procore calls")
        export_integration(store, integration, "settle")  # reads what the first sync wrote back
        bare, export = [], []
        for index in range(rounds):  # interleaved: the machine's load falls on both alike
            bookmarks = store.rows("project_streams_of_integration", integration_id=integration["id"])
            bare.append(measured(sandboxes, transactions, lambda: bare_paging(integration, bookmarks)))
            export.append(measured(sandboxes, transactions,
                                   lambda: export_integration(store, integration, f"quiet-{index}")))
        (bare_wall, pages, _), (export_wall, calls, begun) = median(bare), median(export)
        print(f"- bare paging: median {bare_wall:.2f} s for {pages} calls (the token and one per page); "
              f"rounds {', '.join(f'{wall:.2f}' for wall, *_ in bare)}")
        print(f"- quiet export: median {export_wall:.2f} s for {calls} Procore calls, {begun} store transactions; "
              f"rounds {', '.join(f'{wall:.2f}' for wall, *_ in export)}")
        print(f"- ratio {export_wall / bare_wall:.2f}x bare paging (goal <= 1.2x); calls per page "
              f"{calls / pages:.3f} (goal <= 1.02); store transactions per Procore call {begun / calls:.2f}")


def median(rounds: list[tuple[float, int, int]]) -> tuple[float, int, int]:
    """The median wall time, with the calls and transactions of the last round (every round makes the same)."""
    return statistics.median(wall for wall, *_ in rounds), *rounds[-1][1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds of each (the median counts)")
    parser.add_argument("--store", choices=["sqlite", "postgresql"], action="append")
    args = parser.parse_args()
    sandboxes = Sandboxes()
    connect(sandboxes)
    try:
        for kind in args.store or ["sqlite", "postgresql"]:
            run(sandboxes, kind, args.rounds)
    finally:
        sandboxes.stop()


if __name__ == "__main__":
    main()
