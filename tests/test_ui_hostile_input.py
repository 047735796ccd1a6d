"""Hostile input on every route of ERP Sync's pages, served by Airflow's API server over HTTP, on a
SQLite and a PostgreSQL status store: ids past the store's integer range, negative, not numbers, other
scripts, very long, a NUL character, SQL. Each answer is the normal page or a 4xx with a sentence, never
a 5xx. With no status store configured, each page says how to set one up.

The person is connected to Procore, so an action goes as far as its own validation; they sign in with a
Bearer header (as a script does, so no form token is needed) and ask for pages as a browser does."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
import requests
from conftest import TEST_INTEGRATIONS, _postgres_store, _sqlite_store, connect_person

pytestmark = pytest.mark.airflow
NAME = TEST_INTEGRATIONS[0].name
HOSTILE = ["9223372036854775807", "9223372036854775808", "92233720368547758080", "4611686018427387904",
           "2147483648", "-1", "0", "1e3", "abc", "１２", "ünïcødé ☃ 名前", "x" * 5000, "9" * 5000, "a\x00b",
           "' OR 1=1 --", "%", "../..", ""]
# (method, path, form): {} marks where the hostile value goes.
ROUTES = [
    ("GET", "integrations/{}", None),
    ("GET", f"integrations/{NAME}?project={{}}", None),
    ("GET", f"integrations/{NAME}?page={{}}", None),
    ("GET", f"integrations/{NAME}?view=failed&page={{}}", None),
    ("GET", f"integrations/{NAME}?record_type={{}}", None),
    ("GET", f"integrations/{NAME}?view={{}}", None),
    ("GET", f"integrations/{NAME}?number={{}}", None),
    ("GET", f"integrations/{NAME}?payment_run={{}}", None),
    ("GET", f"integrations/{NAME}/unlink-requests/{{}}", None),
    ("GET", "integrations/{}/unlink-requests/1", None),
    ("GET", "integrations/{}/ready", None),
    ("GET", f"integrations/{NAME}/ready?record_type={{}}", None),
    ("GET", f"integrations/{NAME}/ready?decided={{}}&decided=1", None),
    ("GET", f"integrations/{NAME}/ready?mode_changed={{}}&started={{}}", None),
    ("GET", f"integrations/{NAME}/decisions?ids={{}}", None),
    ("GET", "integrations/{}/decisions?ids=1", None),
    ("GET", f"integrations/{NAME}/payments/imports?run={{}}", None),
    ("GET", "integrations/{}/payments/imports?run=x", None),
    ("GET", "operations/{}", None),
    ("GET", "identity/connect?conn_id={}", None),
    ("GET", "identity/disconnect?conn_id={}", None),
    ("GET", "identity/callback?state={}&code=x", None),
    ("GET", "identity/callback?state=x&error_description={}", None),
    ("POST", "integrations/{}/unlink", {"record_type": "commitment", "procore_id": "1"}),
    ("POST", f"integrations/{NAME}/unlink", {"record_type": "commitment", "procore_id": "{}"}),
    ("POST", f"integrations/{NAME}/unlink", {"record_type": "{}", "procore_id": "1"}),
    ("POST", "integrations/{}/payments/sync", {}),
    ("POST", "integrations/{}/ready", {"record_type": "commitment", "decision": "accept", "procore_id": "1"}),
    ("POST", f"integrations/{NAME}/ready", {"record_type": "commitment", "decision": "accept", "procore_id": "{}"}),
    ("POST", f"integrations/{NAME}/ready", {"record_type": "commitment", "decision": "{}", "procore_id": "1"}),
    ("POST", f"integrations/{NAME}/ready", {"record_type": "{}", "decision": "accept", "procore_id": "1"}),
    ("POST", f"integrations/{NAME}/ready", {"record_type": "commitment", "decision": "reject", "procore_id": "1",
                                           "reason": "{}"}),
    ("POST", "integrations/{}/export-mode", {"mode": "direct"}),
    ("POST", f"integrations/{NAME}/export-mode", {"mode": "{}"}),
    ("POST", "identity/disconnect", {"conn_id": "{}"}),
    ("GET", "integrations/{}/reconciliation", None),
    ("GET", f"integrations/{NAME}/reconciliation?project={{}}", None),
    ("GET", f"integrations/{NAME}/reconciliation?page={{}}", None),
    ("GET", f"integrations/{NAME}/reconciliation?cause={{}}&only_differences={{}}", None),
    ("GET", f"integrations/{NAME}/reconciliation/{{}}", None),
    ("GET", f"integrations/{NAME}/reconciliation.{{}}", None),
    ("GET", f"integrations/{NAME}/reconciliation.csv?project={{}}", None),
    ("GET", "integrations/{}/reference", None),
    ("GET", f"integrations/{NAME}/reference?kind={{}}", None),
    ("GET", f"integrations/{NAME}/reference?search={{}}", None),
    ("POST", "integrations/{}/reference", {"kind": "vendor", "action": "confirm", "procore_id": "1"}),
    ("POST", f"integrations/{NAME}/reference", {"kind": "{}", "action": "confirm", "procore_id": "1"}),
    ("POST", f"integrations/{NAME}/reference", {"kind": "vendor", "action": "{}", "procore_id": "1"}),
    ("POST", f"integrations/{NAME}/reference", {"kind": "vendor", "action": "link", "procore_id": "{}",
                                               "erp_id": "APEXCON"}),
    ("POST", f"integrations/{NAME}/reference", {"kind": "vendor", "action": "link", "procore_id": "1",
                                               "erp_id": "{}"}),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request, airflow_api, sandbox_server, tmp_path_factory):
    """One status store per engine for the whole module, the test integrations in it, and avery connected."""
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "sqlite":
            path = tmp_path_factory.mktemp("hostile")
            store = _sqlite_store(path)
            connection, cleanup = {"conn_type": "sqlite", "host": str(path / "erp_sync.db")}, None
        else:
            store, admin, schema = _postgres_store()
            url = store.engine.url
            connection = {"conn_type": "postgres", "host": url.host, "port": url.port, "login": url.username,
                          "schema": url.database, "extra": {"sqlalchemy_query": {"options": f"-csearch_path={schema}"}}}
            cleanup = (admin, schema)
        patch.setenv("AIRFLOW_CONN_ERP_SYNC_DB", json.dumps(connection))
        for conn_id, sandbox_connection in sandbox_server.connections().items():
            patch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(sandbox_connection))
        sandbox_server.reset()
        for integration in TEST_INTEGRATIONS:
            store.save_integration(integration)
        connect_person(sandbox_server, store, "avery", 101)
        avery = requests.Session()
        avery.headers.update({"Authorization": f"Bearer {airflow_api.token('avery', 'user')}", "Accept": "text/html"})
        yield airflow_api, store, avery
        store.engine.dispose()
        if cleanup:
            admin, schema = cleanup
            with admin.begin() as connection_:
                connection_.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()


def says_why(answer: requests.Response) -> bool:
    """A refusal a person can read: the page's problem or refusal sentence, the scripts' JSON message, or a
    download's plain-text sentence."""
    kind = answer.headers.get("content-type", "")
    if kind.startswith("application/json"):
        message = answer.json().get("message") or answer.json().get("detail")
        return isinstance(message, str) and len(message.split()) >= 4
    if kind.startswith("text/plain"):
        return len(answer.text.split()) >= 4
    return re.search(r'class="[^"]*\bproblem\b[^"]*"[^>]*>\s*\S[^<]{20,}', answer.text) is not None


def ask(api, session: requests.Session, method: str, path: str, form: dict | None, value: str) -> requests.Response:
    path = path.replace("{}", quote(value, safe=""))
    data = {key: field.replace("{}", value) for key, field in form.items()} if form is not None else None
    return session.request(method, f"{api.url}/erp-sync/{path}", data=data, timeout=60, allow_redirects=False)


@pytest.mark.parametrize(("method", "path", "form"), ROUTES, ids=[f"{m} {p} {f or ''}" for m, p, f in ROUTES])
def test_hostile_input_gets_the_page_or_a_sentence_never_a_server_error(site, method, path, form):
    api, store, avery = site
    wrong = []
    for value in HOSTILE:
        answer = ask(api, avery, method, path, form, value)
        if answer.status_code >= 500 or (answer.status_code >= 400 and not says_why(answer)):
            wrong.append((value[:30], answer.status_code, answer.text[:300]))
    assert wrong == []
    assert store.rows("recent_unlink_requests", limit=5) == []
    assert store.rows("export_decisions_of_integration", integration=NAME, record_type=None, limit=5) == []


def test_a_page_past_the_last_shows_the_last_page(site):
    api, _store, avery = site
    page = avery.get(f"{api.url}/erp-sync/integrations/{NAME}", params={"page": 4611686018427387904}, timeout=60)
    assert page.status_code == 200 and "Page 1 of 1" in page.text


def test_with_no_status_store_each_page_says_how_to_set_one_up(airflow_api, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_ERP_SYNC_DB", raising=False)
    avery = requests.Session()
    avery.headers.update({"Authorization": f"Bearer {airflow_api.token('avery', 'user')}", "Accept": "text/html"})

    for path in ("integrations/", f"integrations/{NAME}", f"integrations/{NAME}/ready", f"operations/{NAME}",
                 "identity/"):
        answer = avery.get(f"{airflow_api.url}/erp-sync/{path}", timeout=60)
        assert (path, answer.status_code) == (path, 409)
        assert "ERP Sync has no status store yet: define the Airflow connection erp_sync_db" in answer.text
        assert "AIRFLOW_CONN_ERP_SYNC_DB" in answer.text
