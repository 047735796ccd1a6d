"""``make demo``'s own mechanics, without running the demo: a second start on the same checkout, every
way of stopping it, and where its UI listens."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from erp_sync.store import Store, utcnow
from conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def demo_env(home: Path) -> dict[str, str]:
    return {**os.environ, "AIRFLOW_HOME": str(home)}


def prepare_demo_state(home: Path) -> str:
    code = "from erp_sync.demo import prepare_state; prepare_state()"
    return subprocess.run([sys.executable, "-c", code], env=demo_env(home), cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout


def test_a_second_demo_starts_from_a_clean_store_and_says_so(tmp_path):
    """The sandboxes are reseeded at every start: links kept from the first demo must not survive into the
    second (they made ``pay_and_import`` crash on records the new sandboxes never held)."""
    assert "clean status store" not in prepare_demo_state(tmp_path)
    store = Store.from_url(f"sqlite:///{tmp_path / 'erp_sync.db'}")
    integration = store.integrations()[0]
    with store.transaction() as tx:
        tx.execute("insert_link", integration_id=integration["id"], record_type="subcontractor_invoice",
                   procore_id=424242, procore_project_id=1, procore_number="OLD-1", state="synced", colour="GREEN",
                   message=None, reason_code=None, procore_json=None, procore_updated_at=None, fingerprint=None,
                   run_id=None, now=utcnow())
    assert store.rows("active_links", integration_id=integration["id"])
    store.engine.dispose()

    said = prepare_demo_state(tmp_path)

    assert "Starting from a clean status store" in said
    store = Store.from_url(f"sqlite:///{tmp_path / 'erp_sync.db'}")
    assert sorted(row["name"] for row in store.integrations()) == [
        "granite-sage300", "harbor-quickbooks", "prairie-sage100", "summit-acumatica"]
    assert all(store.rows("active_links", integration_id=row["id"]) == [] for row in store.integrations())


# Like `airflow standalone`: a process whose child does the listening, and which leaves it behind
# when it is terminated itself.
LEAVES_ITS_CHILD = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-m', 'http.server', "
                    "sys.argv[1], '--bind', '127.0.0.1']); time.sleep(600)")
def test_an_older_demo_home_keeps_the_fernet_key_its_connections_are_sealed_with(tmp_path):
    """A .airflow from before the demo kept its own key: Airflow wrote one into airflow.cfg and sealed the
    connections with it. A new key would make `airflow connections add` fail to read them."""
    (tmp_path / "airflow.cfg").write_text("[core]\nfernet_key = wHpWorR6CCDlEx2jD0ccRYUsl4Q2_jvpluB_b89Vz58=\n")
    code = "from erp_sync.demo import demo_fernet_key; print(demo_fernet_key()); print(demo_fernet_key())"
    keys = subprocess.run([sys.executable, "-c", code], env=demo_env(tmp_path), cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.split()
    assert keys == ["wHpWorR6CCDlEx2jD0ccRYUsl4Q2_jvpluB_b89Vz58="] * 2


SUPERVISE = """
import signal, sys
from erp_sync.demo import Demo, stopping_everything
demo = Demo()
with stopping_everything(demo):
    try:
        demo.processes.start("listener", [sys.executable, "-c", sys.argv[2], sys.argv[1]], demo.env)
        print("ready", flush=True)
        signal.pause()
    except KeyboardInterrupt:
        pass
"""


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGKILL],
                         ids=lambda signum: signal.Signals(signum).name)
def test_every_way_of_stopping_the_demo_stops_what_it_started(tmp_path, signum):
    """``kill`` (SIGTERM), a closed terminal (SIGHUP), Ctrl-C (SIGINT), even SIGKILL: the processes the
    demo started (each in a session of its own), and theirs, end and free their ports."""
    port = free_port()
    demo = subprocess.Popen([sys.executable, "-c", SUPERVISE, str(port), LEAVES_ITS_CHILD], env=demo_env(tmp_path),
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    children = []
    try:
        assert demo.stdout.readline().startswith("started listener")
        assert demo.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 30
        while not port_open(port):
            assert time.monotonic() < deadline, "the demo's child never listened"
            time.sleep(0.1)
        children = psutil.Process(demo.pid).children(recursive=True)
        assert len(children) >= 3  # the guard, the process that starts the listener, the listener

        demo.send_signal(signum)
        demo.wait(timeout=60)

        gone, alive = psutil.wait_procs(children, timeout=30)
        assert alive == [] and not port_open(port)
    finally:  # a failed test leaves nothing running either
        for process in [demo, *children]:
            try:
                process.kill()
            except (psutil.Error, ProcessLookupError):
                pass


def test_the_demo_ui_listens_on_this_machine_only():
    from erp_sync.demo import AIRFLOW_URL, airflow_env

    env = airflow_env()
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert AIRFLOW_URL.startswith("http://localhost:")  # which is this machine
    result = subprocess.run([sys.executable, "-m", "airflow", "config", "get-value", "api", "host"],
                            env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "127.0.0.1"


def test_sigint_stops_the_real_demo_started_in_the_background_and_frees_its_ports(tmp_path):
    """`make demo &` inherits SIGINT ignored (a background job's lot), and Python keeps it ignored unless
    told otherwise. The real entry point, started so, is sent SIGINT on its process group once its first
    server (the sandboxes) listens: it stops, and the port is free. (The rest of the way to Airflow is not
    needed to prove the handler: what it started is stopped the same way at any point.)"""
    port = free_port()

    def in_the_background():
        os.setpgid(0, 0)
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    demo = subprocess.Popen([sys.executable, "-m", "erp_sync.demo"], cwd=ROOT, preexec_fn=in_the_background,
                            env={**demo_env(tmp_path), "SANDBOX_PORT": str(port)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    children = []
    try:
        deadline = time.monotonic() + 120
        while not port_open(port):
            assert demo.poll() is None, demo.stderr.read()
            assert time.monotonic() < deadline, "the demo's sandboxes never listened"
            time.sleep(0.2)
        children = psutil.Process(demo.pid).children(recursive=True)

        os.killpg(demo.pid, signal.SIGINT)
        demo.wait(timeout=60)

        gone, alive = psutil.wait_procs(children, timeout=30)
        assert alive == [] and not port_open(port)
        assert "Traceback" not in demo.stderr.read()
    finally:
        for process in [demo, *children]:
            try:
                process.kill()
            except (psutil.Error, ProcessLookupError):
                pass


def test_a_trigger_retried_after_a_5xx_makes_one_run_under_the_id_the_demo_chose():
    """A busy Airflow may create the run and still answer 500: the demo names its own ``dag_run_id``, so
    the retry is answered 409 (it exists) and no second run is made."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    from conftest import ServedApp
    from erp_sync.demo import AirflowApi

    runs: list[str] = []
    airflow = FastAPI()

    @airflow.post("/api/v2/dags/{dag_id}/dagRuns")
    async def trigger(dag_id: str, request: Request):
        run_id = (await request.json())["dag_run_id"]
        if run_id in runs:
            return JSONResponse({"detail": f"DAG run {run_id} already exists"}, status_code=409)
        runs.append(run_id)
        return JSONResponse({"detail": "Database error"}, status_code=500)  # made, but the answer says otherwise

    server = ServedApp(airflow, "a busy Airflow")
    try:
        run_id = AirflowApi(server.url, "").trigger("erp_hourly_sync", {})
    finally:
        server.stop()
    assert runs == [run_id]


def test_the_demos_quickbooks_connection_names_the_sandboxs_retainage_item(sandbox):
    """Without it every QuickBooks invoice holding retainage would wait RED for an operator's setting."""
    import json

    from erp_sync.demo import sandbox_connections

    extra = json.loads(sandbox_connections(sandbox.url, {})["quickbooks"]["extra"])
    assert extra["retainage_item_id"] == sandbox.sandboxes.quickbooks.retainage_item_id
    item = next(row for row in sandbox.erp_rows("quickbooks", "Item") if row["Id"] == extra["retainage_item_id"])
    assert item["Name"] == "Retainage"


@pytest.mark.airflow
def test_the_accountant_links_on_the_tab_and_the_next_sync_exports_what_waited(airflow_api, sandbox,
                                                                             airflow_sqlite_store, capsys):
    """The demo's round of the Reference data tab against the served page, as a browser signed in with the
    cookie (so every press must bring the page's form token back): the first sync leaves records waiting for
    links; she presses Confirm all shown on each kind's tab and links Granite Masonry, which two ERP vendors look
    like, by search; the next sync exports what waited, and the two records no link can free keep waiting, each
    with its sentence, which the demo prints."""
    from conftest import TEST_INTEGRATIONS, connect_person
    from erp_sync.jobs.hourly_sync import export_integration
    from erp_sync.reference.demo_step import link_on_the_tab, what_became_of
    from erp_sync.reference.links import confirmed_links, history
    from erp_sync.reference.model import ReferenceKind
    from sandbox.common import VENDOR_MEANT

    sandbox.reset(unlinkable_records=True)
    store = airflow_sqlite_store
    store.save_integration(TEST_INTEGRATIONS[0])  # summit-acumatica, exporting directly
    integration = store.one("integration_by_name", name=TEST_INTEGRATIONS[0].name)
    export_integration(store, integration, "first")
    connect_person(sandbox, store, "avery", 101)
    capsys.readouterr()

    waited = link_on_the_tab(airflow_api.browser("avery", "user"), airflow_api.url, store, VENDOR_MEANT)

    # what the demo printed; the served Airflow's access log may land on the same stdout at any moment
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("summit-acumatica: ")]
    waiting = waited["summit-acumatica"]
    assert len(waiting) > 2 and said[0].startswith(
        f"summit-acumatica: after the first sync, {len(waiting)} record(s) wait for reference data links; for "
        "example ") and 'Not exported yet: link vendor "' in said[0]
    assert "summit-acumatica: on the vendor tab the accountant pressed Confirm all shown. Linked 6 vendor(s) to " \
           "their suggestions as avery; the next sync exports what waited for them." in said
    assert "summit-acumatica: on the cost code tab the accountant pressed Confirm all shown. Linked 4 cost " \
           "code(s) to their suggestions as avery; the next sync exports what waited for them." in said  # 01-100s
    assert said[-1] == (
        'summit-acumatica: nothing is suggested for vendor "Granite Masonry" (two ERP vendors look like it); the '
        'accountant searched the ERP\'s vendors for "Granite Masonry" and linked it to GRANITEINC "Granite Masonry, '
        'Inc.". Linked as avery; the next sync exports what waited for it.')
    granite = next(str(v.id) for v in sandbox.sandboxes.procore.vendors.values() if v.name == "Granite Masonry")
    [linked] = history(store, integration, ReferenceKind.VENDOR, granite)
    assert (linked["erp_id"], linked["started_by"], linked["reason"]) == ("GRANITEINC", "avery", "linked by hand")
    roofing = next(str(v.id) for v in sandbox.sandboxes.procore.vendors.values() if v.name == "Summit Roofing")
    assert (ReferenceKind.VENDOR, roofing) not in confirmed_links(store, integration).items  # inactive in the ERP

    export_integration(store, integration, "next")

    after = what_became_of(store, waited, "after the next sync")
    assert after[0] == (f"summit-acumatica, after the next sync: of the {len(waiting)} record(s) that waited for "
                        f"links, {len(waiting) - 2} are in the ERP, 2 still wait for links the ERP must set up first.")
    assert sorted(after[1:]) == [
        '  still waiting: commitment SC-001: Not exported yet: link project 2025-001 "Westgate Parking Structure" on '
        "the Reference data tab; the next sync exports it.",  # its header's project: held before its lines are read
        '  still waiting: commitment SC-005: Not exported yet: link cost code 02-410 "Selective Demolition" of project '
        "2401 Harbor Point Tower on the Reference data tab; the next sync exports it. Waiting: line 2 (02-410.S "
        "Selective Demolition scope) of the commitment (Acumatica Cloud ERP takes every line job-costed)."]
