"""The Acumatica and QuickBooks Online sandboxes keep the vendors' contracts: published third-party
clients talk to them unchanged, and the connectors see the vendors' sessions, shapes, errors and limits."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from erp_connectors.acumatica import AcumaticaHook
from erp_connectors.base import VendorApiError
from erp_connectors.quickbooks import QuickBooksHook
from sandbox.acumatica_data import CONTRACT, DEMO_PASSWORD, DEMO_TENANT, DEMO_USER, INACTIVE_VENDORS, VENDORS, VERSION
from sandbox.quickbooks_data import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REALM, DEMO_REFRESH_TOKEN


# Acumatica --------------------------------------------------------------------------------------

class Acumatica:
    def __init__(self, url: str):
        self.base, self.session = f"{url}/acumatica", requests.Session()

    def login(self) -> requests.Response:
        return self.session.post(f"{self.base}/entity/auth/login",
                                 json={"name": DEMO_USER, "password": DEMO_PASSWORD, "tenant": DEMO_TENANT})

    def logout(self) -> None:
        self.session.post(f"{self.base}/entity/auth/logout")

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, f"{self.base}/entity/Default/{VERSION}/{path}", **kwargs)


@pytest.fixture
def acumatica(sandbox):
    client = Acumatica(sandbox.url)
    assert client.login().status_code == 204
    yield client
    client.logout()


def new_bill(acumatica: Acumatica, amount: float = 100.0, vendor: str = "APEXCON") -> str:
    response = acumatica.call("PUT", "Bill", json={
        "Vendor": {"value": vendor}, "VendorRef": {"value": "INV-1"}, "Description": {"value": "test"},
        "Details": [{"TransactionDescription": {"value": "work"}, "Amount": {"value": amount}}]})
    assert response.status_code == 200, response.text
    return response.json()["ReferenceNbr"]["value"]


def test_easy_acumatica_logs_in_reads_bills_and_payments_and_logs_out(sandbox, acumatica, tmp_path):
    from easy_acumatica import AcumaticaClient

    bill = new_bill(acumatica)
    sandbox.control("POST", "acumatica/payments", json={"bill": bill, "amount": "40", "check_number": "1001"})
    client = AcumaticaClient(base_url=f"{sandbox.url}/acumatica", username=DEMO_USER, password=DEMO_PASSWORD,
                             tenant=DEMO_TENANT, endpoint_version=VERSION, cache_methods=False,
                             auto_load_env=False, cache_dir=tmp_path)
    try:
        bills = client.bill.get_list()
        checks = client.check.get_list()
    finally:
        client.logout()
    assert [b["ReferenceNbr"]["value"] for b in bills] == [bill]
    assert bills[0]["Balance"]["value"] == 60.0 and bills[0]["Status"]["value"] == "Open"
    assert checks[0]["PaymentRef"]["value"] == "1001" and checks[0]["PaymentAmount"]["value"] == 40.0
    assert sandbox.control("GET", "acumatica/sessions").json()["open"] == 1  # only the fixture's own


def test_sessions_hold_license_seats_until_logout(sandbox, acumatica):
    sandbox.control("PUT", "acumatica/license", json={"seats": 2})
    second, third = Acumatica(sandbox.url), Acumatica(sandbox.url)
    assert second.login().status_code == 204
    refused = third.login()
    assert refused.status_code == 429 and "API Login Limit" in refused.json()["message"]
    second.logout()
    assert third.login().status_code == 204
    assert Acumatica(sandbox.url).call("GET", "Bill").status_code == 401  # no session, no data


def test_fields_are_wrapped_and_details_come_only_when_expanded(acumatica):
    bill = new_bill(acumatica)
    plain = acumatica.call("GET", f"Bill/Bill/{bill}").json()
    expanded = acumatica.call("GET", f"Bill/Bill|{bill}", params={"$expand": "Details"}).json()
    assert plain["Amount"] == {"value": 100.0} and "Details" not in plain
    assert expanded["Details"][0]["Amount"] == {"value": 100.0} and expanded["_links"]["self"].endswith(plain["id"])
    chosen = acumatica.call("GET", "Bill", params={"$select": "Status"}).json()[0]
    assert set(chosen) - {"id", "rowNumber", "note", "custom", "_links"} == {"Type", "ReferenceNbr", "Status"}


def test_filter_top_and_skip_page_through_changes(acumatica):
    before = datetime.now(UTC) - timedelta(seconds=1)
    refs = [new_bill(acumatica, amount=10 + n) for n in range(5)]
    since = f"LastModifiedDateTime gt datetimeoffset'{before.isoformat()}' and Amount ge 11"
    pages = [acumatica.call("GET", "Bill", params={"$filter": since, "$top": 2, "$skip": skip}).json()
             for skip in (0, 2, 4)]
    assert [[b["ReferenceNbr"]["value"] for b in page] for page in pages] == [refs[1:3], refs[3:5], []]
    bad = acumatica.call("GET", "Bill", params={"$filter": "Amount gt"})
    assert bad.status_code == 400 and "$filter" in bad.json()["message"]


def test_each_project_marks_one_task_default_and_marking_another_clears_it(acumatica):
    def defaults(job: str) -> dict[str, bool]:
        tasks = acumatica.call("GET", "ProjectTask", params={
            "$filter": f"ProjectID eq '{job}'", "$select": "ProjectID,ProjectTaskID,Default"}).json()
        return {task["ProjectTaskID"]["value"]: task["Default"]["value"] for task in tasks}

    assert defaults("2401") == {"0000": True, "01": False, "02": False, "03.1": False}
    assert defaults("2402") == {"GENERAL": True}  # a project's own Default task
    response = acumatica.call("PUT", "ProjectTask", json={
        "ProjectID": {"value": "2401"}, "ProjectTaskID": {"value": "01"}, "Default": {"value": True}})
    assert response.status_code == 200, response.text
    assert defaults("2401") == {"0000": False, "01": True, "02": False, "03.1": False}


def test_validation_errors_come_back_on_the_field_with_422(acumatica):
    response = acumatica.call("PUT", "Bill", json={"Vendor": {"value": "NOBODY"}, "Details": []})
    assert response.status_code == 422
    assert "cannot be found" in response.json()["Vendor"]["error"]


def test_void_check_makes_a_voided_payment_document_and_restores_the_bill(sandbox, acumatica):
    bill = new_bill(acumatica)
    check = sandbox.control("POST", "acumatica/payments", json={"bill": bill, "amount": "100"}).json()
    reference = check["ReferenceNbr"]["value"]
    accepted = acumatica.call("POST", "Check/VoidCheck", json={"entity": {"Type": {"value": "Payment"},
                                                                          "ReferenceNbr": {"value": reference}}})
    assert accepted.status_code == 202
    status = acumatica.session.get(f"{sandbox.url}{accepted.headers['Location']}")
    assert status.status_code == 204
    documents = {c["Type"]["value"]: c for c in acumatica.call("GET", "Check").json()}
    assert documents["Payment"]["Status"]["value"] == "Voided"
    assert documents["Voided Payment"]["ReferenceNbr"]["value"] == reference
    assert documents["Voided Payment"]["PaymentAmount"]["value"] == -100.0
    assert acumatica.call("GET", f"Bill/Bill/{bill}").json()["Balance"]["value"] == 100.0


def test_a_bill_holds_the_retainage_of_the_subcontract_lines_it_bills_and_release_makes_a_retainage_bill(
        sandbox, acumatica):
    subcontract = acumatica.call("PUT", "Subcontract", json={
        "VendorID": {"value": "APEXCON"}, "ApplyRetainage": {"value": True}, "RetainagePct": {"value": 10},
        "Details": [{"LineDescription": {"value": "concrete"}, "ExtendedCost": {"value": 5000},
                     "RetainagePct": {"value": 10}}]}).json()
    number = subcontract["SubcontractNbr"]["value"]
    bill = acumatica.call("PUT", "Bill", json={
        "Vendor": {"value": "APEXCON"}, "VendorRef": {"value": "INV-7"}, "Description": {"value": "May [PC-REQ-7-L1]"},
        "Details": [{"TransactionDescription": {"value": "concrete"}, "Amount": {"value": 1000},
                     "POOrderType": {"value": "Subcontract"}, "POOrderNbr": {"value": number}, "POLine": {"value": 1}},
                    {"TransactionDescription": {"value": "extra"}, "Amount": {"value": 200}}]},  # bills no line
        params={"$expand": "Details"}).json()
    assert (bill["Amount"]["value"], bill["Balance"]["value"]) == (1100.0, 1100.0)  # 1,200 less 10% of 1,000
    reference = bill["ReferenceNbr"]["value"]

    action = {"entity": {"Type": {"value": "Bill"}, "ReferenceNbr": {"value": reference}},
              "parameters": {"AmtToRelease": {"value": 150}}}
    assert acumatica.call("POST", "Bill/ReleaseRetainage", json=action).status_code == 422  # more than it holds
    action["parameters"]["AmtToRelease"]["value"] = 60
    assert acumatica.call("POST", "Bill/ReleaseRetainage", json=action).status_code == 202
    released = sandbox.control("POST", f"acumatica/Bill/{reference}/release-retainage", json={"amount": "40"}).json()
    bills = acumatica.call("GET", "Bill", params={"$expand": "Details"}).json()
    retainage_bills = [b for b in bills if b["ReferenceNbr"]["value"] != reference]
    assert sorted(b["Amount"]["value"] for b in retainage_bills) == [40.0, 60.0]
    assert {b["Details"][0]["TransactionDescription"]["value"] for b in retainage_bills} == {f"Retainage for Bill {reference}"}
    assert released["Description"]["value"] == "May [PC-REQ-7-L1]" and released["VendorRef"]["value"] == "INV-7"
    nothing_left = requests.post(f"{sandbox.url}/control/acumatica/Bill/{reference}/release-retainage", json={"amount": "1"},
                                 timeout=30)
    assert nothing_left.status_code == 422 and "(0.00)" in nothing_left.json()["exceptionMessage"]
    assert not sandbox.control("GET", "acumatica/ignored-fields").json()


def test_reverse_change_order_needs_a_released_order(sandbox, acumatica):
    order = acumatica.call("PUT", "ChangeOrder", json={"Description": {"value": "extra"},
                                                       "ExternalRefNbr": {"value": "PC-CCO-1"}}).json()
    key = {"entity": {"RefNbr": order["RefNbr"]}}
    assert acumatica.call("POST", "ChangeOrder/ReverseChangeOrder", json=key).status_code == 422
    sandbox.control("POST", f"acumatica/ChangeOrder/{order['RefNbr']['value']}/release")
    assert acumatica.call("POST", "ChangeOrder/ReverseChangeOrder", json=key).status_code == 202
    original = acumatica.call("GET", f"ChangeOrder/{order['RefNbr']['value']}").json()
    assert original["ReverseStatus"]["value"] == "Reversed"


def test_swagger_json_is_the_published_contract_for_what_the_sandbox_holds(acumatica):
    swagger = acumatica.call("GET", "swagger.json").json()
    assert swagger["openapi"] == CONTRACT["openapi"]
    assert swagger["servers"][0]["url"] == f"{acumatica.base}/entity/Default/{VERSION}"  # absolute, as published
    schemas = swagger["components"]["schemas"]

    def properties(schema: str) -> dict:
        return {name: kind.get("$ref", kind).rsplit("/", 1)[-1] if "$ref" in kind else kind
                for name, kind in schemas[schema]["allOf"][1]["properties"].items()}

    for entity, published in CONTRACT["entities"].items():
        details = published.get("details", {})
        assert {k: v for k, v in properties(entity).items() if k not in details} == published["fields"]
        for detail, spec in details.items():
            assert properties(entity)[detail]["items"]["$ref"].endswith(f"/{spec['schema']}")
            assert properties(spec["schema"]) == spec["fields"]
        operations = {op["operationId"] for path, ops in swagger["paths"].items()
                      if path == f"/{entity}" or path.startswith(f"/{entity}/") for op in ops.values()}
        assert operations == {f"{entity}_{op}" for op in CONTRACT["operations"]} | {
            f"{entity}_InvokeAction_{action}" for action in published["actions"]}


def test_a_field_outside_the_contract_is_dropped_and_a_missing_vendor_is_a_422_on_that_field(sandbox, acumatica):
    """Acumatica takes only its contract's fields; a Subcontract sent with ``Vendor`` (a Bill's name for
    it) has no vendor, and the answer is the record as sent with an ``error`` on ``VendorID``."""
    response = acumatica.call("PUT", "Subcontract", json={
        "Vendor": {"value": "APEXCON"}, "Hold": {"value": False}, "Description": {"value": "steel"},
        "Details": [{"LineDescription": {"value": "erect"}, "ExtCost": {"value": 10.0}}]})
    assert response.status_code == 422
    body = response.json()
    assert body["VendorID"]["error"] == "'VendorID' cannot be empty." and body["Vendor"] == {"value": "APEXCON"}
    assert "VendorID" in body["exceptionMessage"]
    assert sandbox.control("GET", "acumatica/ignored-fields").json() == [
        "Subcontract.Details.ExtCost", "Subcontract.Hold", "Subcontract.Vendor"]
    assert sandbox.erp_rows("acumatica", "Subcontract") == []

    created = acumatica.call("PUT", "Subcontract", params={"$expand": "Details"}, json={
        "VendorID": {"value": "APEXCON"}, "Details": [{"LineDescription": {"value": "erect"},
                                                       "ExtendedCost": {"value": 10.0}}]}).json()
    assert created["Status"]["value"] == "Open" and created["SubcontractTotal"]["value"] == 10.0
    assert created["Details"][0]["ExtendedCost"]["value"] == 10.0 and "Hold" not in created


def test_actions_the_contract_lists_but_the_sandbox_does_not_carry_out_answer_501(acumatica):
    assert acumatica.call("POST", "Bill/ReleaseBill", json={"entity": {}}).status_code == 501
    assert acumatica.call("GET", "Bill/$adHocSchema").status_code == 501
    assert acumatica.call("POST", "Bill/NoSuchAction", json={"entity": {}}).status_code == 404


def test_past_the_license_request_rate_the_instance_answers_429(sandbox, acumatica):
    sandbox.control("PUT", "acumatica/license", json={"requests_per_minute": 3})
    answers = [acumatica.call("GET", "Bill").status_code for _ in range(4)]
    assert answers[-1] == 429


def test_the_acumatica_hook_waits_out_429_signs_in_again_after_expiry_and_logs_out(sandbox):
    sandbox.fault("acumatica", status=429, retry_after=1, method="GET", times=1)
    with AcumaticaHook("acumatica_test") as hook:
        started = time.monotonic()
        assert hook.check() == {"acumatica_vendors": len(VENDORS) + len(INACTIVE_VENDORS)}
        assert time.monotonic() - started >= 1
        sandbox.sandboxes.acumatica.sessions.clear()  # the session timed out on the server
        assert hook.check() == {"acumatica_vendors": len(VENDORS) + len(INACTIVE_VENDORS)}
        assert hook.calls["POST"] == 2  # two logins
    assert sandbox.control("GET", "acumatica/sessions").json()["open"] == 0


# QuickBooks Online -------------------------------------------------------------------------------

def qbo_client(sandbox):
    from intuitlib.client import AuthClient
    from quickbooks import QuickBooks

    discovery = f"{sandbox.url}/quickbooks/.well-known/openid_configuration"
    auth = AuthClient(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, "http://localhost/callback", discovery)
    client = QuickBooks(auth_client=auth, refresh_token=DEMO_REFRESH_TOKEN, company_id=DEMO_REALM, minorversion=75)
    client.api_url_v3 = f"{sandbox.url}/quickbooks/v3"  # the library's production URL, pointed here
    return client


@pytest.fixture
def quickbooks(sandbox):
    with QuickBooksHook("quickbooks_test") as hook:
        yield hook


def new_qbo_bill(hook: QuickBooksHook, amount: float = 100.0, request_id: str = "r-1") -> dict:
    vendor = next(hook.query("select * from Vendor where Active = true"))["Id"]
    account = next(hook.query("select * from Account where AccountType = 'Expense'"))["Id"]
    return hook.create("Bill", {"VendorRef": {"value": vendor}, "DocNumber": "INV-1", "Line": [
        {"Amount": amount, "DetailType": "AccountBasedExpenseLineDetail",
         "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account}}}]}, request_id)


def test_python_quickbooks_refreshes_its_token_and_reads_bills_and_payments(sandbox, quickbooks, monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the sandbox speaks plain HTTP on loopback
    from quickbooks.objects.bill import Bill
    from quickbooks.objects.billpayment import BillPayment

    bill = new_qbo_bill(quickbooks)
    sandbox.control("POST", "quickbooks/payments", json={"bills": {bill["Id"]: "30"}, "doc_number": "2001",
                                                         "pay_type": "CreditCard"})
    client = qbo_client(sandbox)
    bills = Bill.filter(DocNumber="INV-1", qb=client)
    payments = BillPayment.all(qb=client)
    assert [(b.Id, b.TotalAmt, b.Balance) for b in bills] == [(bill["Id"], 100.0, 70.0)]
    assert [(p.PayType, p.TotalAmt, p.DocNumber) for p in payments] == [("CreditCard", 30.0, "2001")]


def test_a_repeated_requestid_replays_the_first_answer(sandbox, quickbooks):
    first, second = new_qbo_bill(quickbooks, request_id="same"), new_qbo_bill(quickbooks, request_id="same")
    assert first["Id"] == second["Id"] and len(sandbox.erp_rows("quickbooks", "Bill")) == 1


def test_faults_carry_the_reason(quickbooks):
    with pytest.raises(VendorApiError, match="Invalid Reference Id"):
        quickbooks.create("Bill", {"VendorRef": {"value": "999"}, "Line": [{"Amount": 1}]}, "r-2")
    bill = new_qbo_bill(quickbooks)
    quickbooks.update("Bill", {"Id": bill["Id"], "SyncToken": bill["SyncToken"], "PrivateNote": "a"}, "r-3")
    with pytest.raises(VendorApiError, match="Stale Object Error"):
        quickbooks.update("Bill", {"Id": bill["Id"], "SyncToken": bill["SyncToken"], "PrivateNote": "b"}, "r-4")


def test_a_fault_inside_an_http_200_is_an_error(quickbooks):
    response = requests.Response()
    response.status_code, response._content = 200, b'{"Fault": {"Error": [{"Message": "Duplicate", "code": "6140"}]}}'
    assert "Duplicate" in quickbooks.error_in(response) and "6140" in quickbooks.error_in(response)
    response._content = b"{\"QueryResponse\": {}}"
    assert quickbooks.error_in(response) is None


def test_a_voided_payment_stays_with_zero_amounts_and_says_so(sandbox, quickbooks):
    bill = new_qbo_bill(quickbooks)
    payment = sandbox.control("POST", "quickbooks/payments", json={"bills": {bill["Id"]: "100"}}).json()
    assert quickbooks.read("Bill", bill["Id"])["Balance"] == 0
    sandbox.control("POST", f"quickbooks/payments/{payment['Id']}/void")
    voided = quickbooks.read("BillPayment", payment["Id"])
    assert voided["TotalAmt"] == 0 and voided["Line"] == [] and voided["PrivateNote"].startswith("Voided")
    assert quickbooks.read("Bill", bill["Id"])["Balance"] == 100


def test_cdc_reports_changes_and_deletions_within_30_days(sandbox, quickbooks):
    since = datetime.now(UTC) - timedelta(seconds=2)
    kept, deleted = new_qbo_bill(quickbooks, request_id="a"), new_qbo_bill(quickbooks, request_id="b")
    sandbox.control("DELETE", f"quickbooks/Bill/{deleted['Id']}")
    changes = quickbooks.changes(["Bill"], since)["Bill"]
    assert {row["Id"]: row.get("status") for row in changes} == {kept["Id"]: None, deleted["Id"]: "Deleted"}
    with pytest.raises(VendorApiError, match="30 days"):
        quickbooks.changes(["Bill"], datetime.now(UTC) - timedelta(days=31))


def test_the_query_language_filters_orders_and_pages(sandbox, quickbooks):
    for n in range(5):
        new_qbo_bill(quickbooks, amount=10 + n, request_id=f"q-{n}")
    rows = list(quickbooks.query("SELECT * FROM Bill WHERE TotalAmt >= '11' AND DocNumber IN ('INV-1', 'X') "
                                 "ORDERBY TotalAmt DESC"))
    assert [row["TotalAmt"] for row in rows] == [14.0, 13.0, 12.0, 11.0]
    page = quickbooks._call("GET", "query", params={"query": "SELECT * FROM Bill STARTPOSITION 2 MAXRESULTS 2"})
    assert page["QueryResponse"]["startPosition"] == 2 and len(page["QueryResponse"]["Bill"]) == 2
    count = quickbooks._call("GET", "query", params={"query": "SELECT COUNT(*) FROM Vendor WHERE DisplayName LIKE 'A%'"})
    assert count["QueryResponse"]["totalCount"] == 1
    with pytest.raises(VendorApiError, match="OR is not supported"):
        list(quickbooks.query("SELECT * FROM Bill WHERE Id = '1' OR Id = '2'"))


def test_over_500_requests_a_minute_answers_429_with_a_fault(sandbox):
    sandbox.control("PUT", "quickbooks/limits", json={"per_minute": 2})
    client = QuickBooksHook("quickbooks_test")
    token = client._fetch_token()[0]
    url = f"{sandbox.url}/quickbooks/v3/company/{DEMO_REALM}/query"
    answers = [requests.get(url, params={"query": "SELECT * FROM Vendor"},
                            headers={"Authorization": f"Bearer {token}"}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[-1].json()["Fault"]["Error"][0]["code"] == "3001"


def test_an_eleventh_request_at_once_answers_429(sandbox, quickbooks):
    state = sandbox.sandboxes.quickbooks
    state.in_flight = state.limits.concurrent  # ten answers are still being written
    try:
        response = requests.get(f"{sandbox.url}/quickbooks/v3/company/{DEMO_REALM}/query",
                                params={"query": "SELECT * FROM Vendor"},
                                headers={"Authorization": f"Bearer {quickbooks._fetch_token()[0]}"})
    finally:
        state.in_flight = 0
    assert response.status_code == 429 and "concurrent" in response.json()["Fault"]["Error"][0]["Detail"]
