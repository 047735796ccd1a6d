"""What the benchmarks share: the sandboxes in their own process with the rate limits raised, the
Airflow connections that point at them, and a fresh status store with one integration."""

from __future__ import annotations

import argparse
import resource
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="erp-sync-bench-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# seals what the store keeps of the vendors' and people's tokens (QuickBooks rotates its refresh token)
os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", Fernet.generate_key().decode())

from erp_sync.jobs.hourly_sync import export_integration, refresh_integration  # noqa: E402
from erp_sync.models import ErpKind, ExportMode, Integration  # noqa: E402
from erp_sync.reference.model import ReferenceKind  # noqa: E402
from erp_sync.reference.reading import refresh  # noqa: E402
from erp_sync.reference.tab import confirm_all  # noqa: E402
from erp_sync.store import Store  # noqa: E402
from sandbox import acumatica_data as acumatica  # noqa: E402
from sandbox import quickbooks_data as quickbooks  # noqa: E402
from sandbox import procore_data as procore  # noqa: E402

TABLES = ("work_order_contracts", "purchase_order_contracts", "commitment_change_orders", "requisitions")
ERP_VENDOR = {ErpKind.ACUMATICA: "acumatica", ErpKind.QUICKBOOKS_ONLINE: "quickbooks"}
SAGE_SYSTEM = {ErpKind.SAGE_300_CRE: "sage300", ErpKind.SAGE_100_CONTRACTOR: "sage100"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Sandboxes:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([sys.executable, "-m", "sandbox", "--port", str(self.port)], cwd=ROOT,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/procore/openapi.json", timeout=2).ok:
                    return
            except requests.RequestException:
                time.sleep(0.3)
        raise TimeoutError("the sandboxes did not start")

    def control(self, method: str, path: str, **kwargs) -> requests.Response:
        response = requests.request(method, f"{self.url}/control/{path}", timeout=600, **kwargs)
        response.raise_for_status()
        return response

    def calls(self, vendor: str) -> int:
        return sum(self.control("GET", f"{vendor}/calls").json().values())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def seed(sandboxes: Sandboxes, sizes: dict) -> dict[str, list[dict]]:
    # without the records no link can free (SeedSizes.unlinkable_records): the figures count what is exported
    sandboxes.control("POST", "procore/reset", json={"unlinkable_records": False, **sizes, "companies": 1})
    sandboxes.control("POST", "acumatica/reset")
    sandboxes.control("POST", "quickbooks/reset")
    for vendor in ("procore", "acumatica", "quickbooks"):
        sandboxes.control("DELETE", f"{vendor}/faults")
    sandboxes.control("PUT", "procore/rate_limit", json={"limit": 10**8, "window_seconds": 3600,
                                                         "spike_limit": 10**7, "spike_seconds": 1})
    sandboxes.control("PUT", "acumatica/license", json={"seats": 10, "requests_per_minute": 10**7})
    sandboxes.control("PUT", "quickbooks/limits", json={"per_minute": 10**7, "concurrent": 1000})
    return {table: sandboxes.control("GET", f"procore/{table}").json() for table in TABLES}


def connect(sandboxes: Sandboxes) -> None:
    connections = {
        "procore_bench": {"conn_type": "http", "host": f"{sandboxes.url}/procore",
                          "login": procore.DEMO_CLIENT_ID, "password": procore.DEMO_CLIENT_SECRET,
                          "extra": {"token_url": f"{sandboxes.url}/procore/oauth/token"}},
        "acumatica_bench": {"conn_type": "http", "host": f"{sandboxes.url}/acumatica", "login": acumatica.DEMO_USER,
                            "password": acumatica.DEMO_PASSWORD, "extra": {"tenant": acumatica.DEMO_TENANT}},
        "quickbooks_bench": {"conn_type": "http", "host": f"{sandboxes.url}/quickbooks",
                             "login": quickbooks.DEMO_CLIENT_ID, "password": quickbooks.DEMO_CLIENT_SECRET,
                             "extra": {"realm_id": quickbooks.DEMO_REALM, "refresh_token": quickbooks.DEMO_REFRESH_TOKEN,
                                 "retainage_item_id": retainage_item(sandboxes),
                                       "token_url": f"{sandboxes.url}/quickbooks/oauth2/v1/tokens/bearer"}},
    }
    for conn_id, connection in connections.items():
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(connection)


def retainage_item(sandboxes: Sandboxes) -> str:
    """The QuickBooks item retainage lines go to: the sandbox's "Retainage" service item."""
    return next(item["Id"] for item in sandboxes.control("GET", "quickbooks/Item").json() if item["Name"] == "Retainage")


def new_store(kind: ErpKind, linked: bool = True,
              export_mode: ExportMode = ExportMode.DIRECT) -> tuple[Store, dict]:
    """A fresh store with one integration; ``linked``: its reference data linked first, outside what is measured,
    as the accountant does on the Reference data tab before anything is exported."""
    store = Store.from_url(f"sqlite:///{tempfile.mkdtemp(prefix='erp-sync-bench-')}/store.db")
    store.upgrade()
    store.save_integration(Integration(name=f"bench-{kind.value}", procore_conn_id="procore_bench",
                                       procore_company_id=procore.DEMO_COMPANY_ID, erp_kind=kind,
                                       erp_conn_id=f"{(ERP_VENDOR | SAGE_SYSTEM)[kind]}_bench",
                                       export_mode=export_mode))
    integration = store.integrations()[0]
    if linked:
        link_reference_data(store, integration)
    return store, integration


LINKED_BY = "benchmarks"


def link_reference_data(store: Store, integration: dict) -> None:
    """What the accountant does before the first export: both sides' reference data is read (exact codes link by
    themselves) and she confirms every suggestion the Reference data tab shows."""
    refresh(store, integration, by=LINKED_BY)
    for kind in ReferenceKind:
        confirm_all(store, integration, kind, by=LINKED_BY)


def phase(store: Store, integration: dict, sandboxes: Sandboxes, name: str) -> dict:
    """One hourly sync (export, then refresh): its wall time, each vendor's calls, its counts and peak memory."""
    before = calls(sandboxes)
    started = time.perf_counter()
    exported = export_integration(store, integration, name)
    refreshed = refresh_integration(store, integration, name)
    wall = time.perf_counter() - started
    made = {vendor: n - before[vendor] for vendor, n in calls(sandboxes).items()}
    counts = Counter(exported["counts"]) + Counter(refreshed["counts"])
    return {"wall": wall, "calls": made, "counts": counts,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def calls(sandboxes: Sandboxes) -> dict[str, int]:
    return {vendor: sandboxes.calls(vendor) for vendor in ("procore", "acumatica", "quickbooks")}


def run_each_erp(description: str, kinds, run, full_sizes: dict) -> None:
    """The command line of the sync benchmarks: ``--erp`` (repeatable) and ``--scale`` of the full data set;
    ``run(kind, sizes, sandboxes)`` for each chosen ERP, with the sandboxes started once."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--erp", choices=[kind.value for kind in kinds], action="append")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full data set")
    args = parser.parse_args()
    sizes = {key: max(1, round(value * args.scale)) for key, value in full_sizes.items()}
    sizes["commitments_per_project"] = full_sizes["commitments_per_project"]
    sandboxes = Sandboxes()
    connect(sandboxes)
    try:
        for kind in args.erp or [kind.value for kind in kinds]:
            run(ErpKind(kind), sizes, sandboxes)
    finally:
        sandboxes.stop()
