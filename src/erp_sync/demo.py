"""``make demo``: the sandboxes, a real ``airflow standalone``, one full cycle of every DAG.

Prepares a project-local ``AIRFLOW_HOME``, starts the vendor sandboxes, registers the Airflow
connections and pools, creates the status store with the demo integrations, starts Airflow
(UI on http://localhost:8080, bound to 127.0.0.1 only, SQLite, LocalExecutor), connects ``admin``'s Procore account
(signing in on the sandbox's sign-in page as the accountant), unpauses and triggers every DAG through
the REST API as ``admin``, waits for the runs, links the reference data the records wait for on the Reference
data tab as the accountant (``erp_sync.reference.demo_step``), syncs again, accepts and rejects on Ready to Export
as her, prints a summary and keeps running until Ctrl-C.
``DEMO_ONCE=1`` stops everything after the first cycle and exits non-zero if a run failed.

The sandboxes are seeded afresh at every start, so every start also begins with a clean status
store: links kept from an earlier demo would point at records the new sandboxes never held.
Whatever ends the demo (Ctrl-C, SIGTERM, a closed terminal's SIGHUP, an error) stops what it started.
"""

from __future__ import annotations

import configparser
import html
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psutil
import requests
import tenacity
from cryptography.fernet import Fernet

from erp_sync.documents.page import exported_with_lines
from erp_sync.models import ErpKind, Integration
from erp_sync.reconcile.demo_step import DEMO_INTEGRATION, show_a_difference, what_differs
from erp_sync.reference.check import REASON_CODE as REFERENCE_UNLINKED
from erp_sync.reference.demo_step import link_on_the_tab, what_became_of
from erp_sync.reports import recent_runs
from erp_sync.store import Store
from erp_sync.sync.links import LinkState
from sandbox import acumatica_data as acumatica
from sandbox import quickbooks_data as quickbooks
from sandbox import procore_data as procore
from sandbox.common import VENDOR_MEANT
from sandbox.procore import sign_in
from sandbox.sage_office import Sage100Office, Sage300Office

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_HOME = Path(os.environ.get("AIRFLOW_HOME", ROOT / ".airflow"))
SANDBOX_PORT = int(os.environ.get("SANDBOX_PORT", "8700"))
SANDBOX_URL = f"http://127.0.0.1:{SANDBOX_PORT}"
AIRFLOW_HOST = "127.0.0.1"  # the demo's UI is for this machine only: admin/admin must not face a network
# Named as the Procore sandbox app's registered redirect URI names it (procore_data.DEMO_REDIRECT_URI).
AIRFLOW_URL = "http://localhost:8080"
USER, PASSWORD = "admin", "admin"
ACCOUNTANT = "avery.admin@summit.example"  # Avery Admin, the controller: the demo's Airflow user acts as her
STORE_FILE = AIRFLOW_HOME / "erp_sync.db"
OPERATIONS_LOG = AIRFLOW_HOME / "operations.log"
RUN_TIMEOUT_SECONDS = 900
AIRFLOW_START_SECONDS = 900  # `airflow standalone` took more than 5 minutes to answer on a busy 2-core machine
SAGE_DIR = AIRFLOW_HOME / "sage"
TERMINAL_STATES = {"success", "failed"}
UNLINK_FORM = "erp_file_unlink_request"
DAILY_SUMMARY = "erp_daily_summary"
LAST = {UNLINK_FORM, DAILY_SUMMARY}  # triggered once the cycle's syncs and decisions are done
# A shell between the demo and each command it starts, in a process group of their own: told by the kernel
# when the demo dies, even by SIGKILL (_terminate_with_parent), it signals the whole group. Signalling
# only `airflow standalone` would leave its scheduler and API server running.
GROUP_GUARD = ["sh", "-c", 'trap "trap - TERM; kill 0" TERM; "$@" & wait', "group-guard"]
UNANSWERED = {"pending", "processing"}
IN_FLIGHT = (LinkState.ACCEPTED, LinkState.EXPORTING, LinkState.EXPORTED)  # accepted, its export not finished


def sage_offices(folder: Path) -> dict[str, Sage300Office | Sage100Office]:
    """The two on-premises ERPs: a Sage database each (SQLite) and the folder Sage imports from."""
    return {"sage300": Sage300Office(f"sqlite:///{folder / 'sage300.db'}", folder / "sage300-import"),
            "sage100": Sage100Office(f"sqlite:///{folder / 'sage100.db'}", folder / "sage100-import")}


def sandbox_connections(sandbox_url: str, offices: dict[str, Sage300Office | Sage100Office]) -> dict[str, dict]:
    """Airflow connections (``--conn-json`` / ``AIRFLOW_CONN_*`` JSON) to the sandboxes and the Sage
    offices, by system: procore, acumatica, quickbooks, sage300, sage100."""
    return {
        "procore": {"conn_type": "http", "host": f"{sandbox_url}/procore", "login": procore.DEMO_CLIENT_ID,
                    "password": procore.DEMO_CLIENT_SECRET, "description": "Procore sandbox",
                    "extra": json.dumps({"token_url": f"{sandbox_url}/procore/oauth/token"})},
        "acumatica": {"conn_type": "http", "host": f"{sandbox_url}/acumatica", "login": acumatica.DEMO_USER,
                      "password": acumatica.DEMO_PASSWORD, "extra": json.dumps({"tenant": acumatica.DEMO_TENANT}),
                      "description": "Acumatica Cloud ERP sandbox"},
        "quickbooks": {"conn_type": "http", "host": f"{sandbox_url}/quickbooks", "login": quickbooks.DEMO_CLIENT_ID,
                       "password": quickbooks.DEMO_CLIENT_SECRET,
                       "extra": json.dumps({"realm_id": quickbooks.DEMO_REALM,
                                            "refresh_token": quickbooks.DEMO_REFRESH_TOKEN,
                                            "retainage_item_id": quickbooks.RETAINAGE_ITEM_ID,
                                            "token_url": f"{sandbox_url}/quickbooks/oauth2/v1/tokens/bearer"}),
                       "description": "QuickBooks Online sandbox"},
        **{system: {"conn_type": "generic", "description": f"{system} sandbox database and import folder",
                    "extra": json.dumps({"sqlalchemy_url": str(office.engine.url),
                                         "import_dir": str(office.import_dir)})}
           for system, office in offices.items()},
    }


def demo_integrations(conn_id_suffix: str) -> list[Integration]:
    """The four sandbox companies, each paired with one ERP; connection ids are the systems'
    names (``procore``, ``acumatica``, ...) followed by ``conn_id_suffix``."""
    pairs = ((procore.DEMO_COMPANY_ID, "summit-acumatica", ErpKind.ACUMATICA, "acumatica"),
             (procore.SECOND_COMPANY_ID, "harbor-quickbooks", ErpKind.QUICKBOOKS_ONLINE, "quickbooks"),
             (procore.SAGE300_COMPANY_ID, "granite-sage300", ErpKind.SAGE_300_CRE, "sage300"),
             (procore.SAGE100_COMPANY_ID, "prairie-sage100", ErpKind.SAGE_100_CONTRACTOR, "sage100"))
    return [Integration(name=name, procore_conn_id=f"procore{conn_id_suffix}", procore_company_id=company,
                        erp_kind=kind, erp_conn_id=f"{system}{conn_id_suffix}")
            for company, name, kind, system in pairs]


SAGE_OFFICES = sage_offices(SAGE_DIR)
DEMO_SIGNING_KEYS = {name: secrets.token_urlsafe(64) for name in ("jwt", "api")}  # this start's, shared by its processes
CONNECTIONS = {
    "erp_sync_db": {"conn_type": "sqlite", "host": str(STORE_FILE), "description": "ERP Sync status store"},
    **{f"{system}_sandbox": fields for system, fields in sandbox_connections(SANDBOX_URL, SAGE_OFFICES).items()},
}
INTEGRATIONS = demo_integrations("_sandbox")


def unlink_form_conf(store: Store, timeout: float) -> dict | None:
    """The unlink form's fields: an invoice of summit-acumatica that the accountant accepted and the ERP
    now holds (RED until it is deleted in Acumatica), filed by the signed-in accountant as themselves;
    None if no accepted invoice reached the ERP. A decision is answered once it is accepted, and its export
    follows in the same run: the invoices still on their way are waited for (up to ``timeout``)."""
    integration = next(row for row in store.integrations() if row["name"] == "summit-acumatica")
    deadline = time.monotonic() + timeout
    while True:
        invoices = {state: store.rows("links_in_state", integration_id=integration["id"], state=state,
                                      record_type="subcontractor_invoice")
                    for state in (LinkState.SYNCED, *IN_FLIGHT)}
        on_their_way = any(invoices[state] for state in IN_FLIGHT)
        if invoices[LinkState.SYNCED] or not on_their_way or time.monotonic() > deadline:
            break
        time.sleep(3)
    if not invoices[LinkState.SYNCED]:
        return None
    return {"integration": "summit-acumatica", "record_type": "subcontractor_invoice",
            "procore_id": invoices[LinkState.SYNCED][0]["procore_id"]}


def connect_procore_account(session: requests.Session, airflow_url: str, login: str,
                            procore_conn_id: str = "procore_sandbox") -> str:
    """What a person does once on Procore account (in the Airflow nav bar), done without a browser: start the
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


SAGE_IMPORT_ROUNDS = 3  # commitments, then their invoices, then nothing left
REJECTION_REASON = "Retention is 5% on this subcontract, not 10%: correct the invoice and resubmit"


def decide_as_accountant(session: requests.Session, airflow_url: str, store: Store,
                         timeout: float = RUN_TIMEOUT_SECONDS) -> dict[str, int]:
    """The accountant's round of Ready to Export, on the page as the signed-in ``session``: on every
    integration she accepts the commitments and subcontractor invoices that wait (not those Ready to Export says
    still wait for links), except one invoice of summit-acumatica, which she rejects with a reason, and the first
    change order (the others stay waiting, so the reconciliation has changes to explain). Waits until
    ``erp_export_decisions`` has answered every decision she filed (read from the status store: the page
    starts the run at once, or its five-minute tick does when Airflow is too busy to start it) and returns
    how many ended in each status."""
    filed = []
    for integration in store.integrations():
        for record_type in ("commitment", "commitment_change_order", "subcontractor_invoice"):
            # Ready to Export says which records still wait for links: she accepts only what can go
            waiting = [row["procore_id"] for row in store.rows("links_in_state", integration_id=integration["id"],
                                                                state="ready", record_type=record_type)
                       if row["reason_code"] != REFERENCE_UNLINKED]
            if record_type == "commitment_change_order":
                waiting = waiting[:1]
            if integration["name"] == "summit-acumatica" and record_type == "subcontractor_invoice" and waiting:
                _decide_on_page(session, airflow_url, integration["name"], record_type, waiting[:1], "reject",
                                REJECTION_REASON)
                filed.append((integration["name"], record_type, waiting[0]))
                waiting = waiting[1:]
            if waiting:
                _decide_on_page(session, airflow_url, integration["name"], record_type, waiting, "accept")
                filed += [(integration["name"], record_type, procore_id) for procore_id in waiting]
    return wait_for_decisions(store, filed, timeout)


def _decide_on_page(session: requests.Session, airflow_url: str, integration: str, record_type: str,
                    procore_ids: list[int], decision: str, reason: str = "") -> None:
    """File the decision as the accountant does; what it led to is read from the store, not from the page."""
    answer = session.post(f"{airflow_url}/erp-sync/integrations/{integration}/ready", timeout=60, data={
        "record_type": record_type, "decision": decision, "reason": reason, "procore_id": procore_ids})
    notice = re.search(r'class="notice"[^>]*>([^<]*)<', answer.text)
    if answer.status_code != 200 or notice is None:
        raise RuntimeError(f"The Ready to Export page refused the {decision}: {answer.status_code} {answer.text[:2000]}")
    print(html.unescape(notice.group(1)))


def wait_for_decisions(store: Store, filed: list[tuple[str, str, int]], timeout: float) -> dict[str, int]:
    """Each filed decision's final status, once none is left unanswered."""
    deadline = time.monotonic() + timeout
    while True:
        latest = {}
        for integration in {name for name, _type, _id in filed}:
            for row in store.rows("export_decisions_of_integration", integration=integration, record_type=None,
                                  limit=1000):
                latest.setdefault((integration, row["record_type"], row["procore_id"]), row["status"])
        statuses = [latest.get(decision, "not filed") for decision in filed]
        if not UNANSWERED.intersection(statuses) or time.monotonic() > deadline:
            return dict(Counter(statuses))
        time.sleep(3)


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
    made once and kept beside the demo's store, so a second run still opens what the first sealed. An
    ``.airflow`` from an older demo already holds connections sealed with the key Airflow wrote into its
    ``airflow.cfg``: that key is kept, or Airflow could not read them any more."""
    key_file = AIRFLOW_HOME / "fernet.key"
    if not key_file.exists():
        AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
        key_file.write_text(airflow_cfg_fernet_key() or Fernet.generate_key().decode())
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def airflow_cfg_fernet_key() -> str | None:
    config = configparser.ConfigParser(interpolation=None)
    config.read(AIRFLOW_HOME / "airflow.cfg")
    return config.get("core", "fernet_key", fallback="").strip() or None


def airflow_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__API__HOST": AIRFLOW_HOST,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(AIRFLOW_HOME / "passwords.json"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        # Signing keys of 64 random bytes, the length Airflow recommends (its own would be shorter).
        "AIRFLOW__API_AUTH__JWT_SECRET": DEMO_SIGNING_KEYS["jwt"],
        "AIRFLOW__API__SECRET_KEY": DEMO_SIGNING_KEYS["api"],
        # Operations' notices (failed runs, new RED links) go to a file the summary shows; production names
        # an SMTP or any other notifier here instead (erp_sync.notify).
        "AIRFLOW__ERP_SYNC__NOTIFIER": "erp_sync.notify.LogNotifier",
        "AIRFLOW__ERP_SYNC__NOTIFIER_KWARGS": json.dumps({"path": str(OPERATIONS_LOG)}),
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


class Processes:
    """Processes started in sessions of their own (so each is stopped with everything it started),
    each writing to a log file; ``stop`` ends them all, politely first."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "ab") as log:
            self.running[name] = subprocess.Popen([*GROUP_GUARD, *command], cwd=ROOT, env=env, stdout=log,
                                                  stderr=subprocess.STDOUT, start_new_session=True,
                                                  preexec_fn=_terminate_with_parent)
        print(f"started {name} (log: {log_path})")

    def exited(self) -> dict[str, int]:
        """Processes that ended by themselves, with their exit codes."""
        return {name: process.returncode for name, process in self.running.items() if process.poll() is not None}

    def stop(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.running.values():
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(deadline - time.monotonic(), 0))
            # What outlives its leader (airflow standalone's scheduler, told to stop before it was up) is
            # given the rest of the grace period, then ended.
            while _group_alive(process.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _group_alive(group: int) -> bool:
    """Whether a process of the group is still running (a zombie has ended; nobody may reap it here)."""
    for process in psutil.process_iter(["status"]):
        with suppress(psutil.Error, ProcessLookupError):
            if process.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(process.pid) == group:
                return True
    return False


class AirflowApi:
    """What the demo (and the production-shape test) do through Airflow's REST API: log in, unpause
    and trigger every DAG, wait for runs."""

    def __init__(self, url: str, sandbox_url: str) -> None:
        self.url, self.sandbox_url = url, sandbox_url
        self.session = requests.Session()

    def login(self, user: str, password: str) -> None:
        response = requests.post(f"{self.url}/auth/token", json={"username": user, "password": password}, timeout=30)
        response.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def api(self, method: str, path: str, repeatable: bool | None = None, **kwargs) -> dict:
        """A call tried again when a busy Airflow answers 5xx or not at all in time (the demo's SQLite metadata
        database serves one writer): reads and changes that can be repeated, and a trigger, which names its own
        ``dag_run_id`` (``repeatable=True``): a 409 then says an earlier try created the run after all."""
        repeatable = method != "POST" if repeatable is None else repeatable

        def busy(error: BaseException) -> bool:
            server_error = (isinstance(error, requests.HTTPError) and error.response is not None
                            and error.response.status_code >= 500)
            return repeatable and (server_error or isinstance(error, (requests.Timeout, requests.ConnectionError)))

        for attempt in tenacity.Retrying(retry=tenacity.retry_if_exception(busy),
                                         wait=tenacity.wait_exponential(multiplier=2, max=20),
                                         stop=tenacity.stop_after_delay(300), reraise=True):
            with attempt:
                response = self.session.request(method, f"{self.url}/api/v2/{path}", timeout=60, **kwargs)
                if not (repeatable and method == "POST" and response.status_code == 409):
                    response.raise_for_status()
        return response.json() if response.content else {}

    def dag_ids(self, timeout: float = 300) -> list[str]:
        expected = len(list((ROOT / "dags").glob("*.py")))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            errors = self.api("GET", "importErrors")
            if errors["total_entries"]:
                raise RuntimeError(f"DAG import errors: {json.dumps(errors['import_errors'], indent=2)}")
            dags = [dag["dag_id"] for dag in self.api("GET", "dags", params={"limit": 100})["dags"]]
            if len(dags) >= expected:
                return sorted(dags)
            time.sleep(2)
        raise TimeoutError(f"Airflow parsed fewer DAGs than the {expected} files in dags/")

    def run_cycle(self, store: Store, timeout: float = RUN_TIMEOUT_SECONDS) -> dict[str, str]:
        """Unpause and trigger every DAG once, then the accountant's round of the Reference data tab, a sync
        that makes the records waiting for those links ready, and her round of Ready to Export on the page;
        the unlink form goes last, since it refuses a record no sync has exported, with the daily summary,
        which reports on what the syncs and the accountant left. The final state of each run."""
        dag_ids = self.dag_ids()
        for dag_id in dag_ids:
            self.api("PATCH", f"dags/{dag_id}", json={"is_paused": False})
        states = self.wait({dag_id: self.trigger(dag_id, {}) for dag_id in dag_ids if dag_id not in LAST}, timeout)
        waited = link_on_the_tab(self.session, self.url, store, VENDOR_MEANT)
        # the records that waited for those links become ready at the next sync, before her acceptance round
        states["erp_hourly_sync (after the links)"] = self.wait(
            {"erp_hourly_sync": self.trigger("erp_hourly_sync", {})}, timeout)["erp_hourly_sync"]
        print("\n".join(what_became_of(store, waited, "after the next sync")))
        decided = decide_as_accountant(self.session, self.url, store, timeout)
        print(f"The accountant's decisions, as erp_export_decisions answered them: {decided}")
        print("\n".join(what_became_of(store, waited, "after her acceptance round")))
        if decided:
            states["erp_export_decisions (the accountant's round)"] = "success" if set(decided) == {"done"} \
                else f"failed: {decided}"
        unlink = unlink_form_conf(store, timeout)
        if unlink is None:
            states[UNLINK_FORM] = "not triggered: no accepted invoice of summit-acumatica reached the ERP in time"
        last = {UNLINK_FORM: unlink} if unlink else {}
        return states | self.wait({dag_id: self.trigger(dag_id, conf)
                                   for dag_id, conf in (last | {DAILY_SUMMARY: {}}).items()}, timeout)

    def trigger(self, dag_id: str, conf: dict) -> str:
        """Start a run under an id of our own, so a trigger repeated after a 5xx cannot start a second run."""
        run_id = f"demo__{datetime.now(UTC):%Y%m%dT%H%M%S}__{secrets.token_hex(3)}"
        self.api("POST", f"dags/{dag_id}/dagRuns", repeatable=True,
                 json={"dag_run_id": run_id, "logical_date": None, "conf": conf})
        print(f"triggered {dag_id}: {run_id}")
        return run_id

    def wait(self, runs: dict[str, str], timeout: float = RUN_TIMEOUT_SECONDS) -> dict[str, str]:
        states = {}
        deadline = time.monotonic() + timeout
        while len(states) < len(runs) and time.monotonic() < deadline:
            for dag_id, run_id in runs.items():
                state = self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}")["state"]
                if state in TERMINAL_STATES:
                    states[dag_id] = state
            time.sleep(3)
        return {dag_id: states.get(dag_id, "timed out") for dag_id in runs}


class Demo(AirflowApi):
    def __init__(self) -> None:
        super().__init__(AIRFLOW_URL, SANDBOX_URL)
        self.env = airflow_env()
        self.processes = Processes(AIRFLOW_HOME)

    def prepare(self) -> None:
        prepare_state()
        self.processes.start("sandbox", [sys.executable, "-m", "sandbox", "--port", str(SANDBOX_PORT)], self.env)
        wait_for(f"{SANDBOX_URL}/procore/openapi.json", "the vendor sandboxes")
        self.airflow("db", "migrate")
        for conn_id, fields in CONNECTIONS.items():
            subprocess.run(["airflow", "connections", "delete", conn_id], env=self.env, capture_output=True)
            self.airflow("connections", "add", conn_id, "--conn-json", json.dumps(fields))
        self.airflow("pools", "import", str(ROOT / "include" / "pools.json"))

    def airflow(self, *args: str) -> None:
        result = subprocess.run(["airflow", *args], env=self.env, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args[:2])} failed:\n{result.stdout}\n{result.stderr}")

    def wait_for_unlink_answers(self) -> None:
        """The queue answers filed requests on its own (the form's asset event starts it): wait for that."""
        store = Store.from_url(f"sqlite:///{STORE_FILE}")
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        while any(row["status"] in UNANSWERED for row in store.rows("recent_unlink_requests", limit=20)):
            if time.monotonic() > deadline:
                raise TimeoutError("the unlink queue did not answer the filed request")
            time.sleep(3)
        store.engine.dispose()

    def sync_after_sages_import(self) -> str:
        """Play the Sage offices' import runs, then sync again, until the offices have nothing left to import:
        the commitments go in first, then the invoices the next sync wrote for them (an invoice waits for its
        subcontract in Sage); the Sage links turn from BLUE to GREEN."""
        state = "success"
        for _round in range(SAGE_IMPORT_ROUNDS):
            imported = {system: len(office.run_imports()) for system, office in SAGE_OFFICES.items()}
            for system, files in imported.items():
                print(f"{system} import run: {files} file(s) imported")
            if not any(imported.values()) or state != "success":
                break
            state = self.wait({"erp_hourly_sync": self.trigger("erp_hourly_sync", {})})["erp_hourly_sync"]
        return state

    def pay_and_import(self) -> str:
        """Act as the ERPs' accountants (a partial check in Acumatica and in Sage 100 Contractor, a card
        payment in QuickBooks), then sync payments on demand, so the demo shows Payments Issued arriving
        in Procore."""
        store = Store.from_url(f"sqlite:///{STORE_FILE}")
        bills = {}
        for integration in store.integrations():
            links = store.rows("active_links", integration_id=integration["id"])
            bills[integration["erp_kind"]] = next((row for row in links if row["record_type"] == "subcontractor_invoice"
                                                   and row["erp_ref"] and row["erp_amount"] is not None), None)
        unpaid = sorted(kind for kind, bill in bills.items() if bill is None)
        if unpaid:
            return f"not triggered: no subcontractor invoice reached {', '.join(unpaid)} to pay"
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

    def show_reconciliation(self) -> str:
        """Act as an Acumatica user who changes the books (a bill keyed in, a subcontract raised); after the next
        sync the reconciliation names both differences with their causes, as its page shows them."""
        store = Store.from_url(f"sqlite:///{STORE_FILE}")
        print(show_a_difference(store, SANDBOX_URL))
        self.wait({"erp_hourly_sync": self.trigger("erp_hourly_sync", {})})
        reconciled = self.wait({"erp_reconciliation": self.trigger("erp_reconciliation",
                                                                   {"integration": DEMO_INTEGRATION})})
        print(what_differs(store, AIRFLOW_URL))
        return reconciled["erp_reconciliation"]


def prepare_state() -> None:
    """The demo's files, as a new start needs them: fresh Sage offices and a clean status store holding
    the demo integrations (the sandboxes are reseeded at every start, so old links would be stale)."""
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    SAGE_DIR.mkdir(exist_ok=True)
    for office in SAGE_OFFICES.values():
        office.create()
    (AIRFLOW_HOME / "passwords.json").write_text(json.dumps({USER: PASSWORD}))
    stale = [path for path in (STORE_FILE, *(STORE_FILE.with_name(STORE_FILE.name + end) for end in ("-wal", "-shm")))
             if path.exists()]
    if stale:
        print(f"Starting from a clean status store: {STORE_FILE} from an earlier demo is removed (the "
              "sandboxes start freshly seeded, so its links would point at records they do not hold).")
    for path in [*stale, OPERATIONS_LOG]:
        path.unlink(missing_ok=True)
    store = Store.from_url(f"sqlite:///{STORE_FILE}")
    store.upgrade()
    for integration in INTEGRATIONS:
        store.save_integration(integration)
    store.engine.dispose()


def _terminate_with_parent() -> None:
    """In the child, before it runs: even a demo killed outright (SIGKILL) takes it along (Linux)."""
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _exit_on_signal(signum: int, _frame) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def stopping_everything(demo: Demo) -> Iterator[None]:
    """Whatever ends the demo stops what it started: Ctrl-C or SIGINT (also when started in the background),
    SIGTERM (``kill``, make killed), SIGHUP (the terminal closed) or an error. SIGKILL leaves no time for
    that: each child's group guard is told by the kernel (``_terminate_with_parent``) and ends its group."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on_signal)
    # A job started in the background (`make demo &`) inherits SIGINT ignored, and Python then leaves it
    # ignored: Ctrl-C and `kill -INT` must stop the demo there too.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        demo.processes.stop()
        print("stopped everything the demo started")


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


def print_documents_with_lines(store: Store) -> None:
    print("\nDocuments exported with their lines, one per ERP (open the URL to see them on the page):")
    for integration in store.integrations():
        print(f"  {exported_with_lines(store, integration, AIRFLOW_URL)}")


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
    notices = OPERATIONS_LOG.read_text().strip() if OPERATIONS_LOG.exists() else "(none)"
    print(f"\nOperations were told (log notifier, {OPERATIONS_LOG}):\n  " + notices.replace("\n", "\n  "))
    print(f"\nPeak memory of the demo (all processes): {peak_bytes / 2**20:.0f} MiB")
    print(f"Airflow UI: {AIRFLOW_URL}  (user {USER}, password {PASSWORD})")
    print(f"ERP Integrations page: {AIRFLOW_URL}/erp-sync/integrations/  (in the Airflow nav bar: "
          "ERP Integrations)")
    print(f"Sandboxes:  {SANDBOX_URL}/docs  (vendor APIs: /procore/docs, /acumatica/sandbox-docs, "
          "/quickbooks/sandbox-docs)")
    print(f"Status store: {STORE_FILE}")


def main() -> int:
    once = os.environ.get("DEMO_ONCE") == "1"
    os.environ["AIRFLOW__CORE__FERNET_KEY"] = demo_fernet_key()
    memory = PeakMemory()
    demo = Demo()
    with stopping_everything(demo):
        try:
            return run(demo, once, memory)
        except KeyboardInterrupt:
            return 0


def run(demo: Demo, once: bool, memory: PeakMemory) -> int:
    demo.prepare()
    demo.processes.start("airflow-standalone", ["airflow", "standalone"], demo.env)
    wait_for(f"{AIRFLOW_URL}/api/v2/monitor/health", "airflow standalone", timeout=AIRFLOW_START_SECONDS)
    demo.login(USER, PASSWORD)
    print(connect_procore_account(demo.session, AIRFLOW_URL, ACCOUNTANT))
    states = demo.run_cycle(Store.from_url(f"sqlite:///{STORE_FILE}"))
    states["erp_hourly_sync (after Sage's import)"] = demo.sync_after_sages_import()
    print_documents_with_lines(Store.from_url(f"sqlite:///{STORE_FILE}"))
    states["erp_payment_import (after ERP payments)"] = demo.pay_and_import()
    states["erp_reconciliation (after an ERP user's changes)"] = demo.show_reconciliation()
    demo.wait_for_unlink_answers()
    print_summary(states, memory.stop())
    print_decisions(Store.from_url(f"sqlite:///{STORE_FILE}"))
    failed = [dag_id for dag_id, state in states.items() if state != "success"]
    if once:
        return 1 if failed else 0
    print("\nRunning until Ctrl-C ...")
    signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
