"""Contract tests of the Procore sandbox over real HTTP, as a third-party client would see it."""

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from sandbox.procore import MISSING_COMPANY, sign_in
from sandbox.procore_data import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_COMPANY_ID,
    DEMO_REDIRECT_URIS,
    HARBOR_ONLY_USER_ID,
    SECOND_COMPANY_ID,
    SIGN_INS,
)


class Client:
    def __init__(self, base: str):
        self.base = f"{base}/procore"
        token = requests.post(f"{self.base}/oauth/token", data={
            "grant_type": "client_credentials", "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET})
        token.raise_for_status()
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}",
                        "Procore-Company-Id": str(DEMO_COMPANY_ID)}

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.base}/rest/v1.0/{path}", headers=self.headers, timeout=30, **kwargs)

    def first_project(self) -> int:
        return self.call("GET", "projects", params={"company_id": DEMO_COMPANY_ID}).json()[0]["id"]


@pytest.fixture
def client(sandbox) -> Client:
    return Client(sandbox.url)


def test_token_needs_the_right_secret(sandbox):
    response = requests.post(f"{sandbox.url}/procore/oauth/token", data={
        "grant_type": "client_credentials", "client_id": DEMO_CLIENT_ID, "client_secret": "wrong"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_token_is_a_90_minute_bearer(client, sandbox):
    response = requests.post(f"{sandbox.url}/procore/oauth/token", data={
        "grant_type": "client_credentials", "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET})
    assert response.json()["token_type"] == "bearer"
    assert response.json()["expires_in"] == 5400


def test_calls_without_a_token_are_refused(sandbox):
    response = requests.get(f"{sandbox.url}/procore/rest/v1.0/companies")
    assert response.status_code == 401
    assert response.json() == {"errors": "The access token is invalid"}


def test_company_header_is_required_except_for_companies(client):
    del client.headers["Procore-Company-Id"]
    assert client.call("GET", "companies").status_code == 200
    response = client.call("GET", "projects", params={"company_id": DEMO_COMPANY_ID})
    assert response.status_code == 400
    assert response.json() == {"errors": MISSING_COMPANY}


def test_another_company_is_forbidden(client):
    client.headers["Procore-Company-Id"] = "999"
    assert client.call("GET", "projects", params={"company_id": 999}).status_code == 403


def test_paging_headers_walk_every_row(sandbox, client):
    sandbox.reset(projects=1, commitments_per_project=250, change_orders_per_project=0, invoices_per_project=0,
                  companies=1)
    project = client.first_project()
    expected = {r["id"] for r in sandbox.procore_rows("work_order_contracts")}
    seen, url, params, pages = set(), f"{client.base}/rest/v1.0/work_order_contracts", {"project_id": project, "per_page": 500}, 0
    while url:
        response = requests.get(url, params=params, headers=client.headers)
        assert response.headers["Total"] == str(len(expected))
        assert response.headers["Per-Page"] == "100"
        assert 'rel="last"' in response.headers["Link"]
        seen |= {row["id"] for row in response.json()}
        url, params, pages = response.links.get("next", {}).get("url"), None, pages + 1
    assert seen == expected
    assert pages == 2  # 167 work order contracts of 250 commitments, 100 a page


def test_updated_at_range_and_origin_id_filters(sandbox, client):
    project = client.first_project()
    invoices = client.call("GET", "requisitions", params={"project_id": project}).json()
    since = datetime.now(UTC) - timedelta(seconds=5)
    sandbox.control("PATCH", f"procore/requisitions/{invoices[0]['id']}", json={"origin_id": "AP-000123"})
    window = f"{since.isoformat()}...{(datetime.now(UTC) + timedelta(seconds=5)).isoformat()}"
    changed = client.call("GET", "requisitions", params={"project_id": project, "filters[updated_at]": window}).json()
    assert [row["id"] for row in changed] == [invoices[0]["id"]]
    by_origin = client.call("GET", "requisitions", params={"project_id": project, "filters[origin_id]": "AP-000123"}).json()
    assert [row["id"] for row in by_origin] == [invoices[0]["id"]]
    bad = client.call("GET", "requisitions", params={"project_id": project, "filters[updated_at]": "yesterday"})
    assert bad.status_code == 400 and "filters[updated_at]" in bad.json()["errors"]


def test_money_is_sent_as_strings(client):
    project = client.first_project()
    commitment = client.call("GET", "work_order_contracts", params={"project_id": project}).json()[0]
    assert re.fullmatch(r"\d+\.\d{2}", commitment["grand_total"])
    invoice = client.call("GET", "requisitions", params={"project_id": project}).json()[0]
    assert isinstance(invoice["summary"]["current_payment_due"], str)


def test_rate_limit_headers_and_429(sandbox, client):
    sandbox.control("PUT", "procore/rate_limit", json={"limit": 3, "window_seconds": 60})
    answers = [client.call("GET", "companies") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["X-Rate-Limit-Limit"] == "3"
    assert [a.headers["X-Rate-Limit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
    assert int(answers[3].headers["X-Rate-Limit-Reset"]) > datetime.now(UTC).timestamp()


def test_injected_503_carries_retry_after(sandbox, client):
    sandbox.fault("procore", status=503, retry_after=7, times=1)
    first, second = client.call("GET", "companies"), client.call("GET", "companies")
    assert (first.status_code, first.headers["Retry-After"], second.status_code) == (503, "7", 200)


def test_commitment_origin_write_back_and_approval(sandbox, client):
    project = client.first_project()
    draft = next(r for r in sandbox.procore_rows("work_order_contracts") if r["status"] == "Draft")
    approved = sandbox.control("POST", f"procore/work_order_contracts/{draft['id']}/approve").json()
    assert approved["status"] == "Approved" and approved["updated_at"] > draft["updated_at"]
    response = client.call("PATCH", f"work_order_contracts/{draft['id']}", params={"project_id": project},
                           json={"work_order_contract": {"origin_id": "SC-0042", "origin_data": '{"erp": "acumatica"}'}})
    assert response.status_code == 200
    assert response.json()["origin_id"] == "SC-0042"


def _synced_payment(sandbox, client) -> tuple[int, dict]:
    project = client.first_project()
    contract = client.call("GET", "work_order_contracts", params={"project_id": project}).json()[0]
    created = client.call("POST", "contract_payments", params={"project_id": project, "contract_id": contract["id"]},
                          json={"contract_payment": {"amount": "1500.00", "date": "2026-11-02", "check_number": "10045",
                                                     "origin_id": "Payment|000123"}})
    assert created.status_code == 201
    return project, created.json()


def test_synced_payment_is_locked_but_for_attachments_and_origin(sandbox, client):
    project, payment = _synced_payment(sandbox, client)
    params = {"project_id": project, "contract_id": payment["contract_id"]}
    locked = client.call("PATCH", f"contract_payments/{payment['id']}", params=params,
                         json={"contract_payment": {"amount": "1.00"}})
    assert locked.status_code == 422 and "amount" in locked.json()["errors"]
    open_fields = client.call("PATCH", f"contract_payments/{payment['id']}", params=params,
                              json={"contract_payment": {"origin_data": "voided"}})
    assert open_fields.status_code == 200


def test_a_user_may_edit_the_payment_number_of_a_synced_payment(sandbox, client):
    _project, payment = _synced_payment(sandbox, client)
    edited = sandbox.control("PATCH", f"procore/contract_payments/{payment['id']}", json={"payment_number": "7"})
    assert edited.json()["payment_number"] == "7"
    with pytest.raises(requests.HTTPError):
        sandbox.control("PATCH", f"procore/contract_payments/{payment['id']}", json={"amount": "2.00"})


def test_sync_endpoint_upserts_by_origin_id(sandbox, client):
    project, payment = _synced_payment(sandbox, client)
    update = {"origin_id": payment["origin_id"], "amount": "0.00", "notes": "Voided in Acumatica"}
    first = client.call("PATCH", "contract_payments/sync", params={"project_id": project}, json={"updates": [update]})
    again = client.call("PATCH", "contract_payments/sync", params={"project_id": project}, json={"updates": [update]})
    assert first.json()["entities"][0]["id"] == payment["id"] == again.json()["entities"][0]["id"]
    assert again.json()["entities"][0]["updated_at"] == first.json()["entities"][0]["updated_at"]
    too_many = client.call("PATCH", "contract_payments/sync", params={"project_id": project},
                           json={"updates": [update] * 1001})
    assert too_many.status_code == 400


def test_permission_questions_can_be_answered(client):
    project = client.first_project()
    user = client.call("GET", f"companies/{DEMO_COMPANY_ID}/users/103").json()
    assert user["erp_integrated_accountant"] is False
    template = client.call("GET", f"companies/{DEMO_COMPANY_ID}/permission_templates/{user['permission_template']['id']}").json()
    assert template["user_access_levels"]["erp_integrations"] == "admin"
    project_user = client.call("GET", f"projects/{project}/users/103").json()
    project_template = client.call(
        "GET", f"companies/{DEMO_COMPANY_ID}/permission_templates/{project_user['permission_template']['id']}").json()
    assert project_template["user_access_levels"]["commitments"] == "admin"


def test_users_belong_to_companies_and_projects(sandbox, client):
    """Procore's company and project directories: a user of one company is unknown to another's."""
    harbor = {**client.headers, "Procore-Company-Id": str(SECOND_COMPANY_ID)}

    def ids(path: str, headers: dict) -> list[int]:
        answer = requests.get(f"{client.base}/rest/v1.0/{path}", headers=headers, timeout=30)
        answer.raise_for_status()
        return [user["id"] for user in answer.json()]

    summit_users = ids(f"companies/{DEMO_COMPANY_ID}/users", client.headers)
    harbor_users = ids(f"companies/{SECOND_COMPANY_ID}/users", harbor)
    assert HARBOR_ONLY_USER_ID in harbor_users and HARBOR_ONLY_USER_ID not in summit_users
    assert set(summit_users) < set(harbor_users)  # the account's accounting team works for both
    unknown = client.call("GET", f"companies/{DEMO_COMPANY_ID}/users/{HARBOR_ONLY_USER_ID}")
    assert unknown.status_code == 404 and unknown.json() == {"errors": f"User {HARBOR_ONLY_USER_ID} not found"}
    harbor_project = next(p.id for p in sandbox.sandboxes.procore.projects.values()
                          if p.company.id == SECOND_COMPANY_ID)
    assert HARBOR_ONLY_USER_ID in ids(f"projects/{harbor_project}/users", harbor)
    assert HARBOR_ONLY_USER_ID not in ids(f"projects/{client.first_project()}/users", client.headers)
    assert client.call("GET", f"projects/{client.first_project()}/users/{HARBOR_ONLY_USER_ID}").status_code == 404


def test_a_client_generated_from_the_openapi_document_reads_every_resource(sandbox, client):
    """Every GET in the served OpenAPI description is called as a generated client would call it."""
    document = requests.get(f"{sandbox.url}/procore/openapi.json").json()
    project = client.first_project()
    _project, payment = _synced_payment(sandbox, client)

    def first_in_project(table: str) -> int:
        return next(row["id"] for row in sandbox.procore_rows(table)
                    if row.get("project_id", row.get("project", {}).get("id")) == project)

    record_ids = {table: first_in_project(table) for table in
                  ("work_order_contracts", "purchase_order_contracts", "requisitions", "commitment_change_orders")}
    record_ids["contract_payments"] = payment["id"]
    values = {"company_id": DEMO_COMPANY_ID, "project_id": project, "user_id": 101,
              "contract_id": payment["contract_id"],
              "template_id": client.call("GET", f"companies/{DEMO_COMPANY_ID}/users/101").json()["permission_template"]["id"]}
    called = []
    for path, operations in document["paths"].items():
        if "get" not in operations or not path.startswith("/rest/v1.0/"):
            continue
        operation = operations["get"]
        resource = next((name for name in record_ids if f"/{name}/" in path), None)
        params, url = {}, path.removeprefix("/rest/v1.0/")
        for parameter in operation.get("parameters", []):
            name = parameter["name"]
            if parameter["in"] == "path":
                value = record_ids[resource] if name == "record_id" else values[name]
                url = url.replace(f"{{{name}}}", str(value))
            elif parameter["in"] == "query" and parameter.get("required"):
                params[name] = values[name]
        response = client.call("GET", url, params=params)
        assert response.status_code == 200, (operation["operationId"], response.text)
        called.append(operation["operationId"])
    assert {"listProjects", "list_work_order_contracts", "listCommitmentChangeOrders", "listRequisitions",
            "listContractPayments", "showCompanyUser", "showProjectUser", "showPermissionTemplate",
            "showRequisition", "showContractPayment", "listCompanies", "show_purchase_order_contracts"} <= set(called)


# Request shapes of Procore's REST reference --------------------------------------------------

def token_request(sandbox, **kwargs) -> requests.Response:
    return requests.post(f"{sandbox.url}/procore/oauth/token", timeout=30, **kwargs)


def test_token_takes_client_credentials_in_http_basic_or_the_form_but_not_both(sandbox):
    """RFC 6749 section 2.3.1: the client authenticates with HTTP Basic or with form parameters."""
    basic = token_request(sandbox, auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET), data={"grant_type": "client_credentials"})
    assert basic.status_code == 200 and basic.json()["token_type"] == "bearer"
    both = token_request(sandbox, auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET), data={
        "grant_type": "client_credentials", "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET})
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"
    wrong = token_request(sandbox, auth=(DEMO_CLIENT_ID, "wrong"), data={"grant_type": "client_credentials"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert wrong.headers["WWW-Authenticate"].startswith("Basic")
    grant = token_request(sandbox, auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET), data={"grant_type": "password"})
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"


def test_writes_take_the_project_and_parent_ids_at_the_top_level_of_the_body(sandbox, client):
    project = client.first_project()
    contract = client.call("GET", "work_order_contracts", params={"project_id": project}).json()[0]
    updated = client.call("PATCH", f"work_order_contracts/{contract['id']}",
                          json={"project_id": project, "work_order_contract": {"origin_id": "SC-1"}})
    assert updated.status_code == 200 and updated.json()["origin_id"] == "SC-1"
    unscoped = client.call("PATCH", f"work_order_contracts/{contract['id']}", json={"work_order_contract": {}})
    assert unscoped.status_code == 400 and "project_id" in unscoped.json()["errors"]

    invoice = client.call("GET", "requisitions", params={"project_id": project}).json()[0]
    body = {"project_id": project, "commitment_id": invoice["commitment_id"], "requisition": {"origin_id": "AP-1"}}
    assert client.call("PATCH", f"requisitions/{invoice['id']}", json=body).json()["origin_id"] == "AP-1"
    elsewhere = client.call("PATCH", f"requisitions/{invoice['id']}", json={**body, "commitment_id": 1})
    assert elsewhere.status_code == 404

    payment = client.call("POST", "contract_payments", json={
        "project_id": project, "contract_id": contract["id"],
        "contract_payment": {"amount": "10.00", "date": "2026-11-02"}})
    assert payment.status_code == 201 and payment.json()["contract_id"] == contract["id"]
    edited = client.call("PATCH", f"contract_payments/{payment.json()['id']}", json={
        "project_id": project, "contract_id": contract["id"], "contract_payment": {"check_number": "77"}})
    assert edited.json()["check_number"] == "77"


def test_a_commitment_change_order_keeps_its_origin_on_its_change_order_package(sandbox, client):
    """Procore's update of a commitment change order reads ``change_order`` and has no ``origin_id``;
    the package it belongs to (``legacy_package_id``) takes ``origin_id`` and ``origin_data``."""
    project = client.first_project()
    cco = client.call("GET", f"projects/{project}/commitment_change_orders").json()[0]
    path = f"projects/{project}/commitment_change_orders/{cco['id']}"
    assert client.call("PATCH", path, json={"commitment_change_order": {"origin_id": "CO-1"}}).status_code == 400
    retitled = client.call("PATCH", path, json={"change_order": {"origin_id": "CO-1", "title": "Retitled"}}).json()
    assert retitled["title"] == "Retitled" and retitled["origin_id"] is None

    package = client.call("PATCH", f"change_order_packages/{cco['legacy_package_id']}", json={
        "project_id": project, "contract_id": cco["contract_id"],
        "change_order": {"origin_id": "CO-1", "origin_data": "Acumatica Cloud ERP ChangeOrder CO-1"}})
    assert package.status_code == 200 and package.json()["origin_id"] == "CO-1"
    assert client.call("GET", path).json()["origin_id"] == "CO-1"


def test_the_openapi_document_names_request_bodies_as_procore_does(sandbox):
    document = requests.get(f"{sandbox.url}/procore/openapi.json", timeout=30).json()
    schemas = document["components"]["schemas"]

    def body_properties(path: str, method: str) -> set[str]:
        ref = document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        return set(schemas[ref.rsplit("/", 1)[-1]]["properties"])

    assert body_properties("/rest/v1.0/work_order_contracts/{record_id}", "patch") == {"project_id",
                                                                                      "work_order_contract"}
    assert body_properties("/rest/v1.0/purchase_order_contracts/{record_id}", "patch") == {
        "project_id", "purchase_order_contract"}
    assert body_properties("/rest/v1.0/requisitions/{record_id}", "patch") == {"project_id", "commitment_id",
                                                                              "requisition"}
    assert body_properties("/rest/v1.0/contract_payments", "post") == {"project_id", "contract_id",
                                                                      "contract_payment"}
    assert body_properties("/rest/v1.0/projects/{project_id}/commitment_change_orders/{record_id}",
                           "patch") == {"change_order"}
    assert body_properties("/rest/v1.0/change_order_packages/{package_id}", "patch") == {
        "project_id", "contract_id", "change_order"}


# Signing people in ------------------------------------------------------------------------------

# People signing in: the authorization-code flow -------------------------------------------------

def authorize_url(sandbox, redirect_uri: str = DEMO_REDIRECT_URIS[0]) -> str:
    query = urlencode({"response_type": "code", "client_id": DEMO_CLIENT_ID, "redirect_uri": redirect_uri,
                       "state": "opaque"})
    return f"{sandbox.url}/procore/oauth/authorize?{query}"


def exchange(sandbox, **grant) -> requests.Response:
    return requests.post(f"{sandbox.url}/procore/oauth/token", timeout=30, data={
        "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET, **grant})


def signed_in_code(sandbox, user_id: int = 102) -> str:
    user = sandbox.sandboxes.procore.users[user_id]
    back = sign_in(authorize_url(sandbox), user.email_address, SIGN_INS[user.email_address])
    assert back.startswith(DEMO_REDIRECT_URIS[0] + "?")
    query = parse_qs(urlsplit(back).query)
    assert query["state"] == ["opaque"]
    return query["code"][0]


def test_the_sign_in_page_sends_a_person_back_only_to_the_registered_redirect_uri(sandbox):
    assert "Sign in to Procore" in requests.get(authorize_url(sandbox), timeout=30).text
    elsewhere = requests.get(authorize_url(sandbox, "https://attacker.example/callback"), timeout=30)
    assert elsewhere.status_code == 400 and "The redirect uri included is not valid." in elsewhere.text
    assert "<form" not in elsewhere.text
    with pytest.raises(PermissionError, match="401"):
        sign_in(authorize_url(sandbox), "blake.standard@summit.example", "not-the-password")


def test_a_code_works_once_with_its_redirect_uri_and_me_answers_as_the_person(sandbox):
    code = signed_in_code(sandbox, 102)
    wrong_uri = exchange(sandbox, grant_type="authorization_code", code=code, redirect_uri="http://localhost/other")
    assert wrong_uri.status_code == 400 and wrong_uri.json()["error"] == "invalid_grant"

    code = signed_in_code(sandbox, 102)
    granted = exchange(sandbox, grant_type="authorization_code", code=code, redirect_uri=DEMO_REDIRECT_URIS[0])
    assert granted.status_code == 200 and granted.json()["expires_in"] == 5400 and granted.json()["refresh_token"]
    again = exchange(sandbox, grant_type="authorization_code", code=code, redirect_uri=DEMO_REDIRECT_URIS[0])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    me = requests.get(f"{sandbox.url}/procore/rest/v1.0/me", timeout=30,
                      headers={"Authorization": f"Bearer {granted.json()['access_token']}"})
    assert me.json() == {"id": 102, "login": "blake.standard@summit.example", "name": "Blake Standard"}


def test_a_code_expires_after_ten_minutes(sandbox):
    code = signed_in_code(sandbox)
    state = sandbox.sandboxes.procore
    state.codes[code] = replace(state.codes[code], expires=datetime.now(UTC) - timedelta(seconds=1))
    expired = exchange(sandbox, grant_type="authorization_code", code=code, redirect_uri=DEMO_REDIRECT_URIS[0])
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"


def test_refresh_tokens_rotate_and_a_spent_one_is_refused(sandbox):
    first = exchange(sandbox, grant_type="authorization_code", code=signed_in_code(sandbox),
                     redirect_uri=DEMO_REDIRECT_URIS[0]).json()["refresh_token"]
    second = exchange(sandbox, grant_type="refresh_token", refresh_token=first)
    assert second.status_code == 200 and second.json()["refresh_token"] not in (first, None)

    spent = exchange(sandbox, grant_type="refresh_token", refresh_token=first)
    assert spent.status_code == 400 and spent.json()["error"] == "invalid_grant"
    assert exchange(sandbox, grant_type="refresh_token", refresh_token=second.json()["refresh_token"]).ok


def test_a_payment_number_sent_as_a_number_is_taken_as_its_text(sandbox, client):
    """Procore's JavaScript SDK sends `payment_number: 1001`, and Procore takes it; so does the sandbox."""
    project = client.first_project()
    contract = client.call("GET", "work_order_contracts", params={"project_id": project}).json()[0]
    created = client.call("POST", "contract_payments", params={"project_id": project, "contract_id": contract["id"]},
                          json={"contract_payment": {"amount": "10.00", "date": "2026-11-02", "payment_number": 1001}})
    assert created.status_code == 201 and created.json()["payment_number"] == "1001"
    edited = sandbox.control("PATCH", f"procore/contract_payments/{created.json()['id']}", json={"payment_number": 1002})
    assert edited.json()["payment_number"] == "1002"
