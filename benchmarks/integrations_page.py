"""ERP Integrations page benchmark: one integration with 20,000 links of each record type (60,000 in all),
of every colour, 2 % of them unlinked, a payment on most synced invoices and a day of hourly runs; the
page is served by Airflow's own API server (with the plugin) over HTTP, signed in, and each view is asked
for repeatedly. Prints the median and slowest response time of each.

    make benchmark                                             # runs this last, on SQLite
    .venv/bin/python benchmarks/integrations_page.py --links 20000 --database postgresql
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal

from common import ROOT, free_port

os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", uuid.uuid4().hex * 2)
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")  # keep the figures apart from request logs

import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402
import uvicorn  # noqa: E402

from erp_sync.models import ErpKind, Integration, RecordType  # noqa: E402
from erp_sync.operations import tally_colours  # noqa: E402
from erp_sync.store import Store, utcnow  # noqa: E402
from erp_sync.sync.records import STREAM_BY_NAME, ProcoreRecord  # noqa: E402

NAME = "bench-page"
POSTGRES_URL = os.environ.get("ERP_SYNC_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
COLOURS = ["GREEN"] * 80 + ["BLUE"] * 8 + ["RED"] * 7 + ["YELLOW"] * 5
PROJECTS, VENDORS = 200, ["Apex Concrete", "Brightline Electric", "Cascade Plumbing", "Delta Steel Erectors"]
STREAMS = {RecordType.COMMITMENT: "work_order_contracts", RecordType.COMMITMENT_CHANGE_ORDER: "commitment_change_orders",
           RecordType.SUBCONTRACTOR_INVOICE: "requisitions"}
REPEATS = 20
INSERT_CHUNK = 2000


def snapshot(record_type: RecordType, n: int) -> ProcoreRecord:
    project = {"id": 10_000 + n % PROJECTS, "name": f"Project {n % PROJECTS:03d}"}
    data = {"id": 1_000_000 * (list(RecordType).index(record_type) + 1) + n, "updated_at": "2026-11-01T10:00:00Z",
            "status": "approved", "vendor": {"id": n % len(VENDORS), "name": VENDORS[n % len(VENDORS)]},
            "project": project, "title": f"Package {n}", "grand_total": f"{1000 + n}.00"}
    if record_type is RecordType.SUBCONTRACTOR_INVOICE:
        data |= {"invoice_number": f"INV-{n:06d}", "number": n, "summary": {"current_payment_due": f"{500 + n}.00"}}
    else:
        data["number"] = f"{'SC' if record_type is RecordType.COMMITMENT else 'CO'}-{n:06d}"
    return ProcoreRecord(STREAM_BY_NAME[STREAMS[record_type]], data)


def fill(store: Store, integration_id: int, links: int) -> None:
    """The links the hourly sync would have written, each record type ``links`` times, and what follows them."""
    now = utcnow()
    for record_type in RecordType:
        for start in range(0, links, INSERT_CHUNK):
            rows = []
            for n in range(start, min(start + INSERT_CHUNK, links)):
                record = snapshot(record_type, n)
                colour = COLOURS[n % len(COLOURS)]
                rows.append({"integration_id": integration_id, "record_type": record_type.value,
                             "procore_id": record.id, "procore_project_id": record.project_id,
                             "procore_number": record.number, "state": "synced" if colour == "GREEN" else "failed",
                             "colour": colour, "message": None if colour == "GREEN" else f"A {colour} reason for {n}.",
                             "reason_code": None, "procore_json": record.snapshot(),
                             "procore_updated_at": record.updated_at, "fingerprint": None, "run_id": None, "now": now})
            with store.transaction() as tx:
                tx.execute_many("insert_link", rows)
        with store.transaction() as tx:
            ended = tx.rows("active_links", integration_id=integration_id)[::50]
            tx.execute_many("end_link", [{"id": row["id"], "now": now, "ended_by": "bench", "reason": "bench"}
                                         for row in ended if row["record_type"] == record_type.value])
    invoices = [row for row in store.rows("active_links", integration_id=integration_id)
                if row["record_type"] == "subcontractor_invoice" and row["colour"] == "GREEN"]
    payments = [{"integration_id": integration_id, "erp_payment_key": f"P{row['id']}", "erp_bill_ref": f"B{row['id']}",
                 "origin_id": f"P{row['id']}/B{row['id']}", "procore_invoice_id": row["procore_id"],
                 "procore_commitment_id": None, "procore_project_id": row["procore_project_id"],
                 "procore_payment_id": row["id"], "amount": Decimal("125.50"), "payment_date": "2026-11-20",
                 "payment_method": "check", "check_number": str(row["id"]), "invoice_number": row["procore_number"],
                 "erp_bill_number": row["procore_number"], "status": "active", "colour": "GREEN", "message": None,
                 "fingerprint": None, "voided_at": None, "erp_modified_at": None, "now": now} for row in invoices]
    with store.transaction() as tx:
        tx.execute_many("upsert_payment", payments)
    for hour in range(24):
        started = now - timedelta(hours=hour)
        for job in ("hourly_export", "hourly_refresh", "payment_import"):
            run_id = store.start_run(job, integration_id, f"scheduled__{started:%Y-%m-%dT%H}")
            store.finish_run(run_id, "success", {"synced": 10}, {"procore": 300 + hour, "acumatica": 90})
        tally_colours(store, integration_id)
    maintenance = "ANALYZE" if store.engine.dialect.name == "sqlite" else "VACUUM ANALYZE"
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as sql:
        sql.execute(sa.text(maintenance))  # as autovacuum (PostgreSQL) or a maintenance job (SQLite) would


class ApiServer:
    """Airflow's API server app (plugins included) served by uvicorn in a thread."""

    def __init__(self) -> None:
        from airflow.api_fastapi.app import create_app

        self.url = f"http://127.0.0.1:{free_port()}"
        config = uvicorn.Config(create_app(apps="core"), host="127.0.0.1", port=int(self.url.rsplit(":", 1)[1]),
                                log_level="critical")
        self.server = uvicorn.Server(config)
        threading.Thread(target=self.server.run, daemon=True).start()
        while not self.server.started:
            time.sleep(0.05)

    def signed_in(self, username: str) -> requests.Session:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

        session = requests.Session()
        session.cookies.set("_token", get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=username,
                                                                                           role="viewer")))
        return session


def store_for(database: str) -> tuple[Store, dict, callable]:
    """A fresh status store, the ``erp_sync_db`` connection the page reads it through, and its clean-up."""
    if database == "sqlite":
        path = f"{tempfile.mkdtemp(prefix='erp-sync-bench-')}/store.db"
        connection, cleanup = {"conn_type": "sqlite", "host": path}, lambda: None
        store = Store.from_url(f"sqlite:///{path}")
    else:
        schema = f"erp_sync_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(POSTGRES_URL)
        with admin.begin() as sql:
            sql.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = sa.engine.make_url(POSTGRES_URL)
        connection = {"conn_type": "postgres", "host": url.host, "port": url.port, "login": url.username,
                      "schema": url.database, "extra": {"sqlalchemy_query": {"options": f"-csearch_path={schema}"}}}
        store = Store.from_url(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})

        def cleanup() -> None:
            store.engine.dispose()
            with admin.begin() as sql:
                sql.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))

    os.environ["AIRFLOW_CONN_ERP_SYNC_DB"] = json.dumps(connection)
    store.upgrade()
    store.save_integration(Integration(name=NAME, procore_conn_id="procore_bench", procore_company_id=1,
                                       erp_kind=ErpKind.ACUMATICA, erp_conn_id="acumatica_bench"))
    return store, store.integrations()[0], cleanup


def views(links: int) -> dict[str, str]:
    last_page = max(1, int(links * 0.8 * 0.98) // 50)
    page = f"/erp-sync/integrations/{NAME}"
    return {
        "integrations list": "/erp-sync/integrations/",
        "commitments, Synced, page 1": f"{page}?record_type=commitment&view=synced",
        f"commitments, Synced, page {last_page}": f"{page}?record_type=commitment&view=synced&page={last_page}",
        "commitments, Failed (RED)": f"{page}?record_type=commitment&view=failed",
        "commitments, Unlinked": f"{page}?record_type=commitment&view=unlinked",
        "commitments, filtered by project": f"{page}?record_type=commitment&view=synced&project=10007",
        "commitments, number search": f"{page}?record_type=commitment&view=synced&number=SC-0123",
        "invoices, Synced, with payments": f"{page}?record_type=subcontractor_invoice&view=synced",
        "operations": f"/erp-sync/operations/{NAME}",
    }


def measure(session: requests.Session, url: str) -> list[float]:
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        answer = session.get(url, timeout=60)
        timings.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=20_000, help="links per record type")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    store, integration, cleanup = store_for(args.database)
    try:
        started = time.perf_counter()
        fill(store, integration["id"], args.links)
        print(f"{args.links:,} links of each record type on {args.database} "
              f"(filled in {time.perf_counter() - started:.0f} s); {REPEATS} requests per view:")
        server = ApiServer()
        session = server.signed_in("bench")
        for name, path in views(args.links).items():
            timings = measure(session, server.url + path)
            print(f"  {name:<36} median {statistics.median(timings):7.1f} ms   slowest {max(timings):7.1f} ms")
        server.server.should_exit = True
    finally:
        cleanup()


if __name__ == "__main__":
    main()
