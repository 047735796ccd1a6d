"""What the README shows, run as printed: the operator commands (twice, as a reader may) and the SQL
examples on the demo's data. The commands and statements are read out of README.md, so a change to
the README is tested as it stands."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from erp_sync.__main__ import airflow_home
from erp_sync.jobs.unlink_queue import drain_integration
from erp_sync.models import ErpKind, RecordType
from erp_sync.store import Store
from erp_sync.unlink import SUCCESS, no_such_integration, still_in_erp, waiting_for_sync
from conftest import SyncedScene

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
RULES = (ROOT / "docs" / "rules.md").read_text()


def readme_commands() -> list[str]:
    """Every ``.venv/bin/python -m erp_sync`` command of the README's shell blocks (those a checkout runs;
    the production section's `docker compose exec` ones run in containers), continuation lines joined."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.DOTALL):
        for command in re.sub(r"\\\n\s*", "", block).splitlines():
            command = command.split("  #")[0].strip()
            if command.startswith(".venv/bin/python -m erp_sync "):
                commands.append(command)
    return commands


def readme_sql(table: str | None = None) -> list[str]:
    """The README's SQL examples, or those inserting into ``table``."""
    blocks = [block.strip() for block in re.findall(r"```sql\n(.*?)```", README, re.DOTALL)]
    return [block for block in blocks if table is None or block.startswith(f"INSERT INTO {table} ")]


def test_the_readme_shows_the_operator_commands():
    shown = {command.split("-m erp_sync ")[1].split()[0] for command in readme_commands()}
    assert {"add-integration", "integrations", "runs"} <= shown
    assert readme_sql(), "the README's SQL examples were not found"


@pytest.fixture
def demo_like_airflow_home(airflow_db, tmp_path):
    """An Airflow home whose metadata database holds ``erp_sync_db``, as ``make demo`` registers it."""
    store_file = tmp_path / "erp_sync.db"
    Store.from_url(f"sqlite:///{store_file}").upgrade()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW_CONN_")}
    airflow = [sys.executable, "-m", "airflow", "connections"]
    subprocess.run([*airflow, "add", "erp_sync_db", "--conn-json",
                    json.dumps({"conn_type": "sqlite", "host": str(store_file)})], env=env, check=True,
                   capture_output=True)
    yield env, store_file
    subprocess.run([*airflow, "delete", "erp_sync_db"], env=env, capture_output=True)


def test_the_readme_commands_work_as_printed_twice(demo_like_airflow_home):
    env, store_file = demo_like_airflow_home
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("the README's commands run .venv/bin/python, which this checkout does not have")
    for attempt in (1, 2):
        for command in readme_commands():
            result = subprocess.run(command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True)
            assert result.returncode == 0, (attempt, command, result.stderr)
            assert "Traceback" not in result.stderr
    listed = subprocess.run(".venv/bin/python -m erp_sync integrations", shell=True, cwd=ROOT, env=env,
                            capture_output=True, text=True, check=True).stdout
    assert "summit-qbo" in listed and "erp=quickbooks_online/qbo_prod" in listed
    assert [row["name"] for row in Store.from_url(f"sqlite:///{store_file}").integrations()] == ["summit-qbo"]


def test_without_a_store_the_commands_say_so_in_a_sentence(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW_CONN_")}
    env["AIRFLOW_HOME"] = str(tmp_path / "no-airflow-here")
    for command in ("integrations", "runs"):
        result = subprocess.run([sys.executable, "-m", "erp_sync", command], cwd=ROOT, env=env,
                                capture_output=True, text=True)
        assert result.returncode == 2
        assert result.stderr.startswith("No status store found: the Airflow connection erp_sync_db is not defined")
        assert "Traceback" not in result.stderr


def test_with_airflow_home_unset_the_commands_use_the_checkouts_demo_home(tmp_path):
    assert airflow_home({}, tmp_path) is None  # no demo yet: Airflow's own default
    (tmp_path / ".airflow").mkdir()
    assert airflow_home({}, tmp_path) == str(tmp_path / ".airflow")
    assert airflow_home({"AIRFLOW_HOME": "/srv/airflow"}, tmp_path) == "/srv/airflow"


def test_the_readme_unlink_example_is_answered_on_the_demo_data(sandbox, airflow_sqlite_store):
    """The demo pairs company 8089 with Acumatica as ``summit-acumatica``; the example names one of its
    exported invoices, so the queue answers on the demo's store (SQLite) with the documented RED: delete
    it in the ERP first."""
    store = airflow_sqlite_store
    scene = SyncedScene(sandbox, store)
    (statement,) = readme_sql("unlink_requests")
    with store.transaction() as tx:
        tx.connection.exec_driver_sql(statement)

    drain_integration(store, scene.integrations["summit-acumatica"], "readme")

    (request,) = store.rows("recent_unlink_requests", limit=5)
    assert (request["status"], request["colour"], request["message"]) == (
        "rejected", "RED", "The requisition is still in Acumatica Cloud ERP. Please delete it before retrying.")


def test_the_project_documents_stand_alone():
    """A clone has no ``../shared``: the rules are the project's own (docs/rules.md), linked from the README."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout: the project's files cannot be listed")
    texts = {name: (ROOT / name).read_text(errors="replace") for name in tracked
             if name.endswith((".md", ".py", ".sql", ".yaml", ".txt", ".toml")) and (ROOT / name).exists()
             and name != "tests/test_readme.py"}
    assert [name for name, text in texts.items() if "../shared" in text or "SPEC.md" in text] == []
    assert "(docs/rules.md)" in README


def test_the_rules_quote_the_messages_the_code_gives():
    def quoted(template: str) -> str:
        assert f"`{template}`" in RULES, template
        return template

    still_there = quoted("The {noun} is still in {ERP}. Please delete it before retrying.")
    waiting = quoted("Waiting for the next hourly sync with Sage 300 CRE®: the {record} can be unlinked once a sync "
                     "that started after this request has completed.")
    for kind in ErpKind:
        assert f"`{kind.display_name}`" in RULES
        for record_type in RecordType:
            assert f"`{record_type.noun}`" in RULES
            assert still_in_erp(record_type, kind) == still_there.format(noun=record_type.noun, ERP=kind.display_name)
    assert waiting_for_sync(RecordType.SUBCONTRACTOR_INVOICE, ErpKind.SAGE_300_CRE).message == waiting.format(
        record="subcontractor invoice")
    assert f"`{RecordType.SUBCONTRACTOR_INVOICE.words}`" in RULES
    assert f"`{SUCCESS}`" in RULES
    assert f"`{no_such_integration('')}`" in RULES
    assert no_such_integration("x").startswith(quoted("There is no enabled integration named '{name}'; ").format(name="x"))


def readme_sandbox_commands() -> list[str]:
    """The README's examples of acting as a vendor's user: `curl` against the sandboxes, the Sage offices'
    command line."""
    return [line.split("  #")[0].strip() for block in re.findall(r"```sh\n(.*?)```", README, re.DOTALL)
            for line in block.splitlines() if line.startswith(("curl ", ".venv/bin/python -m sandbox."))]


def test_the_readme_sandbox_examples_act_on_each_vendor_with_the_references_the_page_shows(
        sandbox, airflow_sqlite_store, sage):
    """Run as printed, against this test's sandboxes and Sage databases (their addresses put for the
    demo's): Acumatica takes `Bill/000014` as well as `Bill/Bill%7C000015`, QuickBooks `Bill/85` as well
    as `bill/84`."""
    scene = SyncedScene(sandbox, airflow_sqlite_store)
    refs = {row["erp_ref"] for integration in scene.integrations.values()
            for row in airflow_sqlite_store.rows("active_links", integration_id=integration["id"])}
    assert {"Bill/000014", "Bill/000015", "84", "85"} <= refs  # the references the examples name
    sage300, sage100 = sage.offices["sage300"], sage.offices["sage100"]
    sage300.insert_raw("APM_MASTER__INVOICE", Vendor="V200", Invoice="INV-1044-0001", Description="example")
    sage100.insert_raw("acpinv", recnum=7, invnum="INV-7", vndnum=1, usrdf1="example")
    commands = readme_sandbox_commands()
    assert {vendor for vendor in ("acumatica", "quickbooks", "procore", "sage300", "sage100")
            if any(vendor in command for command in commands)} == {"acumatica", "quickbooks", "procore", "sage300",
                                                                     "sage100"}
    addresses = {"http://127.0.0.1:8700": sandbox.url, ".venv/bin/python": sys.executable,
                 "sqlite:///.airflow/sage/sage300.db": sage300.engine.url.render_as_string(),
                 "sqlite:///.airflow/sage/sage100.db": sage100.engine.url.render_as_string()}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src"), str(ROOT / "plugins")])}

    for command in commands:
        for shown, here in addresses.items():
            command = command.replace(shown, here)
        result = subprocess.run(command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True)
        assert result.returncode == 0, (command, result.stdout, result.stderr)

    bills = {bill["ReferenceNbr"]["value"] for bill in sandbox.erp_rows("acumatica", "Bill")}
    assert not {"000014", "000015"} & bills and {"000004", "000005"} <= bills
    assert not {"84", "85"} & {bill["Id"] for bill in sandbox.erp_rows("quickbooks", "Bill")}
    requisitions = {row["id"]: row for row in sandbox.procore_rows("requisitions")}
    assert requisitions[1022]["status"] == "approved" and requisitions[1021]["deleted_at"]
    assert sage300.rows("APM_MASTER__INVOICE", Vendor="V200", Invoice="INV-1044-0001") == []
    assert sage100.rows("acpinv", recnum=7) == []
