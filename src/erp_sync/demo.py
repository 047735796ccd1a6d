"""``make demo``: the sandboxes, a real ``airflow standalone``, one full cycle of every DAG.

Prepares a project-local ``AIRFLOW_HOME``, starts the vendor sandboxes, registers the Airflow
connections and pools, creates the status store with the demo integrations, starts Airflow
(UI on http://localhost:8080, SQLite, LocalExecutor), connects ``admin``'s Procore account (signing
in on the sandbox's sign-in page as the accountant), unpauses and triggers every DAG through the
REST API as ``admin``, waits for the runs, accepts and rejects on Ready to Export as the accountant,
prints a summary and keeps running until Ctrl-C.
``DEMO_ONCE=1`` stops everything after the first cycle and exits non-zero if a run failed.
"""

from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psutil
import requests
from cryptography.fernet import Fernet

from erp_sync.models import ErpKind, Integration
from erp_sync.reports import recent_runs
from erp_sync.store import Store
from sandbox import acumatica_data as acumatica
from sandbox import quickbooks_data as quickbooks
from sandbox import procore_data as procore
from sandbox.procore import sign_in
from sandbox.sage_office import Sage100Office, Sage300Office

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_HOME = Path(os.environ.get("AIRFLOW_HOME", ROOT / ".airflow"))
SANDBOX_PORT = int(os.environ.get("SANDBOX_PORT", "8700"))
SANDBOX_URL = f"http://127.0.0.1:{SANDBOX_PORT}"
AIRFLOW_URL = "http://localhost:8080"
USER, PASSWORD = "admin", "admin"
ACCOUNTANT = "avery.admin@summit.example"  # Avery Admin, the controller: the demo's Airflow user acts as her
STORE_FILE = AIRFLOW_HOME / "erp_sync.db"
RUN_TIMEOUT_SECONDS = 900
SAGE_DIR = AIRFLOW_HOME / "sage"
# The two on-premises ERPs: a Sage database each (SQLite) and the folder Sage imports from.
SAGE_OFFICES = {"sage300": Sage300Office(f"sqlite:///{SAGE_DIR / 'sage300.db'}", SAGE_DIR / "sage300-import"),
                "sage100": Sage100Office(f"sqlite:///{SAGE_DIR / 'sage100.db'}", SAGE_DIR / "sage100-import")}
TERMINAL_STATES = {"success", "failed"}

CONNECTIONS = {
    "erp_sync_db": {"conn_type": "sqlite", "host": str(STORE_FILE),
                    "description": "ERP Sync status store"},
    "procore_sandbox": {"conn_type": "http", "host": f"{SANDBOX_URL}/procore", "login": procore.DEMO_CLIENT_ID,
                        "password": procore.DEMO_CLIENT_SECRET, "description": "Procore sandbox",
                        "extra": json.dumps({"token_url": f"{SANDBOX_URL}/procore/oauth/token"})},
    "acumatica_sandbox": {"conn_type": "http", "host": f"{SANDBOX_URL}/acumatica", "login": acumatica.DEMO_USER,
                          "password": acumatica.DEMO_PASSWORD, "extra": json.dumps({"tenant": acumatica.DEMO_TENANT}),
                          "description": "Acumatica Cloud ERP sandbox"},
    "quickbooks_sandbox": {"conn_type": "http", "host": f"{SANDBOX_URL}/quickbooks", "login": quickbooks.DEMO_CLIENT_ID,
                           "password": quickbooks.DEMO_CLIENT_SECRET,
                           "extra": json.dumps({"realm_id": quickbooks.DEMO_REALM,
                                                "refresh_token": quickbooks.DEMO_REFRESH_TOKEN,
                                                "token_url": f"{SANDBOX_URL}/quickbooks/oauth2/v1/tokens/bearer"}),
                           "description": "QuickBooks Online sandbox"},
    **{f"{system}_sandbox": {"conn_type": "generic", "description": f"{system} sandbox database and import folder",
                             "extra": json.dumps({"sqlalchemy_url": str(office.engine.url),
                                                  "import_dir": str(office.import_dir)})}
       for system, office in SAGE_OFFICES.items()},
}
INTEGRATIONS = [
    Integration(name="summit-acumatica", procore_conn_id="procore_sandbox", procore_company_id=procore.DEMO_COMPANY_ID,
                erp_kind=ErpKind.ACUMATICA, erp_conn_id="acumatica_sandbox"),
    Integration(name="harbor-quickbooks", procore_conn_id="procore_sandbox",
                procore_company_id=procore.SECOND_COMPANY_ID, erp_kind=ErpKind.QUICKBOOKS_ONLINE,
                erp_conn_id="quickbooks_sandbox"),
    Integration(name="granite-sage300", procore_conn_id="procore_sandbox", procore_company_id=procore.SAGE300_COMPANY_ID,
                erp_kind=ErpKind.SAGE_300_CRE, erp_conn_id="sage300_sandbox"),
    Integration(name="prairie-sage100", procore_conn_id="procore_sandbox", procore_company_id=procore.SAGE100_COMPANY_ID,
                erp_kind=ErpKind.SAGE_100_CONTRACTOR, erp_conn_id="sage100_sandbox"),
]


def trigger_conf(dag_id: str) -> dict:
    """Conf for the DAG whose trigger form has required fields: an unlink request for an approved invoice
    (RED until it is deleted in Acumatica), filed by the signed-in accountant as themselves."""
    if dag_id == "erp_file_unlink_request":
        invoices = requests.get(f"{SANDBOX_URL}/control/procore/requisitions", timeout=30).json()
        approved = next(row for row in invoices if row["status"] == "approved")
        return {"integration": "summit-acumatica", "record_type": "subcontractor_invoice",
                "procore_id": approved["id"]}
    return {}


def connect_procore_account(session: requests.Session, airflow_url: str, login: str,
                            procore_conn_id: str = "procore_sandbox") -> str:
    """What a person does once on ERP Sync → Procore account, done without a browser: start the
    connection, sign in on Procore's sign-in page with ``login``, and come back to Airflow,
    which exchanges the code and asks Procore who signed in. ``session`` carries the person's Airflow
    sign-in. Returns the page's answer."""
    start = session.get(f"{airflow_url}/erp-sync/identity/connect", params={"conn_id": procore_conn_id},
                        allow_redirects=False, timeout=30)
    if start.status_code != 302:
        raise RuntimeError(f"ERP Sync's Procore account page did not start the sign-in: {start.status_code} {start.text}")
    back = sign_in(start.headers["location"], login, procore.SIGN_INS[login])
    answer = session.get(back, timeout=30)
    answer.raise_for_status()
    return html.unescape(re.search(r'class="notice">([^<]*)<', answer.text).group(1))


REJECTION_REASON = "Retention is 5% on this subcontract, not 10%: correct the invoice and resubmit"


def decide_as_accountant(session: requests.Session, airflow_url: str, store: Store) -> list[str]:
    """The accountant's round of Ready to Export, on the page as the signed-in ``session``: on every
    integration she accepts the commitments and subcontractor invoices that wait, except one invoice of
    summit-acumatica, which she rejects with a reason; the change orders stay waiting. Returns the runs
    of ``erp_export_decisions`` her decisions started."""
    runs = []
    for integration in store.integrations():
        for record_type in ("commitment", "subcontractor_invoice"):
            waiting = [row["procore_id"] for row in store.rows("links_in_state", integration_id=integration["id"],
                                                                state="ready", record_type=record_type)]
            if integration["name"] == "summit-acumatica" and record_type == "subcontractor_invoice" and waiting:
                runs.append(_decide_on_page(session, airflow_url, integration["name"], record_type, waiting[:1],
                                            "reject", REJECTION_REASON))
                waiting = waiting[1:]
            if waiting:
                runs.append(_decide_on_page(session, airflow_url, integration["name"], record_type, waiting, "accept"))
    return runs


def _decide_on_page(session: requests.Session, airflow_url: str, integration: str, record_type: str,
                    procore_ids: list[int], decision: str, reason: str = "") -> str:
    answer = session.post(f"{airflow_url}/erp-sync/integrations/{integration}/ready", timeout=60, data={
        "record_type": record_type, "decision": decision, "reason": reason, "procore_id": procore_ids})
    notice = re.search(r'class="notice" role="status">([^<]*)<', answer.text)
    if answer.status_code != 200 or notice is None:
        raise RuntimeError(f"The Ready to Export page refused the {decision}: {answer.status_code} {answer.text[:2000]}")
    print(html.unescape(notice.group(1)))
    return re.search(r"\(run ([^)]+)\)", notice.group(1)).group(1)


def print_decisions(store: Store) -> None:
    """What accounting decided, and what still waits under Ready to Export."""
    print("\nAccounting acceptance (export_decisions, and what waits under Ready to Export):")
    for integration in store.integrations():
        for row in reversed(store.rows("export_decisions_of_integration", integration=integration["name"],
                                       record_type=None, limit=100)):
            print(f"  {integration['name']:<20} {row['decision']:<6} {row['record_type']:<22} {row['procore_id']} by "
                  f"{row['filed_by']}: {row['status']} {row['colour'] or ''} {row['message'] or ''}")
        waiting = store.rows("links_in_state", integration_id=integration["id"], state="ready", record_type=None)
        print(f"  {integration['name']:<20} {len(waiting)} record(s) waiting under Ready to Export "
              f"(/erp-sync/integrations/{integration['name']}/ready)")


def demo_fernet_key() -> str:
    """The Fernet key every Airflow process of the demo shares (it seals the credentials ERP Sync keeps),
    made once and kept beside the demo's store, so a second run still opens what the first sealed."""
    key_file = AIRFLOW_HOME / "fernet.key"
    if not key_file.exists():
        AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
        key_file.write_text(Fernet.generate_key().decode())
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def airflow_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(AIRFLOW_HOME / "passwords.json"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
    })
    return env


class PeakMemory:
    """Samples the resident memory of this process and everything it started."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.5):
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


class Demo:
    def __init__(self) -> None:
        self.env = airflow_env()
        self.processes: list[subprocess.Popen] = []
        self.session = requests.Session()

    def prepare(self) -> None:
        AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
        SAGE_DIR.mkdir(exist_ok=True)
        for office in SAGE_OFFICES.values():
            office.create()
        (AIRFLOW_HOME / "passwords.json").write_text(json.dumps({USER: PASSWORD}))
        self.start("sandbox", [sys.executable, "-m", "sandbox", "--port", str(SANDBOX_PORT)])
        wait_for(f"{SANDBOX_URL}/procore/openapi.json", "the vendor sandboxes")
        self.airflow("db", "migrate")
        for conn_id, fields in CONNECTIONS.items():
            subprocess.run(["airflow", "connections", "delete", conn_id], env=self.env, capture_output=True)
            self.airflow("connections", "add", conn_id, "--conn-json", json.dumps(fields))
        self.airflow("pools", "import", str(ROOT / "include" / "pools.json"))
        store = Store.from_url(f"sqlite:///{STORE_FILE}")
        store.upgrade()
        for integration in INTEGRATIONS:
            store.save_integration(integration)

    def start(self, name: str, command: list[str]) -> None:
        log = open(AIRFLOW_HOME / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.processes.append(subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True))
        print(f"started {name} (log: {log.name})")

    def airflow(self, *args: str) -> None:
        result = subprocess.run(["airflow", *args], env=self.env, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args[:2])} failed:\n{result.stdout}\n{result.stderr}")

    def login(self) -> None:
        response = requests.post(f"{AIRFLOW_URL}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=30)
        response.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def api(self, method: str, path: str, **kwargs) -> dict:
        response = self.session.request(method, f"{AIRFLOW_URL}/api/v2/{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else {}

    def dag_ids(self) -> list[str]:
        expected = len(list((ROOT / "dags").glob("*.py")))
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            errors = self.api("GET", "importErrors")
            if errors["total_entries"]:
                raise RuntimeError(f"DAG import errors: {json.dumps(errors['import_errors'], indent=2)}")
            dags = [dag["dag_id"] for dag in self.api("GET", "dags", params={"limit": 100})["dags"]]
            if len(dags) >= expected:
                return sorted(dags)
            time.sleep(2)
        raise TimeoutError(f"Airflow parsed fewer DAGs than the {expected} files in dags/")

    def run_cycle(self) -> dict[str, str]:
        runs = {}
        for dag_id in self.dag_ids():
            self.api("PATCH", f"dags/{dag_id}", json={"is_paused": False})
            runs[dag_id] = self.trigger(dag_id, trigger_conf(dag_id))
        return self.wait(runs)

    def trigger(self, dag_id: str, conf: dict) -> str:
        run = self.api("POST", f"dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
        print(f"triggered {dag_id}: {run['dag_run_id']}")
        return run["dag_run_id"]

    def wait(self, runs: dict[str, str]) -> dict[str, str]:
        states = {}
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        while len(states) < len(runs) and time.monotonic() < deadline:
            for dag_id, run_id in runs.items():
                state = self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}")["state"]
                if state in TERMINAL_STATES:
                    states[dag_id] = state
            time.sleep(3)
        return {dag_id: states.get(dag_id, "timed out") for dag_id in runs}

    def sync_after_sages_import(self) -> str:
        """Play the Sage offices' import runs, then sync again: the Sage links turn from BLUE to GREEN."""
        for system, office in SAGE_OFFICES.items():
            print(f"{system} import run: {len(office.run_imports())} file(s) imported")
        return self.wait({"erp_hourly_sync": self.trigger("erp_hourly_sync", {})})["erp_hourly_sync"]

    def pay_and_import(self) -> str:
        """Act as the ERPs' accountants (a partial check in Acumatica and in Sage 100 Contractor, a card
        payment in QuickBooks), then sync payments on demand, so the demo shows Payments Issued arriving
        in Procore."""
        store = Store.from_url(f"sqlite:///{STORE_FILE}")
        bills = {}
        for integration in store.integrations():
            links = store.rows("active_links", integration_id=integration["id"])
            bills[integration["erp_kind"]] = next(row for row in links
                                                  if row["record_type"] == "subcontractor_invoice" and row["erp_ref"])
        acumatica_bill, quickbooks_bill = bills["acumatica"], bills["quickbooks_online"]
        control = f"{SANDBOX_URL}/control"
        requests.post(f"{control}/acumatica/payments", timeout=30, json={
            "bill": acumatica_bill["erp_ref"].split("/")[-1], "check_number": "10001",
            "amount": str((acumatica_bill["erp_amount"] * 4 / 10).quantize(acumatica_bill["erp_amount"]))},
        ).raise_for_status()
        requests.post(f"{control}/quickbooks/payments", timeout=30, json={
            "bills": {quickbooks_bill["erp_ref"]: str(quickbooks_bill["erp_amount"])}, "pay_type": "CreditCard",
            "doc_number": "CC-2001"}).raise_for_status()
        sage100_invoice = bills["sage100_contractor"]
        half = (sage100_invoice["erp_amount"] / 2).quantize(Decimal("0.01"))
        SAGE_OFFICES["sage100"].pay(int(sage100_invoice["erp_ref"]), half, "5001", datetime.now(UTC).date())
        return self.wait({"erp_payment_import": self.trigger("erp_payment_import", {})})["erp_payment_import"]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def wait_for(url: str, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=5).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise TimeoutError(f"{what} did not answer at {url} within {timeout:.0f} s")


def print_summary(states: dict[str, str], peak_bytes: int) -> None:
    print("\n=== ERP Sync demo: one cycle ===")
    for dag_id, state in states.items():
        print(f"  {dag_id:<42} {state}")
    store = Store.from_url(f"sqlite:///{STORE_FILE}")
    print("\nRecorded in the status store (python -m erp_sync runs):")
    print(recent_runs(store, limit=30).drop(columns=["id"]).to_string(index=False, max_colwidth=90))
    print("\nRecord links by colour (record_links):")
    for row in store.rows("links_by_colour"):
        print(f"  {row['integration']:<20} {row['record_type']:<26} {row['colour']:<7} {row['links']}")
    payments = requests.get(f"{SANDBOX_URL}/control/procore/contract_payments", timeout=30).json()
    print("\nPayments Issued in Procore (contract_payments):")
    for payment in payments:
        print(f"  commitment {payment['contract_id']}: {payment['amount']} by {payment['payment_method']} "
              f"#{payment['check_number']} for invoice {payment['invoice_number']} ({payment['origin_data']})")
    print("\nUnlink requests (unlink_requests):")
    for row in store.rows("recent_unlink_requests", limit=5):
        print(f"  #{row['id']} {row['integration']} {row['record_type']} {row['procore_id']}: "
              f"{row['status']} {row['colour'] or ''} {row['message'] or ''}")
    print(f"\nPeak memory of the demo (all processes): {peak_bytes / 2**20:.0f} MiB")
    print(f"Airflow UI: {AIRFLOW_URL}  (user {USER}, password {PASSWORD})")
    print(f"ERP Integrations page: {AIRFLOW_URL}/erp-sync/integrations/  (in the Airflow nav: ERP Sync → "
          "ERP Integrations)")
    print(f"Sandboxes:  {SANDBOX_URL}/docs  (vendor APIs: /procore/docs, /acumatica/sandbox-docs, "
          "/quickbooks/sandbox-docs)")
    print(f"Status store: {STORE_FILE}")


def main() -> int:
    once = os.environ.get("DEMO_ONCE") == "1"
    os.environ["AIRFLOW__CORE__FERNET_KEY"] = demo_fernet_key()
    memory = PeakMemory()
    demo = Demo()
    try:
        demo.prepare()
        demo.start("airflow-standalone", ["airflow", "standalone"])
        wait_for(f"{AIRFLOW_URL}/api/v2/monitor/health", "airflow standalone", timeout=300)
        demo.login()
        print(connect_procore_account(demo.session, AIRFLOW_URL, ACCOUNTANT))
        states = demo.run_cycle()
        decided = decide_as_accountant(demo.session, AIRFLOW_URL, Store.from_url(f"sqlite:///{STORE_FILE}"))
        if decided:  # her runs go one after another: the last one ends her round
            states["erp_export_decisions (the accountant's round)"] = demo.wait(
                {"erp_export_decisions": decided[-1]})["erp_export_decisions"]
        states["erp_hourly_sync (after Sage's import)"] = demo.sync_after_sages_import()
        states["erp_payment_import (after ERP payments)"] = demo.pay_and_import()
        print_summary(states, memory.peak)
        print_decisions(Store.from_url(f"sqlite:///{STORE_FILE}"))
        failed = [dag_id for dag_id, state in states.items() if state != "success"]
        if once:
            return 1 if failed else 0
        print("\nRunning until Ctrl-C ...")
        signal.pause()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        demo.stop()
        print(f"stopped everything the demo started (peak memory {memory.stop() / 2**20:.0f} MiB)")


if __name__ == "__main__":
    sys.exit(main())
