"""Contract tests of the Procore sandbox over real HTTP, as a third-party client would see it."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import requests

from sandbox.procore import MISSING_COMPANY
from sandbox.procore_data import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_COMPANY_ID,
    HARBOR_ONLY_USER_ID,
    SECOND_COMPANY_ID,
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
