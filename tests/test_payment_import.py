"""erp_payment_import, run with dag.test() against the sandboxes: every case of "Sync Payments for Synced
Invoices", each asserting what Procore's sandbox then holds. Each run imports both integrations:
Acumatica (company 8089) and QuickBooks Online (company 8090)."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from erp_connectors.base import VendorApiError
from erp_connectors.procore import ProcoreHook
from erp_sync.models import ErpKind
from erp_sync.store import Store
from conftest import SyncedScene, person, run_as
from sandbox.procore_data import DEMO_COMPANY_ID, SECOND_COMPANY_ID

pytestmark = pytest.mark.airflow

ERPS = {"summit-acumatica": (ErpKind.ACUMATICA, DEMO_COMPANY_ID, "acumatica_test", "acumatica"),
        "harbor-quickbooks": (ErpKind.QUICKBOOKS_ONLINE, SECOND_COMPANY_ID, "quickbooks_test", "quickbooks")}


class Scene(SyncedScene):
    """Both integrations synced once; helpers act as ERP users and read what Procore holds."""

    def __init__(self, sandbox, store: Store, dag):
        super().__init__(sandbox, store)
        self.dag = dag

    def invoices(self, name: str) -> list[dict]:
        return [row for row in self.store.rows("active_links", integration_id=self.integrations[name]["id"])
                if row["record_type"] == "subcontractor_invoice"]

    def bill(self, name: str, index: int) -> tuple[str, dict]:
        """The ERP's number for the invoice's bill, and its link."""
        link = self.invoices(name)[index]
        return link["erp_ref"].split("/")[-1], link

    def bill_amount(self, name: str, number: str) -> Decimal:
        vendor = ERPS[name][3]
        for bill in self.sandbox.erp_rows(vendor, "Bill"):
            if vendor == "acumatica" and bill["ReferenceNbr"]["value"] == number:
                return Decimal(str(bill["Amount"]["value"]))
            if vendor == "quickbooks" and bill["Id"] == number:
                return Decimal(str(bill["TotalAmt"]))
        raise KeyError(number)

    def pay(self, name: str, bills: dict[str, Decimal | str], card: bool = False, check_number: str | None = None) -> str:
        vendor = ERPS[name][3]
        if vendor == "acumatica":
            method = "CREDITCARD" if card else "CHECK"
            if len(bills) == 1:
                (bill, amount), = bills.items()
                body = {"bill": bill, "amount": str(amount), "method": method, "check_number": check_number}
                return self.sandbox.control("POST", "acumatica/payments", json=body).json()["ReferenceNbr"]["value"]
            body = {"bills": {k: str(v) for k, v in bills.items()}, "method": method, "check_number": check_number}
            return self.sandbox.control("POST", "acumatica/payments/multi", json=body).json()["ReferenceNbr"]["value"]
        body = {"bills": {k: str(v) for k, v in bills.items()}, "pay_type": "CreditCard" if card else "Check",
                "doc_number": check_number}
        return self.sandbox.control("POST", "quickbooks/payments", json=body).json()["Id"]

    def void(self, name: str, payment: str) -> None:
        self.sandbox.control("POST", f"{ERPS[name][3]}/payments/{payment}/void")

    def run(self, procore_user: int = 101, integration: str = ""):
        """On demand, triggered by the Airflow user who connected Procore user ``procore_user``."""
        return run_as(self.dag, person(self.sandbox, self.store, procore_user), integration=integration)

    def payments(self, name: str) -> list[dict]:
        company = ERPS[name][1]
        projects = {pid for pid, p in self.sandbox.sandboxes.procore.projects.items() if p.company.id == company}
        return [p for p in self.sandbox.procore_rows("contract_payments") if p["project_id"] in projects]

    def last_runs(self, run) -> dict[str, dict]:
        return {row["integration"]: row for row in self.store.rows("runs_of_airflow_run", airflow_run_id=run.run_id)}


@pytest.fixture
def scene(airflow_db, sandbox, airflow_store, dagbag) -> Scene:
    """Each scenario runs once with the status store on SQLite and once on PostgreSQL."""
    return Scene(sandbox, airflow_store, dagbag.dags["erp_payment_import"])


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[1] / "dags"))
    for task in bag.dags["erp_payment_import"].tasks:
        task.retry_delay = timedelta(seconds=1)  # what a retry does is tested here; its wait in test_vendor_outage
    return bag


def test_check_and_credit_card_payments_in_full_land_on_the_invoices_commitment(scene):
    for name in ERPS:
        check_bill, card_bill = scene.bill(name, 0)[0], scene.bill(name, 1)[0]
        scene.pay(name, {check_bill: scene.bill_amount(name, check_bill)}, check_number="10001")
        scene.pay(name, {card_bill: scene.bill_amount(name, card_bill)}, card=True, check_number="CC-7")

    run = scene.run()
    assert run.state == "success"

    for name in ERPS:
        payments = {p["invoice_number"]: p for p in scene.payments(name)}
        for index, (method, number) in enumerate((("check", "10001"), ("credit_card", "CC-7"))):
            bill, link = scene.bill(name, index)
            snapshot = json.loads(link["procore_json"])["data"]
            paid = payments[snapshot["invoice_number"]]
            assert Decimal(paid["amount"]) == scene.bill_amount(name, bill)
            assert paid["payment_method"] == method and paid["check_number"] == number
            assert paid["contract_id"] == snapshot["commitment_id"] and paid["origin_id"].endswith(link["erp_ref"])
            assert ERPS[name][0].display_name in paid["origin_data"]
    runs = scene.last_runs(run)
    assert {name: json.loads(row["counts_json"]).get("new") for name, row in runs.items()} == {name: 2 for name in ERPS}


def test_partial_payments_add_up_and_one_payment_for_several_bills_makes_one_payment_per_bill(scene):
    for name in ERPS:
        bill, _link = scene.bill(name, 0)
        scene.pay(name, {bill: "100.00"}, check_number="201")
        scene.pay(name, {bill: "250.50"}, check_number="202")
        second, third = scene.bill(name, 1)[0], scene.bill(name, 2)[0]
        if name == "summit-acumatica":  # one Acumatica payment pays bills of one vendor
            vendors = {b["ReferenceNbr"]["value"]: b["Vendor"]["value"] for b in scene.sandbox.erp_rows("acumatica", "Bill")}
            third = next(ref for ref, vendor in vendors.items() if vendor == vendors[second] and ref not in (bill, second))
        else:
            vendors = {b["Id"]: b["VendorRef"]["value"] for b in scene.sandbox.erp_rows("quickbooks", "Bill")}
            third = next(ref for ref, vendor in vendors.items() if vendor == vendors[second] and ref not in (bill, second))
        scene.pay(name, {second: "10.00", third: "20.00"}, check_number="300")

    assert scene.run().state == "success"

    for name in ERPS:
        payments = scene.payments(name)
        partial = sorted(Decimal(p["amount"]) for p in payments if p["check_number"] in ("201", "202"))
        assert partial == [Decimal("100.00"), Decimal("250.50")] and sum(partial) == Decimal("350.50")
        several = [p for p in payments if p["check_number"] == "300"]
        assert sorted(Decimal(p["amount"]) for p in several) == [Decimal("10.00"), Decimal("20.00")]
        assert len({p["origin_id"] for p in several}) == 2


def test_a_void_after_the_sync_shows_in_procore_and_the_store_keeps_the_history(scene):
    paid = {}
    for name in ERPS:
        bill, _link = scene.bill(name, 0)
        paid[name] = scene.pay(name, {bill: "500.00"}, check_number="777")
    assert scene.run().state == "success"
    for name, payment in paid.items():
        scene.void(name, payment)

    assert scene.run().state == "success"

    for name in ERPS:
        voided = next(p for p in scene.payments(name) if p["check_number"] == "777")
        assert voided["amount"] == "0.00"
        assert voided["notes"].startswith(f"Voided in {ERPS[name][0].display_name} on ")
        assert "(was 500.00)" in voided["notes"]
        row = next(r for r in scene.store.rows("payments_of_integration", integration_id=scene.integrations[name]["id"]))
        assert row["status"] == "voided" and row["voided_at"] is not None and row["amount"] == Decimal("500.00")
        trail = scene.store.rows("audit_trail", entity="payment", entity_id=voided["origin_id"])
        assert [entry["action"] for entry in trail] == ["new", "voided"]


def test_amount_and_date_changed_in_the_erp_follow_but_the_users_payment_number_and_attachments_stay(scene):
    paid = {}
    for name in ERPS:
        bill, _link = scene.bill(name, 0)
        paid[name] = scene.pay(name, {bill: "300.00"}, check_number="900")
    assert scene.run().state == "success"
    for name in ERPS:  # a Procore user numbers the payment and attaches the check's scan
        mine = next(p for p in scene.payments(name) if p["check_number"] == "900")
        scene.sandbox.control("PATCH", f"procore/contract_payments/{mine['id']}",
                              json={"payment_number": "PAY-MINE", "attachments": [{"name": "check-900.pdf"}]})
    scene.sandbox.control("PATCH", f"acumatica/payments/{paid['summit-acumatica']}",
                          json={"ApplicationDate": "2026-03-15T00:00:00+00:00", "PaymentRef": "901"})
    qbo_bill = scene.bill("harbor-quickbooks", 0)[0]
    scene.sandbox.control("PATCH", f"quickbooks/BillPayment/{paid['harbor-quickbooks']}", json={
        "TxnDate": "2026-03-16", "Line": [{"Amount": 275.0, "LinkedTxn": [{"TxnId": qbo_bill, "TxnType": "Bill"}]}]})

    assert scene.run().state == "success"

    acumatica = next(p for p in scene.payments("summit-acumatica") if p["payment_number"] == "PAY-MINE")
    assert acumatica["date"] == "2026-03-15" and acumatica["check_number"] == "901"
    quickbooks = next(p for p in scene.payments("harbor-quickbooks") if p["payment_number"] == "PAY-MINE")
    assert quickbooks["date"] == "2026-03-16" and quickbooks["amount"] == "275.00"
    for payment in (acumatica, quickbooks):
        assert payment["attachments"] == [{"name": "check-900.pdf"}]
    assert sum(len(scene.payments(name)) for name in ERPS) == 2


def test_an_invoice_number_that_does_not_match_the_erp_bill_number_is_reported(scene):
    bill, link = scene.bill("harbor-quickbooks", 0)
    scene.sandbox.control("PATCH", f"quickbooks/Bill/{bill}", json={"DocNumber": "SOMETHING-ELSE"})
    scene.sync()  # the refresh learns the bill's number
    scene.pay("harbor-quickbooks", {bill: "50.00"}, check_number="55")

    run = scene.run(integration="harbor-quickbooks")

    assert run.state == "success"
    counts = json.loads(scene.last_runs(run)["harbor-quickbooks"]["counts_json"])
    assert counts["invoice_number_mismatch"] == 1 and counts["new"] == 1
    row = scene.store.rows("payments_of_integration", integration_id=scene.integrations["harbor-quickbooks"]["id"])[0]
    assert "does not match bill number SOMETHING-ELSE" in row["message"]


def test_running_twice_writes_nothing_the_second_time_and_a_lost_answer_never_doubles_a_payment(scene):
    for name in ERPS:
        bill, _link = scene.bill(name, 0)
        scene.pay(name, {bill: "42.00"}, check_number="4242")
    scene.sandbox.fault("procore", drop=True, after_commit=True, method="PATCH", path_pattern="contract_payments/sync",
                        times=1)
    assert scene.run().state == "success"
    writes = scene.sandbox.control("GET", "procore/calls").json()

    second = scene.run()

    assert second.state == "success"
    after = scene.sandbox.control("GET", "procore/calls").json()
    assert {k: v for k, v in after.items() if k.startswith("PATCH")} == {k: v for k, v in writes.items() if k.startswith("PATCH")}
    for name, row in scene.last_runs(second).items():
        counts = json.loads(row["counts_json"])
        assert not {"new", "changed", "voided"} & set(counts), (name, counts)
    for name in ERPS:
        assert [p["check_number"] for p in scene.payments(name)] == ["4242"]


def test_on_demand_needs_erp_admin_or_an_accounting_approver(scene, caplog):
    denied = scene.run(procore_user=105)  # no ERP access, not an approver
    assert denied.state == "failed"
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    # The task's first error is the sentence itself, not a traceback or a JSON dump.
    assert errors[0].endswith("may not sync payments on demand: it takes 'Admin' on the ERP Integrations tool or "
                              "being an accounting approver ('Can Push to Accounting').")
    assert "{" not in errors[0]
    failures = [row for row in scene.store.rows("recent_runs", limit=10) if row["job"] == "payment_import"]
    assert failures and all("may not sync payments on demand" in row["error"] for row in failures)
    assert all(row["status"] == "failed" for row in failures)

    assert scene.run(procore_user=104).state == "success"  # read-only on ERP, but an accounting approver
    assert scene.run(procore_user=103).state == "success"  # ERP admin without the approver privilege


# One payment, or one project, that cannot be written never holds up the others ---------------------------

def invoices_in_two_projects(scene, name: str) -> tuple[tuple[str, dict], tuple[str, dict]]:
    first = scene.bill(name, 0)
    other = next(index for index, link in enumerate(scene.invoices(name))
                 if link["procore_project_id"] != first[1]["procore_project_id"])
    return first, scene.bill(name, other)


def stored_payments(scene, name: str) -> dict[str, dict]:
    rows = scene.store.rows("payments_of_integration", integration_id=scene.integrations[name]["id"])
    return {row["erp_bill_ref"]: row for row in rows}


def test_a_payment_procore_refuses_is_red_with_its_reason_and_the_others_land(scene):
    name = "summit-acumatica"
    (refused_bill, refused_link), (landing_bill, landing_link) = invoices_in_two_projects(scene, name)
    for bill in (refused_bill, landing_bill):
        scene.pay(name, {bill: "75.00"}, check_number=f"CHK-{bill}")
    commitment = json.loads(refused_link["procore_json"])["data"]["commitment_id"]
    table = next(table for table in ("work_order_contracts", "purchase_order_contracts")
                 if any(row["id"] == commitment for row in scene.sandbox.procore_rows(table)))
    scene.sandbox.control("DELETE", f"procore/{table}/{commitment}")  # deleted in Procore after the export

    assert scene.run(integration=name).state == "success"

    rows = stored_payments(scene, name)
    refused, landed = rows[refused_link["erp_ref"]], rows[landing_link["erp_ref"]]
    assert refused["colour"] == "RED" and refused["procore_payment_id"] is None
    assert refused["message"] == f"Procore refused the payment: Commitment {commitment} not found"
    assert landed["colour"] == "GREEN" and landed["procore_payment_id"] is not None
    assert [p["check_number"] for p in scene.payments(name)] == [f"CHK-{landing_bill}"]


def test_a_project_whose_batch_procore_refuses_is_red_and_the_other_projects_land(scene, monkeypatch):
    name = "summit-acumatica"
    (refused_bill, refused_link), (landing_bill, landing_link) = invoices_in_two_projects(scene, name)
    for bill in (refused_bill, landing_bill):
        scene.pay(name, {bill: "75.00"}, check_number=f"CHK-{bill}")
    gone = refused_link["procore_project_id"]
    real_sync = ProcoreHook.sync_payments

    def sync_refusing_one_project(self, project_id, updates):
        if project_id == gone:
            raise VendorApiError("procore", "PATCH", "rest/v1.0/contract_payments/sync", 404, f"Project {gone} not found")
        return real_sync(self, project_id, updates)

    monkeypatch.setattr(ProcoreHook, "sync_payments", sync_refusing_one_project)
    run = scene.run(integration=name)

    assert run.state == "success"
    rows = stored_payments(scene, name)
    refused, landed = rows[refused_link["erp_ref"]], rows[landing_link["erp_ref"]]
    assert (refused["colour"], refused["fingerprint"]) == ("RED", None)  # not written: tried again next run
    assert refused["message"] == f"Procore refused the payment: HTTP 404 for project {gone}: Project {gone} not found"
    assert landed["colour"] == "GREEN"
    assert json.loads(scene.last_runs(run)[name]["counts_json"])["refused_by_procore"] == 1

    monkeypatch.setattr(ProcoreHook, "sync_payments", real_sync)  # Procore takes the project again
    assert scene.run(integration=name).state == "success"
    assert stored_payments(scene, name)[refused_link["erp_ref"]]["colour"] == "GREEN"
    assert sorted(p["check_number"] for p in scene.payments(name)) == sorted(f"CHK-{b}" for b in (refused_bill,
                                                                                                  landing_bill))


def test_the_on_demand_form_takes_a_blank_integration_as_all(dagbag):
    """The form marked Integration required and kept Trigger disabled while it was blank, though its help
    says blank means all: the UI sends a blank field as null."""
    integration = dagbag.dags["erp_payment_import"].params.get_param("integration")
    assert "null" in integration.schema["type"]
    assert integration.resolve(None) is None
    assert integration.resolve("summit-acumatica") == "summit-acumatica"


def test_sync_events_are_taken_together_one_run_at_a_time(dagbag):
    """Each integration's sync emits an event; one run per event made ten runs and more in the demo's first
    minutes. Airflow's scheduler holds asset events back while a DAG is at max_active_runs, and the next
    run takes all of them."""
    dag = dagbag.dags["erp_payment_import"]
    assert dag.max_active_runs == 1
    assert [asset.name for asset in dag.timetable.asset_condition.objects] == ["erp_sync_hourly_sync"]
