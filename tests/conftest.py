"""Fixtures: a throw-away Airflow home, the vendor sandboxes over real HTTP, and status stores on
SQLite and PostgreSQL (a schema of its own per test, dropped afterwards)."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="erp-sync-airflow-"))
os.environ.update({
    "AIRFLOW_HOME": str(AIRFLOW_HOME),
    "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),  # seals the credentials the store keeps
    "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),  # signs the Airflow sign-ins of the UI tests
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
})

import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402
import uvicorn  # noqa: E402

from erp_sync.jobs.hourly_sync import export_integration, refresh_integration  # noqa: E402
from erp_sync.models import ErpKind, ExportMode, Integration  # noqa: E402
from erp_sync.store import Store  # noqa: E402
from sandbox.acumatica_data import DEMO_PASSWORD as ACUMATICA_PASSWORD  # noqa: E402
from sandbox.acumatica_data import DEMO_TENANT as ACUMATICA_TENANT  # noqa: E402
from sandbox.acumatica_data import DEMO_USER as ACUMATICA_USER  # noqa: E402
from sandbox.app import Sandboxes, create_app  # noqa: E402
from sandbox.procore_data import (  # noqa: E402
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_COMPANY_ID,
    DEMO_REDIRECT_URIS,
    SAGE100_COMPANY_ID,
    SAGE300_COMPANY_ID,
    SECOND_COMPANY_ID,
    SeedSizes,
)
from sandbox.quickbooks_data import DEMO_CLIENT_ID as QBO_CLIENT_ID  # noqa: E402
from sandbox.quickbooks_data import DEMO_CLIENT_SECRET as QBO_CLIENT_SECRET  # noqa: E402
from sandbox.quickbooks_data import DEMO_REALM as QBO_REALM  # noqa: E402
from sandbox.quickbooks_data import DEMO_REFRESH_TOKEN as QBO_REFRESH_TOKEN  # noqa: E402

from sandbox.sage_office import Sage100Office, Sage300Office  # noqa: E402
from seed_links import link_sandbox_references  # noqa: E402

POSTGRES_URL = os.environ.get("ERP_SYNC_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("ERP_SYNC_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServedApp:
    """An ASGI app served over real HTTP by uvicorn in a thread, on a free port."""

    def __init__(self, app, name: str, start_seconds: float = 20) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        config = uvicorn.Config(app, host="127.0.0.1", port=int(self.url.rsplit(":", 1)[1]), log_level="critical",
                                timeout_keep_alive=30)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + start_seconds
        while not self.server.started:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class SandboxServer(ServedApp):
    """The sandboxes, with helpers to act through the control API."""

    def __init__(self) -> None:
        self.sandboxes = Sandboxes()
        super().__init__(create_app(self.sandboxes), "sandbox server")

    def control(self, method: str, path: str, **kwargs) -> requests.Response:
        response = requests.request(method, f"{self.url}/control/{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response

    def reset(self, **sizes) -> None:
        # The records no link can free (and the project without an ERP job) only where a test asks for them: the
        # others count on every approved record reaching the ERP once the sandbox's links are seeded.
        sizes.setdefault("unlinkable_records", False)
        self.control("POST", "procore/reset", json=SeedSizes(**sizes).model_dump())
        self.control("POST", "acumatica/reset")
        self.control("POST", "quickbooks/reset")
        for vendor in self.sandboxes.traffic:
            self.control("DELETE", f"{vendor}/faults")
        self.control("PUT", "procore/rate_limit", json={})
        # A test may register another redirect URI for the app (the production shape's API server): undo it.
        self.control("PUT", f"procore/apps/{DEMO_CLIENT_ID}/redirect_uris", json=list(DEMO_REDIRECT_URIS))

    def fault(self, vendor: str, **rule) -> None:
        self.control("POST", f"{vendor}/faults", json=rule)

    def procore_rows(self, table: str) -> list[dict]:
        return self.control("GET", f"procore/{table}").json()

    def procore_lines(self, table: str, record_id: int) -> list[dict]:
        return self.control("GET", f"procore/{table}/{record_id}/lines").json()

    def bill_more(self, requisition_id: int, amount: str, line: int = 0) -> Decimal:
        """A subcontractor bills ``amount`` more work on one line of an invoice, retained at the line's percent
        as Procore retains it; the invoice's summary follows its lines. Returns the retainage added."""
        items = self.procore_lines("requisitions", requisition_id)
        item = items[line]
        for field in ("work_completed_this_period", "total_completed_and_stored_to_date"):
            item[field] = f"{Decimal(item[field]) + Decimal(amount):.2f}"
        retained = (Decimal(amount) * Decimal(item["work_completed_retainage_percent_this_period"]) / 100).quantize(
            Decimal("0.01"), ROUND_HALF_UP)
        item["work_completed_retainage_retained_this_period"] = \
            f"{Decimal(item['work_completed_retainage_retained_this_period']) + retained:.2f}"
        self.control("PUT", f"procore/requisitions/{requisition_id}/lines", json=items)
        return retained

    def erp_rows(self, vendor: str, entity: str) -> list[dict]:
        return self.control("GET", f"{vendor}/{entity}").json()

    def calls(self, vendor: str) -> int:
        return sum(self.control("GET", f"{vendor}/calls").json().values())

    def connections(self) -> dict[str, dict]:
        """Airflow connections (as AIRFLOW_CONN_* JSON) that point the connectors at this server."""
        return {
            "procore_test": {"conn_type": "http", "host": f"{self.url}/procore",
                             "login": DEMO_CLIENT_ID, "password": DEMO_CLIENT_SECRET,
                             "extra": {"token_url": f"{self.url}/procore/oauth/token"}},
            "acumatica_test": {"conn_type": "http", "host": f"{self.url}/acumatica", "login": ACUMATICA_USER,
                               "password": ACUMATICA_PASSWORD, "extra": {"tenant": ACUMATICA_TENANT}},
            "quickbooks_test": {"conn_type": "http", "host": f"{self.url}/quickbooks", "login": QBO_CLIENT_ID,
                                "password": QBO_CLIENT_SECRET,
                                "extra": {"realm_id": QBO_REALM, "refresh_token": QBO_REFRESH_TOKEN,
                                          "retainage_item_id": self.sandboxes.quickbooks.retainage_item_id,
                                          "token_url": f"{self.url}/quickbooks/oauth2/v1/tokens/bearer"}},
        }



class AirflowApi(ServedApp):
    """Airflow's API server app, with the plugins, and sign-ins for its users."""

    def __init__(self) -> None:
        from airflow.api_fastapi.app import create_app

        super().__init__(create_app(apps="core"), "Airflow's API server", start_seconds=60)

    @staticmethod
    def token(username: str, role: str | None = "viewer") -> str:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

        return get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=username, role=role))

    def browser(self, username: str, role: str | None = "viewer") -> requests.Session:
        """A browser signed in to the Airflow UI: the sign-in is the ``_token`` cookie."""
        session = requests.Session()
        session.cookies.set("_token", self.token(username, role))
        return session


def page_token(session: requests.Session, page_url: str) -> str:
    """The form token of an ERP Sync page as ``session`` sees it: what its forms send back when a person
    presses a button (the page refuses an action without it)."""
    page = session.get(page_url, timeout=60)
    page.raise_for_status()
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, f"{page_url} carries no form token"
    return match.group(1)


@pytest.fixture(scope="session")
def airflow_api(airflow_db):
    """Airflow's API server (the UI plugin's pages included), served over HTTP for the whole session."""
    api = AirflowApi()
    yield api
    api.stop()


@pytest.fixture(scope="session")
def sandbox_server():
    server = SandboxServer()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server, monkeypatch) -> SandboxServer:
    """Freshly seeded sandboxes, with Airflow connections ``procore_test``, ``acumatica_test`` and
    ``quickbooks_test`` pointing at them."""
    sandbox_server.reset()
    for conn_id, connection in sandbox_server.connections().items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
    return sandbox_server


@pytest.fixture
def procore_company_id() -> int:
    return DEMO_COMPANY_ID


class MigratedStores:
    """New status stores at the newest schema without running Alembic for each: Alembic migrates one SQLite
    file and one PostgreSQL schema a session; each test gets a copy of the file, or a schema of its own
    built by replaying the statements that migration sent (tests/test_store.py runs the migrations)."""

    def __init__(self) -> None:
        self.sqlite_template: Path | None = None
        self.postgres_statements: list[tuple[str, object, bool]] | None = None

    def sqlite(self, path: Path) -> Store:
        if self.sqlite_template is None:
            template = Path(tempfile.mkdtemp(prefix="erp-sync-template-")) / "erp_sync.db"
            store = Store.from_url(f"sqlite:///{template}")
            store.upgrade()
            store.engine.dispose()  # the last connection closed: the WAL is folded into the file
            self.sqlite_template = template
        shutil.copyfile(self.sqlite_template, path)
        return Store.from_url(f"sqlite:///{path}")

    def postgres(self, schema: str) -> Store:
        store = Store.from_url(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
        if self.postgres_statements is None:
            statements = []

            def record(_conn, _cursor, statement, parameters, _context, executemany):
                statements.append((statement, parameters, executemany))

            sa.event.listen(store.engine, "before_cursor_execute", record)
            store.upgrade()
            sa.event.remove(store.engine, "before_cursor_execute", record)
            self.postgres_statements = statements
            return store
        connection = store.engine.raw_connection()
        try:
            cursor = connection.cursor()
            for statement, parameters, executemany in self.postgres_statements:
                (cursor.executemany if executemany else cursor.execute)(statement, parameters)
            connection.commit()
        finally:
            connection.close()
        return store


MIGRATED = MigratedStores()


def _sqlite_store(tmp_path: Path) -> Store:
    return MIGRATED.sqlite(tmp_path / "erp_sync.db")


def _postgres_store():
    schema = f"erp_sync_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as error:
        admin.dispose()
        pytest.skip(f"no PostgreSQL server answers at {POSTGRES_URL}: {error.orig}")
    return MIGRATED.postgres(schema), admin, schema


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path) -> Store:
    """The status store, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield _sqlite_store(tmp_path)
        return
    store, admin, schema = _postgres_store()
    yield store
    store.engine.dispose()
    with admin.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's own metadata database, which ``dag.test()`` needs; the tasks never touch it."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env=os.environ.copy())
    with pytest.MonkeyPatch.context() as patch:
        _parse_dag_folder_once(patch)
        yield AIRFLOW_HOME


def _parse_dag_folder_once(patch: pytest.MonkeyPatch) -> None:
    """``dag.test()`` parses the whole DAG folder and writes every DAG to Airflow's database before each
    run (half of a run's time here); the folder does not change during a session, so the first run
    does it for all."""
    from airflow.dag_processing import dagbag

    parse, sync, bags, synced = dagbag.BundleDagBag, dagbag.sync_bag_to_db, {}, set()

    def parsed(**kwargs):
        key = tuple(sorted((name, str(value)) for name, value in kwargs.items()))
        if key not in bags:
            bags[key] = parse(**kwargs)
        return bags[key]

    def sync_once(bag, *args, **kwargs):
        if id(bag) not in synced:
            sync(bag, *args, **kwargs)
            synced.add(id(bag))

    patch.setattr(dagbag, "BundleDagBag", parsed)
    patch.setattr(dagbag, "sync_bag_to_db", sync_once)


def _use_sqlite_store(tmp_path: Path, monkeypatch) -> Store:
    store_file = tmp_path / "erp_sync.db"
    monkeypatch.setenv("AIRFLOW_CONN_ERP_SYNC_DB", json.dumps({"conn_type": "sqlite", "host": str(store_file)}))
    return _sqlite_store(tmp_path)


@pytest.fixture
def airflow_sqlite_store(tmp_path, monkeypatch) -> Store:
    """A SQLite status store that the DAGs' tasks reach through the ``erp_sync_db`` connection."""
    return _use_sqlite_store(tmp_path, monkeypatch)


@pytest.fixture(params=["sqlite", "postgresql"])
def airflow_store(request, tmp_path, monkeypatch) -> Store:
    """The status store behind the ``erp_sync_db`` connection, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield _use_sqlite_store(tmp_path, monkeypatch)
        return
    store, admin, schema = _postgres_store()
    url = sa.engine.make_url(POSTGRES_URL)
    monkeypatch.setenv("AIRFLOW_CONN_ERP_SYNC_DB", json.dumps({
        "conn_type": "postgres", "host": url.host, "port": url.port, "login": url.username,
        "password": url.password, "schema": url.database,
        "extra": {"sqlalchemy_query": {"options": f"-csearch_path={schema}"}}}))
    yield store
    store.engine.dispose()
    with admin.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


# The sandbox's two companies, each paired with one ERP, as the DAG tests configure them. The tests of
# what follows an export choose direct export; tests/test_acceptance.py switches to acceptance.
TEST_INTEGRATIONS = (
    Integration(name="summit-acumatica", procore_conn_id="procore_test", procore_company_id=DEMO_COMPANY_ID,
                erp_kind=ErpKind.ACUMATICA, erp_conn_id="acumatica_test", export_mode=ExportMode.DIRECT),
    Integration(name="harbor-quickbooks", procore_conn_id="procore_test", procore_company_id=SECOND_COMPANY_ID,
                erp_kind=ErpKind.QUICKBOOKS_ONLINE, erp_conn_id="quickbooks_test",
                export_mode=ExportMode.DIRECT),
)


def add_test_integrations(store: Store) -> dict[str, dict]:
    for integration in TEST_INTEGRATIONS:
        store.save_integration(integration)
    return {row["name"]: row for row in store.integrations()}


def release_only_invoice(sandbox: SandboxServer) -> tuple[dict, dict, Decimal]:
    """Two approved invoices of one commitment (the demo company's, Acumatica's in the tests), the later changed in
    Procore to bill nothing and release what the first held (Procore's usual way); and the amount released."""
    invoices: dict[int, list[dict]] = {}
    for invoice in sorted(sandbox.procore_rows("requisitions"), key=lambda row: row["id"]):
        invoices.setdefault(invoice["commitment_id"], []).append(invoice)
    first, later = next(found[:2] for found in invoices.values()
                        if len(found) > 1 and all(row["status"] == "approved" for row in found[:2]))
    held = {item["line_item_id"]: item["work_completed_retainage_retained_this_period"]
            for item in sandbox.procore_lines("requisitions", first["id"])}
    items = sandbox.procore_lines("requisitions", later["id"])
    for item in items:
        item |= {"work_completed_this_period": "0.00", "total_completed_and_stored_to_date": "0.00",
                 "work_completed_retainage_retained_this_period": "0.00",
                 "work_completed_retainage_released_this_period": held[item["line_item_id"]]}
    sandbox.control("PUT", f"procore/requisitions/{later['id']}/lines", json=items)
    summary = next(row for row in sandbox.procore_rows("requisitions") if row["id"] == later["id"])["summary"]
    # its summary as a G702 gives it, retainage to date: nothing held any more (the lines say what was released)
    sandbox.control("PATCH", f"procore/requisitions/{later['id']}",
                    json={"summary": {**summary, "total_retainage": "0.00"}})
    return first, later, sum((Decimal(amount) for amount in held.values()), Decimal(0))


class SyncedScene:
    """Both test integrations, synced once (export and refresh), for tests of what follows a sync."""

    def __init__(self, sandbox: SandboxServer, store: Store):
        self.sandbox, self.store = sandbox, store
        self.integrations = add_test_integrations(store)
        link_sandbox_references(store, sandbox)
        self.sync()

    def sync(self) -> None:
        for integration in self.integrations.values():
            export_integration(self.store, integration, "sync")
            refresh_integration(self.store, integration, "sync")

    def remove_from_erp(self, name: str, link: dict) -> None:
        """What an ERP user does first: delete the document (reverse an Acumatica change order)."""
        key = json.loads(link["erp_key_json"])
        if name == "summit-acumatica":
            if key["entity"] == "ChangeOrder":
                self.sandbox.control("POST", f"acumatica/ChangeOrder/{key['RefNbr']}/reverse")
            else:
                self.sandbox.control("DELETE", f"acumatica/{key['entity']}/{link['erp_ref']}")
        elif "LineId" in key:
            order = next(po for po in self.sandbox.erp_rows("quickbooks", "PurchaseOrder") if po["Id"] == key["Id"])
            lines = [line for line in order["Line"] if line["Id"] != key["LineId"]]
            self.sandbox.control("PATCH", f"quickbooks/PurchaseOrder/{key['Id']}", json={"Line": lines})
        else:
            self.sandbox.control("DELETE", f"quickbooks/{key['entity']}/{key['Id']}")


# The two on-premises Sage ERPs, each with a Procore company of its own.
SAGE_INTEGRATIONS = (
    Integration(name="granite-sage300", procore_conn_id="procore_test", procore_company_id=SAGE300_COMPANY_ID,
                erp_kind=ErpKind.SAGE_300_CRE, erp_conn_id="sage300_test", export_mode=ExportMode.DIRECT),
    Integration(name="prairie-sage100", procore_conn_id="procore_test", procore_company_id=SAGE100_COMPANY_ID,
                erp_kind=ErpKind.SAGE_100_CONTRACTOR, erp_conn_id="sage100_test",
                export_mode=ExportMode.DIRECT),
)


class SageDatabases:
    """A database of the given engine per Sage system (a file, a schema or a database of its own per
    test), each with an import folder, and the Airflow connections that point the connectors at them."""

    def __init__(self, engine: str, tmp_path: Path):
        self.engine_name, self.cleanups = engine, []
        self.offices = {system: office(self._url(engine, system, tmp_path), tmp_path / f"{system}-import")
                        for system, office in (("sage300", Sage300Office), ("sage100", Sage100Office))}
        for office in self.offices.values():
            office.create()

    def _url(self, engine: str, system: str, tmp_path: Path) -> str:
        if engine == "sqlite":
            return f"sqlite:///{tmp_path / system}.db"
        name = f"{system}_{uuid.uuid4().hex[:10]}"
        if engine == "postgresql":
            server = sa.engine.make_url(POSTGRES_URL)
            statement, url = f'CREATE SCHEMA "{name}"', server.update_query_dict({"options": f"-csearch_path={name}"})
            drop = f'DROP SCHEMA "{name}" CASCADE'
        else:
            server = sa.engine.make_url(MARIADB_URL)
            statement, url, drop = f"CREATE DATABASE `{name}`", server.set(database=name), f"DROP DATABASE `{name}`"
        admin = sa.create_engine(server)
        try:
            with admin.begin() as connection:
                connection.execute(sa.text(statement))
        except sa.exc.OperationalError as error:
            admin.dispose()
            pytest.skip(f"no {engine} server answers at {server.render_as_string()}: {error.orig}")
        self.cleanups.append((admin, drop))
        return url.render_as_string(hide_password=False)

    def connections(self) -> dict[str, dict]:
        return {f"{system}_test": {"conn_type": "generic",
                                   "extra": {"sqlalchemy_url": office.engine.url.render_as_string(hide_password=False),
                                             "import_dir": str(office.import_dir)}}
                for system, office in self.offices.items()}

    def close(self) -> None:
        for office in self.offices.values():
            office.dispose()
        for admin, drop in self.cleanups:
            with admin.begin() as connection:
                connection.execute(sa.text(drop))
            admin.dispose()


@pytest.fixture
def sage(request, tmp_path, monkeypatch) -> SageDatabases:
    """Seeded Sage 300 CRE and Sage 100 Contractor databases, on SQLite unless a test asks for another
    engine (``indirect`` parametrisation with "postgresql" or "mariadb")."""
    databases = SageDatabases(getattr(request, "param", "sqlite"), tmp_path)
    for conn_id, connection in databases.connections().items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
    yield databases
    databases.close()


# People: Airflow users with their Procore accounts connected ------------------------------------

def connect_person(sandbox: SandboxServer, store: Store, airflow_user: str, procore_user_id: int,
                   conn_id: str = "procore_test"):
    """What a person does once on the Procore account page: signs in on Procore's page as themselves,
    and the code Procore sends back is exchanged and checked with ``/me``."""
    from urllib.parse import parse_qs, urlsplit

    from erp_connectors.procore import ProcoreHook
    from erp_sync.identity import ProcoreAccounts
    from sandbox.procore import sign_in
    from sandbox.procore_data import DEMO_REDIRECT_URIS, SIGN_INS

    with ProcoreHook(conn_id) as procore:
        authorize_url = procore.authorization_url(DEMO_REDIRECT_URIS[0], "test")
    email = sandbox.sandboxes.procore.users[procore_user_id].email_address
    back = sign_in(authorize_url, email, SIGN_INS[email])
    code = parse_qs(urlsplit(back).query)["code"][0]
    return ProcoreAccounts(store).connect(airflow_user, conn_id, code, DEMO_REDIRECT_URIS[0])


def person(sandbox: SandboxServer, store: Store, procore_user_id: int, conn_id: str = "procore_test") -> str:
    """The Airflow user who connected Procore user ``procore_user_id`` (connecting them the first time)."""
    airflow_user = f"person-{procore_user_id}"
    if not any(row["procore_conn_id"] == conn_id for row in store.rows("procore_accounts_of_user",
                                                                        airflow_user=airflow_user)):
        connect_person(sandbox, store, airflow_user, procore_user_id, conn_id)
    return airflow_user


def run_as(dag, airflow_user: str | None, run_id: str | None = None, **conf):
    """``dag.test()`` as if ``airflow_user`` had triggered it signed in: Airflow's API records the
    triggering user on the run, where ``dag.test()`` writes its own name ("dag_test"); ``run_id`` keeps
    the id of the run a page queued, as the scheduler does."""
    from unittest import mock

    import airflow.models.dagrun as dagrun

    create = dagrun.get_or_create_dagrun
    kept = {"triggering_user_name": airflow_user} | ({"run_id": run_id} if run_id else {})
    with mock.patch.object(dagrun, "get_or_create_dagrun", lambda *args, **kwargs: create(*args, **{**kwargs, **kept})):
        return dag.test(run_conf=conf)


def parallel(*jobs) -> list[BaseException]:
    """Run the jobs at once, each in its own thread; returns what they raised."""
    errors: list[BaseException] = []

    def run(job):
        try:
            job()
        except BaseException as error:  # noqa: BLE001 - collected and asserted by the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The production-shape test first: it runs for minutes on one worker of ``make test`` (pytest-xdist,
    work stealing) while the other workers take the rest of the suite."""
    items.sort(key=lambda item: item.get_closest_marker("production_shape") is None)


FIGURES = "figures"  # a test's measurements (``record_property(FIGURES, text)``), printed after the run


def pytest_terminal_summary(terminalreporter) -> None:
    """Figures recorded by tests, shown in every run (pytest-xdist's workers hand them back in the reports)."""
    figures = [value for reports in terminalreporter.stats.values() for report in reports
               for name, value in getattr(report, "user_properties", ()) if name == FIGURES
               and getattr(report, "when", None) == "call"]
    if figures:
        terminalreporter.section("figures")
        for text in figures:
            terminalreporter.write_line(text)
