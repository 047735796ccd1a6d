"""The Procore account page of the UI plugin, served by Airflow's own API server app over HTTP: nothing
answers without Airflow's sign-in, and a person connects (as the demo does it) and disconnects."""

from __future__ import annotations

import os

import pytest
import requests
from browser import screenshot
from playwright.sync_api import expect

from erp_sync.demo import connect_procore_account
from sandbox.procore import sign_in
from sandbox.procore_data import DEMO_CLIENT_ID, DEMO_REDIRECT_URIS, SIGN_INS
from conftest import add_test_integrations, connect_person

pytestmark = pytest.mark.airflow
pytest_plugins = ["browser"]  # the browser fixtures
BLAKE = "blake.standard@summit.example"


def identity_page(api, path: str = "") -> str:
    return f"{api.url}/erp-sync/identity/{path}"


@pytest.fixture
def ui(airflow_api, sandbox, airflow_sqlite_store):
    """The page's Procore app accepts sign-ins returning to this API server (and to the demo's)."""
    sandbox.control("PUT", f"procore/apps/{DEMO_CLIENT_ID}/redirect_uris",
                    json=[*DEMO_REDIRECT_URIS, identity_page(airflow_api, "callback")])
    add_test_integrations(airflow_sqlite_store)
    return airflow_api


ROUTES = [("GET", ""), ("GET", "connect?conn_id=procore_test"), ("GET", "callback?code=x&state=y"),
          ("GET", "disconnect?conn_id=procore_test"), ("POST", "disconnect")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_nothing_answers_without_airflows_sign_in(ui, method, path):
    url = identity_page(ui, path)
    form = {"conn_id": "procore_test"} if method == "POST" else None
    assert requests.request(method, url, data=form, timeout=30, allow_redirects=False).status_code == 401
    forged = requests.request(method, url, data=form, timeout=30, allow_redirects=False,
                              headers={"Authorization": "Bearer not-a-token"})
    assert forged.status_code == 403
    no_role = ui.browser("nobody", role=None).request(method, url, data=form, timeout=30, allow_redirects=False)
    assert no_role.status_code == 403


def test_a_signed_in_person_sees_their_page(ui):
    page = ui.browser("blake").get(identity_page(ui), timeout=30)
    assert page.status_code == 200
    assert "Signed in to Airflow as <strong>blake</strong>" in page.text
    assert "<td>procore_test</td>" in page.text and "not connected" in page.text


def test_a_person_connects_through_procores_sign_in_then_disconnects(ui, airflow_sqlite_store):
    store = airflow_sqlite_store
    blake = requests.Session()
    blake.headers["Authorization"] = f"Bearer {ui.token('blake')}"

    notice = connect_procore_account(blake, ui.url, BLAKE, procore_conn_id="procore_test")

    assert notice == "Connected: on procore_test you act as Blake Standard (Procore user 102)."
    (account,) = store.rows("procore_accounts_of_user", airflow_user="blake")
    assert (account["procore_user_id"], account["procore_login"]) == (102, BLAKE)
    assert "Blake Standard (Procore user 102, blake.standard@summit.example)" in blake.get(identity_page(ui), timeout=30).text

    gone = blake.post(identity_page(ui, "disconnect"), data={"conn_id": "procore_test"}, timeout=30)
    assert gone.status_code == 200 and "Disconnected from procore_test" in gone.text
    assert store.rows("procore_accounts_of_user", airflow_user="blake") == []
    trail = store.rows("audit_trail", entity="procore_account", entity_id="blake@procore_test")
    assert [entry["action"] for entry in trail] == ["connected", "disconnected"]


def test_a_sign_in_is_kept_only_by_the_person_who_started_it(ui, airflow_sqlite_store):
    alice, mallory = ui.browser("alice"), ui.browser("mallory")
    start = alice.get(identity_page(ui, "connect"), params={"conn_id": "procore_test"}, allow_redirects=False, timeout=30)
    assert start.status_code == 302
    back = sign_in(start.headers["location"], BLAKE, SIGN_INS[BLAKE])

    stolen = mallory.get(back, timeout=30)  # mallory opens the link Procore sent alice back with

    assert stolen.status_code == 400 and "This sign-in was not started by you here" in stolen.text
    for user in ("alice", "mallory"):
        assert airflow_sqlite_store.rows("procore_accounts_of_user", airflow_user=user) == []


def test_only_procore_connections_of_integrations_can_be_connected(ui):
    answer = ui.browser("blake").get(identity_page(ui, "connect"), params={"conn_id": "erp_sync_db"}, allow_redirects=False,
                                     timeout=30)
    assert answer.status_code == 404


def test_the_page_finds_the_status_store_in_airflows_connections(ui, monkeypatch):
    """As under `airflow standalone`, where the demo adds its connections to Airflow's database, which
    the API server reads (``airflow.api_fastapi.main`` marks its process as a server)."""
    from airflow.models import Connection
    from airflow.utils.session import create_session

    stored = Connection.from_json(os.environ["AIRFLOW_CONN_ERP_SYNC_DB"], conn_id="erp_sync_db")
    monkeypatch.delenv("AIRFLOW_CONN_ERP_SYNC_DB")
    monkeypatch.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")
    with create_session() as session:
        session.add(stored)
    try:
        page = ui.browser("blake").get(identity_page(ui), timeout=30)
    finally:
        with create_session() as session:
            session.query(Connection).filter(Connection.conn_id == "erp_sync_db").delete()
    assert page.status_code == 200 and "<td>procore_test</td>" in page.text


def test_the_demos_procore_app_takes_sign_ins_back_to_either_address_the_readme_names(sandbox):
    for address in ("http://localhost:8080", "http://127.0.0.1:8080"):
        start = requests.get(f"{sandbox.url}/procore/oauth/authorize", timeout=30, params={
            "response_type": "code", "client_id": DEMO_CLIENT_ID,
            "redirect_uri": f"{address}/erp-sync/identity/callback"})
        assert (address, start.status_code) == (address, 200) and "not valid" not in start.text
    elsewhere = requests.get(f"{sandbox.url}/procore/oauth/authorize", timeout=30, params={
        "response_type": "code", "client_id": DEMO_CLIENT_ID, "redirect_uri": "http://evil.example/callback"})
    assert elsewhere.status_code == 400 and "The redirect uri included is not valid." in elsewhere.text


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_person_connects_at_whichever_address_they_opened_the_page_at(ui, sandbox, airflow_sqlite_store, host):
    port = ui.url.rsplit(":", 1)[1]
    sandbox.control("PUT", f"procore/apps/{DEMO_CLIENT_ID}/redirect_uris",
                    json=[f"http://{name}:{port}/erp-sync/identity/callback" for name in ("127.0.0.1", "localhost")])
    blake = requests.Session()
    blake.headers["Authorization"] = f"Bearer {ui.token('blake')}"

    start = blake.get(f"http://{host}:{port}/erp-sync/identity/connect", params={"conn_id": "procore_test"},
                      allow_redirects=False, timeout=30)
    notice = connect_procore_account(blake, f"http://{host}:{port}", BLAKE, procore_conn_id="procore_test")

    assert f"redirect_uri=http%3A%2F%2F{host}%3A{port}%2Ferp-sync%2Fidentity%2Fcallback" in start.headers["location"]
    assert notice == "Connected: on procore_test you act as Blake Standard (Procore user 102)."


def test_disconnect_asks_first_saying_that_every_action_needs_the_account(ui, sandbox, airflow_sqlite_store, browser):
    store = airflow_sqlite_store
    connect_person(sandbox, store, "blake", 102)
    page = browser.sign_in(ui, "blake")
    page.goto(identity_page(ui))

    page.get_by_role("link", name="Disconnect…").click()

    question = page.locator("#confirm-disconnect")
    expect(question).to_contain_text("Disconnect your Procore account on procore_test?")
    expect(question).to_contain_text("Every action on ERP Sync's pages (Unlink, Accept and Reject, Sync Payments, "
                                     "changing the export mode) needs a connected Procore account")
    screenshot(page, "identity-disconnect-asks-first")
    assert [row["procore_conn_id"] for row in store.rows("procore_accounts_of_user", airflow_user="blake")] == [
        "procore_test"]  # asking changed nothing

    question.get_by_role("button", name="Disconnect").click()

    expect(page.locator(".notice")).to_have_text("Disconnected from procore_test: connect again to act there.")
    assert store.rows("procore_accounts_of_user", airflow_user="blake") == []
    screenshot(page, "identity-disconnected")
