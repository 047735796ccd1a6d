"""People act as themselves: the verified Procore user is the requester on every path, and no path lets
one person act with another's permissions. Each path refuses an impersonation and accepts the honest
request; tokens rotate; a disconnected person is refused; no secret reaches the store in clear or
the logs of a run."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from erp_sync.credentials import unseal
from erp_sync.identity import NotConnected, ProcoreAccounts, how_to_connect, map_role
from erp_sync.models import RecordType
from erp_sync.store import RefreshTokens
from erp_sync.unlink import SUCCESS
from sandbox.procore_data import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from conftest import POSTGRES_URL, SyncedScene, connect_person, person, run_as

pytestmark = pytest.mark.airflow
EMERY = 105  # no ERP access, no 'Can Push to Accounting', read-only on the project: may do neither job


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(Path(__file__).resolve().parents[1] / "dags"))


def refresh_with(sandbox, refresh_token: str) -> requests.Response:
    return requests.post(f"{sandbox.url}/procore/oauth/token", timeout=30, data={
        "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET})


def stored_refresh_token(store, airflow_user: str) -> str:
    with store.engine.connect() as connection:
        sealed = connection.execute(sa.text("SELECT refresh_token_sealed FROM procore_accounts WHERE airflow_user = :u"),
                                    {"u": airflow_user}).scalar_one()
    return unseal(sealed)


# The connected account --------------------------------------------------------------------------

def test_a_person_is_who_procore_says_and_each_use_rotates_the_refresh_token(sandbox, store):
    accounts = ProcoreAccounts(store)
    connected = connect_person(sandbox, store, "blake", 102)
    assert (connected.procore_user_id, connected.name) == (102, "Blake Standard")
    first = stored_refresh_token(store, "blake")

    assert accounts.verified("blake", "procore_test").procore_user_id == 102

    second = stored_refresh_token(store, "blake")
    assert second != first
    refused = refresh_with(sandbox, first)  # Procore spent it: a copy of the old token is worth nothing
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert accounts.verified("blake", "procore_test").procore_user_id == 102  # the newest one still works


def test_no_usable_secret_is_kept_in_the_status_store(sandbox, store):
    connect_person(sandbox, store, "blake", 102)
    RefreshTokens(store).save("quickbooks_test", "AB11-a-quickbooks-refresh-token")
    refresh_token = stored_refresh_token(store, "blake")

    with store.engine.connect() as connection:
        stored = [json.dumps([list(row) for row in connection.execute(sa.text(f"SELECT * FROM {table}"))], default=str)
                  for table in ("procore_accounts", "oauth_tokens", "audit_log")]
    assert not [table for table in stored if refresh_token in table or "AB11-a-quickbooks" in table]
    assert RefreshTokens(store).load("quickbooks_test") == "AB11-a-quickbooks-refresh-token"


def test_a_disconnected_person_is_refused_and_both_steps_are_audited(sandbox, store):
    accounts = ProcoreAccounts(store)
    connect_person(sandbox, store, "blake", 102)

    assert accounts.disconnect("blake", "procore_test") is True

    with pytest.raises(NotConnected) as refused:
        accounts.verified("blake", "procore_test")
    assert str(refused.value) == ("Airflow user blake has no Procore account connected. "
                                  + how_to_connect("blake", "procore_test"))
    trail = store.rows("audit_trail", entity="procore_account", entity_id="blake@procore_test")
    assert [(entry["action"], entry["actor"]) for entry in trail] == [("connected", "blake"), ("disconnected", "blake")]


def test_a_grant_revoked_at_procore_is_refused_with_how_to_connect_again(sandbox, store):
    connect_person(sandbox, store, "blake", 102)
    refresh_with(sandbox, stored_refresh_token(store, "blake"))  # spent elsewhere: what a revocation looks like

    with pytest.raises(NotConnected, match="Procore no longer accepts the connection of Airflow user blake"):
        ProcoreAccounts(store).verified("blake", "procore_test")


# Every path -------------------------------------------------------------------------------------

class World(SyncedScene):
    def __init__(self, sandbox, store, dagbag):
        super().__init__(sandbox, store)
        self.form, self.queue = dagbag.dags["erp_file_unlink_request"], dagbag.dags["erp_unlink_queue"]
        self.payments = dagbag.dags["erp_payment_import"]

    def deleted_invoice(self) -> dict:
        """An exported invoice whose bill an Acumatica user deleted: ready to be unlinked."""
        link = next(row for row in self.store.rows("active_links", integration_id=self.integrations["summit-acumatica"]["id"])
                    if row["record_type"] == RecordType.SUBCONTRACTOR_INVOICE.value and row["erp_ref"])
        self.sandbox.control("DELETE", f"acumatica/Bill/{link['erp_ref']}")
        return link

    def requests(self) -> list[dict]:
        with self.store.engine.connect() as connection:
            return [dict(row) for row in connection.execute(sa.text("SELECT * FROM unlink_requests ORDER BY id")).mappings()]

    def outcome(self, request_id: int) -> tuple[str, str, str]:
        row = self.store.one("unlink_request", id=request_id)
        return row["status"], row["colour"], row["message"]

    def link_ended(self, link: dict) -> bool:
        return not any(row["id"] == link["id"] for row in self.store.rows(
            "active_links", integration_id=self.integrations["summit-acumatica"]["id"]))


@pytest.fixture
def world(airflow_db, sandbox, airflow_store, dagbag) -> World:
    return World(sandbox, airflow_store, dagbag)


def test_the_form_files_as_the_signed_in_person_whatever_the_conf_says(world):
    link = world.deleted_invoice()
    emery = person(world.sandbox, world.store, EMERY)

    # Emery names Avery (an ERP admin) in the run's conf: the form has no such field and ignores it.
    run = run_as(world.form, emery, integration="summit-acumatica", record_type="subcontractor_invoice",
                 procore_id=link["procore_id"], requested_by=101)
    assert run.state == "success"
    (filed,) = world.requests()
    assert (filed["requested_by"], filed["filed_by"]) == (EMERY, emery)
    world.queue.test()
    assert world.outcome(filed["id"])[:2] == ("rejected", "RED")
    assert world.outcome(filed["id"])[2].startswith(f"Procore user {EMERY} may not unlink: missing")
    assert not world.link_ended(link)

    avery = person(world.sandbox, world.store, 101)
    assert run_as(world.form, avery, integration="summit-acumatica", record_type="subcontractor_invoice",
                  procore_id=link["procore_id"]).state == "success"
    world.queue.test()
    assert world.outcome(world.requests()[-1]["id"]) == ("done", "GREEN", SUCCESS)
    assert world.link_ended(link)


def test_the_form_refuses_a_person_without_a_connected_account_and_says_how_to_connect(world, capfd):
    link = world.deleted_invoice()
    avery = person(world.sandbox, world.store, 101)
    ProcoreAccounts(world.store).disconnect(avery, "procore_test")

    for airflow_user in ("someone-new", avery):
        run = run_as(world.form, airflow_user, integration="summit-acumatica", record_type="subcontractor_invoice",
                     procore_id=link["procore_id"])
        assert run.state == "failed"
        assert how_to_connect(airflow_user, "procore_test") in capfd.readouterr().out
    assert world.requests() == [] and not world.link_ended(link)


def test_the_on_demand_payment_sync_acts_as_the_signed_in_person(world):
    emery = person(world.sandbox, world.store, EMERY)
    refused = run_as(world.payments, emery, integration="summit-acumatica", requested_by=101)
    assert refused.state == "failed"
    (row,) = world.store.rows("runs_of_airflow_run", airflow_run_id=refused.run_id)
    assert row["status"] == "failed"
    assert f"Emery Field (Procore user {EMERY}) may not sync payments on demand" in row["error"]

    assert run_as(world.payments, "someone-new", integration="summit-acumatica").state == "failed"

    devon = person(world.sandbox, world.store, 104)  # read-only on ERP Integrations, but an accounting approver
    allowed = run_as(world.payments, devon, integration="summit-acumatica")
    assert allowed.state == "success"
    (row,) = world.store.rows("runs_of_airflow_run", airflow_run_id=allowed.run_id)
    assert row["status"] == "success"


def test_no_token_appears_in_the_logs_of_a_run(world, capfd, caplog):
    """The runs' task logs, as ``dag.test()`` writes them: to the console and through Python's logging."""
    caplog.set_level("DEBUG")
    link = world.deleted_invoice()
    avery = person(world.sandbox, world.store, 101)
    spent = stored_refresh_token(world.store, avery)
    capfd.readouterr()
    caplog.clear()

    assert run_as(world.form, avery, integration="summit-acumatica", record_type="subcontractor_invoice",
                  procore_id=link["procore_id"]).state == "success"
    assert run_as(world.payments, avery, integration="").state == "success"
    console = capfd.readouterr()
    logs = "\n".join((console.out, console.err, caplog.text))

    assert logs.count("Procore confirmed Airflow user person-101 as Procore user 101") == 2  # the logs were read
    procore = world.sandbox.sandboxes.procore
    secrets = {spent, stored_refresh_token(world.store, avery), *procore.tokens, *procore.refresh_tokens}
    assert len(secrets) > 4 and not [secret for secret in secrets if secret in logs]


# Rows typed into unlink_requests, on PostgreSQL with the filers' own database roles ---------------

@pytest.fixture
def filer_roles(world):
    """Two throw-away login roles that may type unlink requests and export decisions (and nothing else),
    named for this test."""
    if world.store.engine.dialect.name != "postgresql":
        pytest.skip("database roles exist on PostgreSQL; on SQLite access to the file is the boundary")
    schema = _schema(world.store)
    roles = {user: f"erp_filer_{uuid.uuid4().hex[:8]}" for user in (101, EMERY)}
    with world.store.engine.begin() as connection:
        for role in roles.values():
            connection.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
            connection.execute(sa.text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
            for table in ("unlink_requests", "export_decisions"):
                connection.execute(sa.text(f'GRANT SELECT, INSERT ON {table} TO "{role}"'))
                connection.execute(sa.text(f'GRANT USAGE ON SEQUENCE {table}_id_seq TO "{role}"'))
    for user, role in roles.items():
        map_role(world.store, role, user, actor="test administrator")
    engines = {user: sa.create_engine(sa.engine.make_url(POSTGRES_URL).set(username=role),
                                      connect_args={"options": f"-csearch_path={schema}"})
               for user, role in roles.items()}
    yield {user: (roles[user], engine) for user, engine in engines.items()}
    for engine in engines.values():
        engine.dispose()
    with world.store.engine.begin() as connection:
        for role in roles.values():
            connection.execute(sa.text(f'DROP OWNED BY "{role}"'))
            connection.execute(sa.text(f'DROP ROLE "{role}"'))


def _schema(store) -> str:
    with store.engine.connect() as connection:
        return connection.execute(sa.text("SELECT current_schema()")).scalar_one()


def type_row(engine, table: str = "unlink_requests", **columns) -> int:
    names, values = ", ".join(columns), ", ".join(f":{key}" for key in columns)
    with engine.begin() as connection:
        return connection.execute(sa.text(f"INSERT INTO {table} ({names}) VALUES ({values}) RETURNING id"),
                                  columns).scalar_one()


def test_a_typed_row_asks_as_its_filers_procore_user_only(world, filer_roles):
    link = world.deleted_invoice()
    emery_role, emery = filer_roles[EMERY]
    avery_role, avery = filer_roles[101]
    asked = dict(integration="summit-acumatica", record_type="subcontractor_invoice", procore_id=link["procore_id"],
                 requested_by=101)

    impostor = type_row(emery, **asked, filed_by_role=avery_role)  # the database writes the real role
    world.queue.test()

    assert world.store.one("unlink_request", id=impostor)["filed_by_role"] == emery_role
    assert world.outcome(impostor) == ("rejected", "RED", (
        f"The request names Procore user 101 as requester, but it was typed in by database role '{emery_role}', "
        f"which is Procore user {EMERY}: people file requests as themselves."))
    assert not world.link_ended(link)

    honest = type_row(avery, **asked)
    world.queue.test()
    assert world.outcome(honest) == ("done", "GREEN", SUCCESS)
    assert world.link_ended(link)


def test_a_filer_cannot_change_who_they_are_or_a_filed_request(world, filer_roles):
    emery_role, emery = filer_roles[EMERY]
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        with emery.begin() as connection:
            connection.execute(sa.text("UPDATE role_procore_users SET procore_user_id = 101"))
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        with emery.connect() as connection:
            connection.execute(sa.text("SELECT * FROM procore_accounts"))
    request_id = type_row(emery, integration="summit-acumatica", record_type="commitment", procore_id=1,
                          requested_by=EMERY)
    with world.store.engine.begin() as connection:  # even the pipeline's own role cannot rewrite a request
        connection.execute(sa.text("UPDATE unlink_requests SET requested_by = 101, filed_by_role = 'x' WHERE id = :id"),
                           {"id": request_id})
    row = world.store.one("unlink_request", id=request_id)
    assert (row["requested_by"], row["filed_by_role"]) == (EMERY, emery_role)


def test_a_row_from_a_role_nobody_mapped_is_refused(world, filer_roles):
    emery_role, emery = filer_roles[EMERY]
    with world.store.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM role_procore_users WHERE role_name = :role"), {"role": emery_role})
    request_id = type_row(emery, integration="summit-acumatica", record_type="commitment", procore_id=1,
                          requested_by=EMERY)
    world.queue.test()
    assert world.outcome(request_id) == ("rejected", "RED", (
        f"The request was typed in by database role '{emery_role}', which is not mapped to a Procore user, so who "
        "asks is unknown: an administrator maps it with `python -m erp_sync map-role`."))
