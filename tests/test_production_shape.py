"""The production shape of docker-compose.yaml: its pins, its compose file, and the shape itself run
natively (no Docker): every long-running Airflow service of the compose file as a process of its own,
each with its own AIRFLOW_HOME, on PostgreSQL and Redis, sharing only what the compose file shares."""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
import yaml
from cryptography.fernet import Fernet
from dotenv import dotenv_values

from conftest import FIGURES, POSTGRES_URL, free_port
from erp_sync.airflow_defaults import CLOUD_QUEUE, ONPREM_QUEUE, queue_for
from erp_sync.demo import (
    ACCOUNTANT,
    AirflowApi,
    PeakMemory,
    Processes,
    connect_procore_account,
    demo_integrations,
    sage_offices,
    sandbox_connections,
    wait_for,
)
from erp_sync.store import Store
from sandbox.procore_data import DEMO_CLIENT_ID

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
INIT_SERVICE = "airflow-init"
REDIS_URL = os.environ.get("ERP_SYNC_TEST_REDIS", "redis://127.0.0.1:6379/5")
RUNS_TIMEOUT_SECONDS = 300
# Compose's interpolation: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}.
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def compose_spec() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def airflow_services(spec: dict) -> dict[str, dict]:
    """The long-running Airflow services: those built from the project's Dockerfile, but the one-off init."""
    return {name: service for name, service in spec["services"].items() if "build" in service and name != INIT_SERVICE}


def shared_settings(service: dict) -> dict[str, str]:
    """What the service reads from its env_file(s) (deploy/airflow.env), as compose reads them."""
    settings: dict[str, str] = {}
    for env_file in service["env_file"]:
        settings.update(dotenv_values(ROOT / env_file))
    return settings


def worker_queue(service: dict) -> str | None:
    arguments = shlex.split(service["command"])
    return arguments[arguments.index("--queues") + 1] if arguments[:2] == ["celery", "worker"] else None


def interpolate(value, variables: dict[str, str]):
    """Substitute compose variables in every string of a loaded compose file."""
    if isinstance(value, dict):
        return {key: interpolate(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, variables) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"] or "", match["arg"] or ""
        current = variables.get(name)
        if current is None or (op.startswith(":") and not current):
            if op.endswith("?"):
                raise ValueError(f"{name} is required: {arg}")
            return arg if op.endswith("-") else ""
        return current

    return VARIABLE.sub(substitute, value)


# --- the pins: the executor and the Celery app load and are configured -------------------------------

EXECUTOR_CHECK = """
import json
from celery.app.backends import by_url
from airflow.configuration import conf
from airflow.executors.executor_loader import ExecutorLoader
from airflow.providers.celery.executors.celery_executor import CeleryExecutor
from airflow.providers.celery.executors.celery_executor_utils import app

executor = ExecutorLoader.get_default_executor()
print(json.dumps({
    "executor": type(executor).__name__,
    "is_celery": isinstance(executor, CeleryExecutor),
    "parallelism": executor.parallelism,
    "broker": app.conf.broker_url,
    "result_backend": by_url(app.conf.result_backend)[0].__name__,
    "celery_default_queue": app.conf.task_default_queue,
    "operators_default_queue": conf.get("operators", "default_queue"),
    "task_registered": "execute_workload" in app.tasks,
}))
"""


def test_the_celery_executor_and_its_celery_app_load_with_the_shared_settings(tmp_path):
    """A provider/Celery pair that does not work together (celery 5.7 dropped what the provider
    imports) fails here, not at the first start of a worker."""
    spec = compose_spec()
    default_worker = next(s for s in airflow_services(spec).values() if worker_queue(s) == CLOUD_QUEUE)
    settings = shared_settings(default_worker)
    env = {**clean_environment(), **settings, "AIRFLOW_HOME": str(tmp_path),
           "AIRFLOW__CELERY__BROKER_URL": REDIS_URL,
           "AIRFLOW__CELERY__RESULT_BACKEND": "db+postgresql://airflow@127.0.0.1/celery_results"}
    result = subprocess.run([sys.executable, "-c", EXECUTOR_CHECK], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {
        "executor": "CeleryExecutor", "is_celery": True, "parallelism": int(settings["AIRFLOW__CORE__PARALLELISM"]),
        "broker": REDIS_URL, "result_backend": "DatabaseBackend",
        "celery_default_queue": CLOUD_QUEUE, "operators_default_queue": CLOUD_QUEUE, "task_registered": True}

    worker_help = subprocess.run([sys.executable, "-m", "airflow", "celery", "worker", "--help"], env=env,
                                 capture_output=True, text=True)
    assert worker_help.returncode == 0, worker_help.stderr[-3000:]
    assert "--celery-hostname" in worker_help.stdout


# --- the compose file ----------------------------------------------------------------------------------

def test_docker_compose_config_is_valid_against_the_compose_specification(tmp_path):
    """What ``docker compose config`` checks without a Docker engine: every variable is documented in
    .env.example, interpolation succeeds, env files exist, and the result satisfies the Compose
    Specification's JSON schema (as vendored by check-jsonschema)."""
    raw = COMPOSE_FILE.read_text()
    example = dotenv_values(ENV_EXAMPLE)
    used = {match["name"] for match in VARIABLE.finditer(raw)}
    assert used == set(example), f"in docker-compose.yaml but not .env.example: {used - set(example)}; " \
                                 f"documented but unused: {set(example) - used}"
    with pytest.raises(ValueError, match="is required"):
        interpolate(yaml.safe_load(raw), example)  # as shipped, the secrets are empty: compose refuses to start

    filled = {name: value or f"example-{name.lower()}" for name, value in example.items()}
    config = interpolate(yaml.safe_load(raw), filled)
    for service in config["services"].values():
        for env_file in service.get("env_file", []):
            assert (ROOT / env_file).is_file(), env_file
    rendered = tmp_path / "compose.config.json"
    rendered.write_text(json.dumps(config))
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
                             str(rendered)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_airflow_component_gets_the_same_keys_and_only_workers_and_the_pages_get_vendor_connections():
    spec = compose_spec()
    services = airflow_services(spec)
    shared_keys = {name: set(service["environment"]) - connection_keys(service) for name, service in services.items()}
    assert len({frozenset(keys) for keys in shared_keys.values()}) == 1, shared_keys
    assert {"AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API__SECRET_KEY",
            "AIRFLOW__API_AUTH__JWT_SECRET"} <= next(iter(shared_keys.values()))
    queues = {worker_queue(service): connection_keys(service) for service in services.values()
              if worker_queue(service)}
    assert queues == {CLOUD_QUEUE: {"AIRFLOW_CONN_PROCORE", "AIRFLOW_CONN_ACUMATICA", "AIRFLOW_CONN_QUICKBOOKS"},
                      ONPREM_QUEUE: {"AIRFLOW_CONN_PROCORE", "AIRFLOW_CONN_SAGE300", "AIRFLOW_CONN_SAGE100"}}
    for name, service in services.items():
        if worker_queue(service):
            assert "--concurrency" in service["command"]
        elif name == "airflow-apiserver":  # the pages sign people in to Procore, and reach no ERP
            assert connection_keys(service) == {"AIRFLOW_CONN_PROCORE"}
        else:
            assert not connection_keys(service)


def connection_keys(service: dict) -> set[str]:
    """Vendor connections handed to the service (the status store's, which every component gets, aside)."""
    return {key for key in service["environment"] if key.startswith("AIRFLOW_CONN_") and key != "AIRFLOW_CONN_ERP_SYNC_DB"}


def clean_environment() -> dict[str, str]:
    """This machine's environment without any Airflow setting (the test session's own included)."""
    return {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}


# --- the shape, natively -------------------------------------------------------------------------------

class ThrowawayDatabases:
    """PostgreSQL databases with unique names (Airflow's metadata, Celery's results, the status store),
    dropped afterwards."""

    def __init__(self, *roles: str) -> None:
        self.server = sa.engine.make_url(POSTGRES_URL)
        self.admin = sa.create_engine(self.server, isolation_level="AUTOCOMMIT")
        prefix = f"erp_sync_shape_{uuid.uuid4().hex[:8]}"
        self.names = {role: f"{prefix}_{role}" for role in roles}
        try:
            with self.admin.connect() as connection:
                for name in self.names.values():
                    connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        except sa.exc.OperationalError as error:
            self.drop()
            pytest.skip(f"no PostgreSQL server answers at {POSTGRES_URL}: {error.orig}")

    def url(self, role: str, driver: str) -> str:
        return self.server.set(drivername=driver, database=self.names[role]).render_as_string(hide_password=False)

    def drop(self) -> None:
        try:
            with self.admin.connect() as connection:
                for name in self.names.values():
                    connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except sa.exc.OperationalError:
            pass  # the server never answered: nothing was created
        self.admin.dispose()


def redis_broker() -> redis.Redis:
    broker = redis.Redis.from_url(REDIS_URL)
    try:
        broker.ping()
    except redis.RedisError as error:
        pytest.skip(f"no Redis server answers at {REDIS_URL}: {error}")
    return broker


class NativeShape:
    """docker-compose.yaml's services started natively: the values that compose takes from its hosts and
    .env are this test's own (throw-away databases, Redis db, fresh keys, the sandboxes); the settings
    compose shares come from the same env_file."""

    def __init__(self, tmp_path: Path, sandbox_url: str, databases: ThrowawayDatabases) -> None:
        self.spec = compose_spec()
        self.services = airflow_services(self.spec)
        self.root, self.sandbox_url = tmp_path, sandbox_url
        self.api_port = free_port()
        self.offices = sage_offices(tmp_path / "sage")
        self.connections = {f"AIRFLOW_CONN_{system.upper()}": json.dumps(fields)
                            for system, fields in sandbox_connections(sandbox_url, self.offices).items()}
        self.store_url = databases.url("store", "postgresql+psycopg")
        self.site = {
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": databases.url("airflow", "postgresql+psycopg2"),
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{databases.url('celery', 'postgresql')}",
            "AIRFLOW__CELERY__BROKER_URL": REDIS_URL,
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW_CONN_ERP_SYNC_DB": databases.url("store", "postgresql"),
        }
        self.processes = Processes(tmp_path)

    def home(self, name: str) -> Path:
        return self.root / name

    def env(self, name: str, service: dict) -> dict[str, str]:
        """The service's environment as compose would give it, with this machine's values."""
        home = self.home(name)
        home.mkdir(exist_ok=True)
        env = {**clean_environment(), **shared_settings(service), "AIRFLOW_HOME": str(home),
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        for key in service["environment"]:
            env[key] = self.site[key] if key in self.site else self.connections[key]
        # Containers have a network of their own each; on one host the ports must differ.
        env.update({"AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(self.api_port),
                    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                    "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())})
        return env

    def initialise(self) -> None:
        init = self.spec["services"][INIT_SERVICE]
        assert init["command"] == ["/opt/erp-sync/deploy/init.sh"]
        subprocess.run(["bash", str(ROOT / "deploy" / "init.sh")], env=self.env(INIT_SERVICE, init), check=True,
                       capture_output=True)
        (self.root / "sage").mkdir()
        for office in self.offices.values():
            office.create()
        store = Store.from_url(self.store_url)
        for integration in demo_integrations(conn_id_suffix=""):
            store.save_integration(integration)
        store.engine.dispose()

    def start(self) -> None:
        for name, service in self.services.items():
            command = ["airflow", *shlex.split(service["command"])]
            self.processes.start(name, command, self.env(name, service))

    def api(self) -> AirflowApi:
        url = f"http://127.0.0.1:{self.api_port}"
        wait_for(f"{url}/api/v2/monitor/health", "the API server", timeout=180)
        # The simple auth manager (compose's too) writes the admin's generated password into its home.
        passwords = json.loads((self.home("airflow-apiserver") / "simple_auth_manager_passwords.json.generated")
                               .read_text())
        api = AirflowApi(url, self.sandbox_url)
        api.login("admin", passwords["admin"])
        return api

    def worker_homes(self) -> dict[str, Path]:
        return {worker_queue(service): self.home(name) for name, service in self.services.items()
                if worker_queue(service)}

    def logs_tail(self) -> str:
        return "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')[-2500:]}"
                         for path in sorted(self.root.glob("*.log")))


def wait_until_quiet(api: AirflowApi, timeout: float) -> list[dict]:
    """Every DAG run, once none is queued or running twice in a row (runs the Assets start follow the
    triggered ones)."""
    deadline, quiet = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        runs = api.api("GET", "dags/~/dagRuns", params={"limit": 100})["dag_runs"]
        quiet = quiet + 1 if all(run["state"] in ("success", "failed") for run in runs) else 0
        if quiet == 2:
            return runs
        time.sleep(5)
    raise TimeoutError(f"DAG runs still active after {timeout:.0f} s: "
                       f"{[(r['dag_id'], r['state']) for r in runs if r['state'] not in ('success', 'failed')]}")


def task_instances(airflow_db_url: str, run_ids: set[str]) -> list[dict]:
    """Read from Airflow's metadata database: this test may, the tasks never do."""
    engine = sa.create_engine(airflow_db_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT dag_id, run_id, task_id, map_index, rendered_map_index, queue, state, try_number "
                "FROM task_instance")).mappings().all()
    finally:
        engine.dispose()
    return [dict(row) for row in rows if row["run_id"] in run_ids]


LOG_PATH = re.compile(r"dag_id=(?P<dag_id>[^/]+)/run_id=(?P<run_id>[^/]+)/task_id=(?P<task_id>[^/]+)/"
                      r"(?:map_index=(?P<map_index>-?\d+)/)?attempt=\d+\.log$")


def logged_tasks(home: Path) -> set[tuple[str, str, str, int]]:
    """The task instances whose log a worker wrote into its own home: the ones that ran there."""
    found = set()
    for path in (home / "logs").rglob("attempt=*.log"):
        match = LOG_PATH.search(path.as_posix())
        if match:
            found.add((match["dag_id"], match["run_id"], match["task_id"], int(match["map_index"] or -1)))
    return found


STORE_ONLY_DAGS = {"erp_daily_summary", "erp_reconciliation"}


@pytest.mark.production_shape
def test_the_production_shape_runs_every_dag_with_each_task_on_its_queues_worker(tmp_path, sandbox, record_property):
    broker = redis_broker()
    databases = ThrowawayDatabases("airflow", "celery", "store")
    try:
        broker.flushdb()
        shape = NativeShape(tmp_path, sandbox.url, databases)
        memory, started = PeakMemory(), time.monotonic()
        try:
            shape.initialise()
            shape.start()
            api = shape.api()
            # The forms act as the signed-in person: admin connects the demo accountant's Procore account.
            sandbox.control("PUT", f"procore/apps/{DEMO_CLIENT_ID}/redirect_uris",
                            json=[f"{api.url}/erp-sync/identity/callback"])
            connect_procore_account(api.session, api.url, ACCOUNTANT, procore_conn_id="procore")
            triggered = api.run_cycle(Store.from_url(shape.store_url), timeout=RUNS_TIMEOUT_SECONDS)
            runs = wait_until_quiet(api, timeout=RUNS_TIMEOUT_SECONDS)
            assert not shape.processes.exited(), f"components exited: {shape.processes.exited()}"
        except BaseException:
            print(shape.logs_tail())
            raise
        finally:
            shape.processes.stop()
            wall, peak = time.monotonic() - started, memory.stop()
        instances = task_instances(shape.site["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
                                   {run["dag_run_id"] for run in runs})
    finally:
        broker.flushdb()
        databases.drop()
    ran_on = {queue: logged_tasks(home) for queue, home in shape.worker_homes().items()}
    record_property(FIGURES, report(wall, peak, runs, instances))  # shown at the end of every `make test`

    assert triggered == dict.fromkeys(triggered, "success"), triggered
    assert {run["dag_id"] for run in runs} == {label.split(" ")[0] for label in triggered}  # "dag_id (why)"
    assert [(run["dag_id"], run["state"]) for run in runs if run["state"] != "success"] == []
    integrations = {integration.name: integration.erp_kind for integration in demo_integrations("")}
    ran = [ti for ti in instances if ti["state"] == "success"]
    assert ran and {ti["state"] for ti in instances} <= {"success", "skipped", "removed"}
    for ti in ran:
        # The daily summary and the reconciliation read the status store only: they reach no ERP, so they stay
        # in the cloud.
        kind = integrations.get(ti["rendered_map_index"]) if ti["dag_id"] not in STORE_ONLY_DAGS else None
        assert ti["queue"] == (queue_for(kind) if kind else CLOUD_QUEUE), ti
        key = (ti["dag_id"], ti["run_id"], ti["task_id"], ti["map_index"])
        assert {queue for queue, logged in ran_on.items() if key in logged} == {ti["queue"]}, ti
    assert {ti["queue"] for ti in ran} == {CLOUD_QUEUE, ONPREM_QUEUE}


def report(wall: float, peak: int, runs: list[dict], instances: list[dict]) -> str:
    states = Counter(f"{run['dag_id']} {run['state']}" for run in runs)
    lines = [f"production shape: {wall:.0f} s wall, peak memory {peak / 2**20:.0f} MiB "
             "(this test process, the sandboxes in it, and every process it started)", f"DAG runs: {dict(states)}"]
    for queue in sorted({ti["queue"] for ti in instances}):
        on_queue = [ti for ti in instances if ti["queue"] == queue and ti["state"] == "success"]
        lines.append(f"queue {queue}: {len(on_queue)} task instances ran, "
                     f"in {len({ti['run_id'] for ti in on_queue})} runs")
    return "\n".join(lines)
