"""Reconciliation: after a clean sync Procore and each of the four ERPs agree (no false difference); every
cause of a difference is told in its sentence, with both figures; differences open and close as history.
On SQLite and PostgreSQL status stores."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from conftest import SAGE_INTEGRATIONS, SyncedScene, release_only_invoice
from seed_links import link_sandbox_references

from erp_sync.acceptance import daily_summary
from erp_sync.jobs.hourly_sync import SyncIncomplete, export_integration, refresh_integration
from erp_sync.jobs.payment_import import import_payments
from erp_sync.models import ExportMode
from erp_sync.reconcile.job import reconcile_integration
from erp_sync.reconcile.view import ReconciliationView
from erp_sync.store import Store


def figures(store: Store, integration: dict) -> list[dict]:
    return store.rows("reconciliation_page", integration_id=integration["id"], project_id=None, only_differences=0,
                      cause=None, limit=10_000, offset=0)


def sync_sage(store: Store, integration: dict, office, sandbox) -> None:
    """The vendors linked on the Reference data tab, then exported until Sage has imported everything."""
    link_sandbox_references(store, sandbox, {integration["name"]})
    for _ in range(3):
        export_integration(store, integration, "test")
        office.run_imports()
    export_integration(store, integration, "test")
    refresh_integration(store, integration, "test")


@pytest.fixture
def scene(sandbox, store) -> SyncedScene:
    return SyncedScene(sandbox, store)


def test_a_clean_sync_agrees_on_acumatica_and_quickbooks(scene, store):
    for integration in scene.integrations.values():
        summary = reconcile_integration(store, integration, "test")
        rows = figures(store, integration)
        assert summary["counts"]["commitments"] == len(rows) > 0
        assert [row for row in rows if row["differs"]] == [], [(d["cause"], d["sentence"]) for d in store.rows("open_differences_of_integration", integration_id=integration["id"])][:3]
        assert any(row["procore_change_orders_amount"] for row in rows)
        assert all(row["procore_revised_amount"] == row["erp_revised_amount"] for row in rows)
        agrees_on_retainage(rows)
        assert summary["api_calls"] == {}


def test_a_summary_giving_retainage_to_date_leaves_the_figures_to_the_invoice_lines(scene, store):
    """Procore's invoice summary follows the G702, whose total retainage may be the commitment's to date rather than
    this invoice's: with each invoice's summary saying so, the figures (from the lines' "this period" fields) and
    the agreement stay."""
    for integration in scene.integrations.values():
        reconcile_integration(store, integration, "test")
        before = {row["procore_commitment_id"]: row["procore_retainage_amount"] for row in figures(store, integration)}
        to_date: dict[int, Decimal] = {}
        for invoice in sorted(active(store, integration, "subcontractor_invoice"), key=lambda link: link["procore_id"]):
            commitment = parent(invoice)
            to_date[commitment] = to_date.get(commitment, Decimal(0)) + retainage_held(invoice)
            summary = json.loads(invoice["procore_json"])["data"]["summary"]
            scene.sandbox.control("PATCH", f"procore/requisitions/{invoice['procore_id']}",
                                  json={"summary": {**summary, "total_retainage": f"{to_date[commitment]:.2f}"}})
        assert any(to_date[parent(i)] != retainage_held(i) for i in active(store, integration, "subcontractor_invoice"))
        export_integration(store, integration, "test")
        resync(store, integration)
        rows = figures(store, integration)
        assert any(retainage_held(invoice) != Decimal(0) for invoice in active(store, integration, "subcontractor_invoice"))
        assert {row["procore_commitment_id"]: row["procore_retainage_amount"] for row in rows} == before
        assert [row for row in rows if row["differs"]] == []
        agrees_on_retainage(rows)


def agrees_on_retainage(rows: list[dict]) -> None:
    """The ERP's retainage is known and is Procore's, for every commitment that has invoices."""
    invoiced = [row for row in rows if row["procore_retainage_amount"] is not None]
    assert invoiced and any(row["procore_retainage_amount"] for row in invoiced)
    assert [(row["commitment_number"], row["procore_retainage_amount"], row["erp_retainage_amount"])
            for row in invoiced if row["erp_retainage_amount"] != row["procore_retainage_amount"]] == []


def test_a_clean_sync_agrees_on_both_sages(sandbox, store, sage):
    for integration, system in zip(SAGE_INTEGRATIONS, ("sage300", "sage100"), strict=True):
        store.save_integration(integration)
        row = store.one("integration_by_name", name=integration.name)
        sync_sage(store, row, sage.offices[system], sandbox)
        reconcile_integration(store, row, "test")
        rows = figures(store, row)
        assert rows and [r for r in rows if r["differs"]] == [], (integration.name, [(d["cause"], d["sentence"]) for d in store.rows("open_differences_of_integration", integration_id=row["id"])])
        agrees_on_retainage(rows)


# The causes ---------------------------------------------------------------------------------------

def active(store: Store, integration: dict, record_type: str) -> list[dict]:
    return [row for row in store.rows("active_links", integration_id=integration["id"])
            if row["record_type"] == record_type and row["erp_ref"]]


def parent(link: dict) -> int:
    data = json.loads(link["procore_json"])["data"]
    return data.get("contract_id") or data.get("commitment_id")


def open_causes(store: Store, integration: dict) -> dict[tuple[int, str, str], dict]:
    return {(row["procore_commitment_id"], row["figure"], row["cause"]): row
            for row in store.rows("open_differences_of_integration", integration_id=integration["id"])}


def wrapped(row: dict, name: str):
    value = row[name]
    return value["value"] if isinstance(value, dict) else value


def resync(store: Store, integration: dict) -> dict:
    refresh_integration(store, integration, "test")
    return reconcile_integration(store, integration, "test")


def test_what_an_acumatica_user_changes_is_explained_and_closed_when_undone(scene, store):
    sandbox, acumatica = scene.sandbox, scene.integrations["summit-acumatica"]
    commitments = {link["procore_id"]: link for link in active(store, acumatica, "commitment")}
    bills = [link for link in active(store, acumatica, "subcontractor_invoice") if parent(link) in commitments]
    cco = active(store, acumatica, "commitment_change_order")[0]
    changed, paid_bill, deleted_bill = commitments[parent(bills[0])], bills[0], bills[1]
    original = Decimal(json.loads(changed["procore_json"])["data"]["grand_total"])
    subcontract = next(row for row in sandbox.erp_rows("acumatica", "Subcontract")
                       if wrapped(row, "SubcontractNbr") == changed["erp_ref"])

    sandbox.control("POST", f"acumatica/Subcontract/{changed['erp_ref']}/amount", json={"amount": str(original + 500)})
    cco_amount = Decimal(json.loads(cco["procore_json"])["data"]["grand_total"])
    sandbox.control("POST", f"acumatica/ChangeOrder/{cco['erp_ref']}/amount", json={"amount": str(cco_amount + Decimal('0.01'))})
    sandbox.control("POST", "acumatica/bills", json={"vendor": wrapped(subcontract, "VendorID"),
                                                     "subcontract": changed["erp_ref"], "amount": "1234.50",
                                                     "vendor_ref": "KEYED-1"})
    sandbox.control("DELETE", f"acumatica/Bill/{deleted_bill['erp_ref']}")
    sandbox.control("POST", "acumatica/payments",
                    json={"bill": paid_bill["erp_ref"].split("/")[1], "amount": "100.00"})
    resync(store, acumatica)

    causes = open_causes(store, acumatica)
    moved = causes[(changed["procore_id"], "original", "changed_in_erp")]
    assert moved["procore_amount"] == original and moved["erp_amount"] == original + 500
    assert f"{original:,.2f} in Procore, {original + 500:,.2f} in Acumatica Cloud ERP" in moved["sentence"]
    assert "changed in Acumatica Cloud ERP on " in moved["sentence"]
    rounded = causes[(parent(cco), "change_orders", "rounding")]
    assert "rounded by -0.01" in rounded["sentence"]
    keyed = causes[(changed["procore_id"], "invoiced", "erp_bill_without_invoice")]
    assert keyed["erp_amount"] == Decimal("1234.50") and keyed["procore_amount"] is None
    assert "KEYED-1" in keyed["sentence"] and "no subcontractor invoice" in keyed["sentence"]
    gone = causes[(parent(deleted_bill), "invoiced", "gone_from_erp")]
    assert "deleted in Acumatica Cloud ERP" in gone["sentence"]
    unpaid = causes[(parent(paid_bill), "paid", "payment_not_imported")]
    assert unpaid["erp_amount"] == Decimal("100.00") and unpaid["procore_amount"] == 0
    assert not [key for key in causes if key[2] == "unknown"]
    row = next(r for r in figures(store, acumatica) if r["procore_commitment_id"] == changed["procore_id"])
    assert row["differs"] == 1 and row["erp_original_amount"] == original + 500
    assert figures(store, acumatica)[0]["differs"] == 1  # differing commitments come first

    sandbox.control("POST", f"acumatica/Subcontract/{changed['erp_ref']}/amount", json={"amount": str(original)})
    import_payments(store, acumatica, "test")
    resync(store, acumatica)
    causes = open_causes(store, acumatica)
    assert (changed["procore_id"], "original", "changed_in_erp") not in causes
    assert (parent(paid_bill), "paid", "payment_not_imported") not in causes
    history = {row["id"]: row for row in store.rows("differences_of_commitments", integration_id=acumatica["id"],
                                                     commitment_ids=[changed["procore_id"]])}
    assert history[moved["id"]]["closed_at"] is not None and history[moved["id"]]["first_seen_at"] < history[moved["id"]]["closed_at"]


def test_what_a_quickbooks_user_changes_is_explained(scene, store):
    sandbox, quickbooks = scene.sandbox, scene.integrations["harbor-quickbooks"]
    orders = {link["procore_id"]: link for link in active(store, quickbooks, "commitment")}
    bills = [link for link in active(store, quickbooks, "subcontractor_invoice") if parent(link) in orders]
    keyed_on = orders[parent(bills[0])]
    order = next(po for po in sandbox.erp_rows("quickbooks", "PurchaseOrder") if po["Id"] == keyed_on["erp_ref"])
    account = {"value": next(a["Id"] for a in sandbox.erp_rows("quickbooks", "Account") if a["AccountType"] == "Expense")}
    sandbox.control("POST", "quickbooks/Bill", json={
        "VendorRef": order["VendorRef"], "DocNumber": "KEYED-7", "Line": [{
            "Amount": 250.0, "DetailType": "AccountBasedExpenseLineDetail",
            "AccountBasedExpenseLineDetail": {"AccountRef": account},
            "LinkedTxn": [{"TxnId": order["Id"], "TxnType": "PurchaseOrder"}]}]})
    voided_bill = bills[1]
    amount = Decimal(str(next(b for b in sandbox.erp_rows("quickbooks", "Bill") if b["Id"] == voided_bill["erp_ref"])["TotalAmt"]))
    payment = sandbox.control("POST", "quickbooks/payments",
                              json={"bills": {voided_bill["erp_ref"]: str(amount)}}).json()["Id"]
    refresh_integration(store, quickbooks, "test")
    import_payments(store, quickbooks, "test")
    sandbox.control("POST", f"quickbooks/payments/{payment}/void")
    cco = next(link for link in active(store, quickbooks, "commitment_change_order") if "LineId" in link["erp_key_json"])
    scene.remove_from_erp("harbor-quickbooks", cco)
    with store.transaction() as tx:  # what the unlink queue does once the line is gone from QuickBooks
        tx.execute("end_link", id=cco["id"], now=datetime.now(UTC), ended_by="unlink request 9 (Procore user 101)",
                   reason="deleted in QuickBooks")
    stray = orders[next(iter(set(orders) - {keyed_on["procore_id"], parent(voided_bill), parent(cco)}), keyed_on["procore_id"])]
    with store.transaction() as tx:  # a payment in Procore ERP Sync cannot tie to any bill it knows
        tx.execute("upsert_payment", integration_id=quickbooks["id"], erp_payment_key="BillPayment/stray",
                   erp_bill_ref="none", origin_id="stray", procore_invoice_id=None,
                   procore_commitment_id=stray["procore_id"], procore_project_id=stray["procore_project_id"],
                   procore_payment_id=1, amount=Decimal("77.00"), payment_date="2026-12-01", payment_method="check",
                   check_number="1", invoice_number=None, erp_bill_number=None, status="active", colour="GREEN",
                   message=None, fingerprint=None, voided_at=None, erp_modified_at=None, now=datetime.now(UTC))
    resync(store, quickbooks)

    causes = open_causes(store, quickbooks)
    keyed = causes[(keyed_on["procore_id"], "invoiced", "erp_bill_without_invoice")]
    assert keyed["erp_amount"] == Decimal("250.00") and "KEYED-7" in keyed["sentence"]
    voided = causes[(parent(voided_bill), "paid", "payment_voided")]
    assert voided["procore_amount"] == amount and voided["erp_amount"] == 0
    assert "voided or reduced in QuickBooks® Online since it was imported" in voided["sentence"]
    unlinked = causes[(parent(cco), "change_orders", "unlinked")]
    assert "was unlinked on " in unlinked["sentence"] and "unlink request 9" in unlinked["sentence"]
    unknown = causes[(stray["procore_id"], "paid", "unknown")]
    assert "77.00 in Procore" in unknown["sentence"] and "cannot tell why" in unknown["sentence"]
    assert unknown["erp_amount"] is not None


def test_a_change_order_waiting_for_acceptance_or_for_an_unreachable_erp_is_explained(scene, store):
    sandbox, acumatica = scene.sandbox, scene.integrations["summit-acumatica"]
    in_erp = {link["procore_id"] for link in active(store, acumatica, "commitment")}
    waiting = [row for row in sandbox.procore_rows("commitment_change_orders")
               if row["contract_id"] in in_erp and row["status"] != "approved" and not row.get("deleted_at")]
    assert len(waiting) >= 2
    store.set_export_mode(acumatica["name"], ExportMode.ACCEPTANCE, actor="test")
    sandbox.control("POST", f"procore/commitment_change_orders/{waiting[0]['id']}/approve")
    export_integration(store, store.one("integration_by_name", name=acumatica["name"]), "test")
    reconcile_integration(store, acumatica, "test")
    accepting = open_causes(store, acumatica)[(waiting[0]["contract_id"], "change_orders", "awaiting_acceptance")]
    assert "waits for accounting acceptance" in accepting["sentence"]
    assert accepting["procore_amount"] == Decimal(waiting[0]["grand_total"]) and accepting["erp_amount"] is None

    sandbox.fault("acumatica", drop=True, method="PUT", path_pattern="ChangeOrder$", times=20)
    sandbox.control("POST", f"procore/commitment_change_orders/{waiting[1]['id']}/approve")
    with pytest.raises(SyncIncomplete):  # direct export now: both are sent, and neither reaches Acumatica
        export_integration(store, dict(acumatica, export_mode=ExportMode.DIRECT.value), "test")
    reconcile_integration(store, acumatica, "test")
    causes = open_causes(store, acumatica)
    assert (waiting[0]["contract_id"], "change_orders", "awaiting_acceptance") not in causes
    for cco in waiting[:2]:
        unreachable = causes[(cco["contract_id"], "change_orders", "not_exported")]
        assert "is not in Acumatica Cloud ERP yet" in unreachable["sentence"]
        assert cco["number"] in unreachable["sentence"]


@pytest.mark.parametrize("system", ["sage300", "sage100"])
def test_an_invoice_keyed_in_sage_holding_retainage_is_an_erp_bill_without_a_procore_invoice(sandbox, store, sage,
                                                                                             system):
    integration = SAGE_INTEGRATIONS[0 if system == "sage300" else 1]
    store.save_integration(integration)
    row = store.one("integration_by_name", name=integration.name)
    office = sage.offices[system]
    sync_sage(store, row, office, sandbox)
    commitment = active(store, row, "commitment")[0]
    if system == "sage300":
        vendor = office.rows("JCM_MASTER__COMMITMENT", Commitment=commitment["erp_ref"])[0]["Vendor"]
        office.enter_invoice(vendor, "KEYED-300", "640.00", commitment["erp_ref"], date(2026, 12, 1), "64.00")
    else:
        vendor = office.rows("subcon", recnum=int(commitment["erp_ref"]))[0]["vndnum"]
        office.enter_invoice("KEYED-100", vendor, "640.00", int(commitment["erp_ref"]), date(2026, 12, 1), "64.00")
    resync(store, row)

    causes = open_causes(store, row)
    keyed = causes[(commitment["procore_id"], "invoiced", "erp_bill_without_invoice")]
    assert keyed["erp_amount"] == Decimal("640.00") and "KEYED-" in keyed["sentence"]
    retainage = causes[(commitment["procore_id"], "retainage", "erp_bill_without_invoice")]
    assert retainage["erp_amount"] == Decimal("64.00") and "holds 64.00 of retainage" in retainage["sentence"]
    assert len(causes) == 2


def retainage_held(link: dict) -> Decimal:
    return Decimal(str(json.loads(link["procore_json"])["data"]["summary"]["total_retainage"]))


@pytest.mark.parametrize("system", ["sage300", "sage100"])
def test_retainage_a_sage_user_changes_on_an_invoice_is_explained_with_both_figures(sandbox, store, sage, system):
    integration = SAGE_INTEGRATIONS[0 if system == "sage300" else 1]
    store.save_integration(integration)
    row = store.one("integration_by_name", name=integration.name)
    office = sage.offices[system]
    sync_sage(store, row, office, sandbox)
    invoice = next(link for link in active(store, row, "subcontractor_invoice") if retainage_held(link))
    held = retainage_held(invoice)
    if system == "sage300":
        vendor, number = invoice["erp_ref"].split("/", 1)
        office.set_raw("APM_MASTER__INVOICE", {"Retainage": str(held + 25)}, Vendor=vendor, Invoice=number)
    else:
        office.set_raw("acpinv", {"retain": str(held + 25), "upddte": datetime.now(UTC).replace(tzinfo=None)},
                       recnum=int(invoice["erp_ref"]))
    resync(store, row)

    causes = open_causes(store, row)
    changed = causes[(parent(invoice), "retainage", "changed_in_erp")]
    assert changed["procore_amount"] == held and changed["erp_amount"] == held + 25
    assert f"{held:,.2f} in Procore, {held + 25:,.2f} in {integration.erp_kind.display_name}" in changed["sentence"]
    assert "retainage held on invoice" in changed["sentence"] and len(causes) == 1
    figure = next(f for f in figures(store, row) if f["procore_commitment_id"] == parent(invoice))
    assert figure["differs"] == 1 and figure["erp_retainage_amount"] - figure["procore_retainage_amount"] == 25


def test_retainage_released_in_procore_and_not_in_acumatica_is_explained(scene, store):
    sandbox, acumatica = scene.sandbox, scene.integrations["summit-acumatica"]
    invoice = next(link for link in active(store, acumatica, "subcontractor_invoice") if retainage_held(link))
    items = sandbox.procore_lines("requisitions", invoice["procore_id"])
    for item in items:  # the same period releases half of what it held; Acumatica keeps holding all of it
        held = Decimal(item["work_completed_retainage_retained_this_period"])
        item["work_completed_retainage_released_this_period"] = f"{held / 2:.2f}"
    sandbox.control("PUT", f"procore/requisitions/{invoice['procore_id']}/lines", json=items)
    scene.sync()
    reconcile_integration(store, acumatica, "test")

    causes = open_causes(store, acumatica)
    released = causes[(parent(invoice), "retainage", "retainage_to_release")]
    assert released["procore_amount"] < released["erp_amount"]
    assert "never releases retainage by itself" in released["sentence"]
    billed = causes[(parent(invoice), "invoiced", "retainage_to_release")]  # Procore's payment due includes it
    assert billed["procore_amount"] - billed["erp_amount"] == released["erp_amount"] - released["procore_amount"]
    assert not [key for key in causes if key[0] == parent(invoice) and key[2] in ("unknown", "changed_in_erp")]

    to_release = released["erp_amount"] - released["procore_amount"]
    retainage_bill = release_in_acumatica(sandbox, invoice, to_release / 2)  # a part of it
    resync(store, acumatica)
    rest = open_causes(store, acumatica)[(parent(invoice), "retainage", "retainage_to_release")]
    assert rest["erp_amount"] - rest["procore_amount"] == to_release / 2
    assert f"release the remaining {to_release / 2:,.2f} there" in rest["sentence"]
    assert now_of(store, acumatica, invoice)["reason_code"] == "retainage_to_release"  # still told to release

    last_bill = release_in_acumatica(sandbox, invoice, to_release / 2)  # the rest: both have released the same
    resync(store, acumatica)
    assert [key for key in open_causes(store, acumatica) if key[0] == parent(invoice)] == []
    assert erp_bill(store, acumatica, retainage_bill)["released_from"] == invoice["erp_ref"]
    settled = now_of(store, acumatica, invoice)  # its bill stays linked; the sentence says the release is made
    assert (settled["colour"], settled["reason_code"], settled["erp_ref"]) == ("GREEN", "release_made_in_erp",
                                                                               invoice["erp_ref"])
    bill_number = invoice["erp_ref"].split("/")[1]
    assert settled["message"] == (
        f"Released in Acumatica Cloud ERP: retainage bill {retainage_bill.split('/')[1]} releases "
        f"{to_release / 2:,.2f} from bill {bill_number}; retainage bill {last_bill.split('/')[1]} releases "
        f"{to_release / 2:,.2f} from bill {bill_number}.")


def now_of(store: Store, integration: dict, link: dict) -> dict:
    return next(row for row in active(store, integration, "subcontractor_invoice") if row["id"] == link["id"])


def test_retainage_released_on_a_later_invoice_in_procore_and_on_the_first_bill_in_acumatica_agrees(scene, store):
    sandbox, acumatica = scene.sandbox, scene.integrations["summit-acumatica"]
    by_commitment: dict[int, list[dict]] = {}
    for link in active(store, acumatica, "subcontractor_invoice"):
        by_commitment.setdefault(parent(link), []).append(link)
    first, later = next(sorted(links, key=lambda link: link["procore_id"]) for links in by_commitment.values()
                        if len(links) > 1 and all(retainage_held(link) for link in links))
    held = {item["line_item_id"]: item["work_completed_retainage_retained_this_period"]
            for item in sandbox.procore_lines("requisitions", first["procore_id"])}
    items = sandbox.procore_lines("requisitions", later["procore_id"])
    for item in items:  # the later invoice releases what the first one held, line by line
        item["work_completed_retainage_released_this_period"] = held[item["line_item_id"]]
    sandbox.control("PUT", f"procore/requisitions/{later['procore_id']}/lines", json=items)
    scene.sync()
    reconcile_integration(store, acumatica, "test")
    released = sum(Decimal(amount) for amount in held.values())

    causes = open_causes(store, acumatica)
    to_release = causes[(parent(first), "retainage", "retainage_to_release")]
    assert to_release["erp_amount"] - to_release["procore_amount"] == released
    assert f"release the remaining {released:,.2f} there" in to_release["sentence"]

    release_in_acumatica(sandbox, first, released)  # on the bill that held it, as Acumatica releases
    resync(store, acumatica)
    assert [key for key in open_causes(store, acumatica) if key[0] == parent(first)] == []
    row = next(r for r in figures(store, acumatica) if r["procore_commitment_id"] == parent(first))
    assert row["procore_retainage_amount"] == row["erp_retainage_amount"]
    assert row["procore_invoiced_amount"] == row["erp_invoiced_amount"]


@dataclass
class ReleaseOnly:
    """Both test integrations synced with a later invoice of a commitment that bills nothing and only releases what
    the commitment's first invoice held (Procore's usual way): Acumatica makes no bill of it."""

    scene: SyncedScene
    first: dict     # the Procore requisitions
    later: dict
    released: Decimal

    @classmethod
    def made(cls, sandbox, store: Store) -> ReleaseOnly:
        first, later, released = release_only_invoice(sandbox)
        return cls(SyncedScene(sandbox, store), first, later, released)

    @property
    def acumatica(self) -> dict:
        return self.scene.integrations["summit-acumatica"]

    def link(self, integration: dict, invoice: dict) -> dict:
        return next(link for link in self.scene.store.rows("active_links", integration_id=integration["id"])
                    if link["procore_id"] == invoice["id"])

    def release(self, amount: Decimal) -> str:
        """A person releases retainage in Acumatica on the first invoice's bill; the retainage bill's erp_ref."""
        return release_in_acumatica(self.scene.sandbox, self.link(self.acumatica, self.first), amount)


def test_an_invoice_that_only_releases_retainage_agrees_once_acumatica_releases_it(sandbox, store):
    """The usual way: a later invoice in Procore only releases what an earlier one held; Acumatica makes no bill
    of it (RED), and a person releases it in Acumatica on the earlier invoice's bill."""
    case = ReleaseOnly.made(sandbox, store)
    acumatica, first = case.acumatica, case.first
    reconcile_integration(store, acumatica, "test")

    release_only = case.link(acumatica, case.later)
    assert (release_only["colour"], release_only["erp_ref"]) == ("RED", None)
    causes = open_causes(store, acumatica)
    assert sorted(key[1:] for key in causes if key[0] == first["commitment_id"]) == [
        ("invoiced", "retainage_to_release"), ("retainage", "retainage_to_release")]
    assert f"release the remaining {case.released:,.2f} there" in \
        causes[(first["commitment_id"], "retainage", "retainage_to_release")]["sentence"]

    case.release(case.released)
    resync(store, acumatica)
    assert [key for key in open_causes(store, acumatica) if key[0] == first["commitment_id"]] == []


def test_an_invoice_that_only_releases_retainage_turns_green_once_acumatica_has_released_it_all(sandbox, store):
    case = ReleaseOnly.made(sandbox, store)
    acumatica, first, later = case.acumatica, case.first, case.later
    refused = case.link(acumatica, later)
    assert (refused["colour"], refused["reason_code"], refused["erp_ref"]) == ("RED", "retainage_to_release", None)
    assert "release it in Acumatica on the bills that hold it" in refused["message"]
    to_release = "Retainage released in Procore, to release in the ERP:"
    assert to_release in daily_summary(store, acumatica).text()

    half = (case.released / 2).quantize(Decimal("0.01"))
    made = [case.release(half)]  # a part of it: Acumatica has released less than Procore
    case.scene.sync()
    assert {name: case.link(acumatica, later)[name] for name in ("colour", "message", "erp_ref")} == {
        name: refused[name] for name in ("colour", "message", "erp_ref")}

    made.append(case.release(case.released - half))  # the rest: the next hourly sync sees it done
    case.scene.sync()
    done = case.link(acumatica, later)
    bill = case.link(acumatica, first)["erp_ref"].split("/")[1]
    assert (done["colour"], done["reason_code"], done["erp_ref"]) == ("GREEN", "release_made_in_erp", None)
    assert done["message"] == (
        f"Released in Acumatica Cloud ERP: retainage bill {made[0].split('/')[1]} releases {half:,.2f} from bill "
        f"{bill}; retainage bill {made[1].split('/')[1]} releases {case.released - half:,.2f} from bill {bill}.")
    assert to_release not in daily_summary(store, acumatica).text()

    bills = sandbox.erp_rows("acumatica", "Bill")
    case.scene.sync()  # nothing left to do: no document made, the link as it was
    assert sandbox.erp_rows("acumatica", "Bill") == bills
    assert case.link(acumatica, later) == done

    checks = {"701": (made[0], half), "702": (made[1], case.released - half)}
    for check, (retainage_bill, amount) in checks.items():  # paid: each counts once, for the first invoice's bill
        sandbox.control("POST", "acumatica/payments", json={"bill": retainage_bill.split("/")[1], "amount": str(amount),
                                                            "check_number": check})
    import_payments(store, acumatica, "test")
    resync(store, acumatica)
    assert [key for key in open_causes(store, acumatica) if key[0] == first["commitment_id"]] == []
    row = next(r for r in figures(store, acumatica) if r["procore_commitment_id"] == first["commitment_id"])
    assert row["procore_paid_amount"] == row["erp_paid_amount"]
    assert {p["check_number"]: (p["invoice_number"], Decimal(p["amount"])) for p in
            sandbox.procore_rows("contract_payments") if p["check_number"] in checks} == {
        check: (first["invoice_number"], amount) for check, (_bill, amount) in checks.items()}


def release_in_acumatica(sandbox, invoice: dict, amount: Decimal) -> str:
    """An Acumatica user releases retainage on the invoice's bill; the retainage bill's erp_ref."""
    made = sandbox.control("POST", f"acumatica/Bill/{invoice['erp_ref'].split('/')[1]}/release-retainage",
                           json={"amount": str(amount)}).json()
    return f"Bill/{wrapped(made, 'ReferenceNbr')}"


def erp_bill(store: Store, integration: dict, ref: str) -> dict:
    return next(row for row in store.rows("erp_bills_of_integration", integration_id=integration["id"])
                if row["erp_ref"] == ref)


def test_retainage_released_in_acumatica_and_not_in_procore_is_told_and_its_payment_counts(scene, store):
    sandbox, acumatica = scene.sandbox, scene.integrations["summit-acumatica"]
    invoice = next(link for link in active(store, acumatica, "subcontractor_invoice") if retainage_held(link))
    held = retainage_held(invoice)
    amount = Decimal(json.loads(invoice["procore_json"])["data"]["summary"]["current_payment_due"])
    retainage_bill = release_in_acumatica(sandbox, invoice, held / 2)
    resync(store, acumatica)

    causes = open_causes(store, acumatica)
    released = causes[(parent(invoice), "retainage", "released_in_erp")]
    assert (released["procore_amount"], released["erp_amount"]) == (held, held / 2)
    assert f"released {held / 2:,.2f} of retainage (retainage bill {retainage_bill.split('/')[1]}) that Procore " \
           "still holds on invoice" in released["sentence"]
    assert "record the release in Procore" in released["sentence"]
    billed = causes[(parent(invoice), "invoiced", "released_in_erp")]
    assert (billed["procore_amount"], billed["erp_amount"]) == (amount, amount + held / 2)
    assert billed["sentence"] == (
        f"Invoiced on invoice {invoice['procore_number']}: {amount:,.2f} in Procore, {amount + held / 2:,.2f} in "
        f"Acumatica Cloud ERP with the retainage bills; they differ by the {held / 2:,.2f} of retainage released in "
        "Acumatica Cloud ERP and not in Procore.")
    assert [key for key in causes if key[0] == parent(invoice)] == [
        (parent(invoice), "invoiced", "released_in_erp"), (parent(invoice), "retainage", "released_in_erp")]
    row = next(r for r in figures(store, acumatica) if r["procore_commitment_id"] == parent(invoice))
    assert row["procore_retainage_amount"] - row["erp_retainage_amount"] == held / 2
    assert erp_bill(store, acumatica, retainage_bill)["commitment_ref"] is None
    documents = ReconciliationView(store, acumatica).row(parent(invoice)).documents
    shown = next(document for document in documents if document.erp_ref == retainage_bill)
    assert (shown.kind, shown.erp_amount) == ("Retainage bill", held / 2)
    assert shown.status == f"releases retainage held on {invoice['procore_number']}"
    assert not [document for document in documents if document.kind == "ERP bill, no Procore invoice"]

    sandbox.control("POST", "acumatica/payments", json={"bill": retainage_bill.split("/")[1], "amount": str(held / 2)})
    import_payments(store, acumatica, "test")  # the payment of the retainage bill pays the invoice's bill
    resync(store, acumatica)
    causes = open_causes(store, acumatica)
    assert not [key for key in causes if key[0] == parent(invoice) and key[1] == "paid"]
    row = next(r for r in figures(store, acumatica) if r["procore_commitment_id"] == parent(invoice))
    assert row["procore_paid_amount"] == row["erp_paid_amount"] == held / 2


def key_in_acumatica(scene: SyncedScene, store: Store) -> tuple[dict, Decimal, str]:
    """An Acumatica user keys in bill KEYED-RET of 1,000.00 against a subcontract line holding retainage: the
    commitment's link, the retainage the bill holds and the bill's erp_ref."""
    acumatica = scene.integrations["summit-acumatica"]
    commitment = next(link for link in active(store, acumatica, "commitment")
                      if json.loads(link["procore_json"])["data"].get("retainage_percent"))
    subcontract = next(row for row in scene.sandbox.erp_rows("acumatica", "Subcontract")
                       if wrapped(row, "SubcontractNbr") == commitment["erp_ref"])
    line = subcontract["Details"][0]
    keyed = scene.sandbox.control("POST", "acumatica/bills", json={
        "vendor": wrapped(subcontract, "VendorID"), "subcontract": commitment["erp_ref"], "amount": "1000.00",
        "vendor_ref": "KEYED-RET", "subcontract_line": wrapped(line, "LineNbr")}).json()
    held = Decimal("1000.00") * Decimal(str(wrapped(line, "RetainagePct"))) / 100
    return commitment, held, f"Bill/{wrapped(keyed, 'ReferenceNbr')}"


def key_in_quickbooks(scene: SyncedScene, store: Store) -> tuple[dict, Decimal, str]:
    """A QuickBooks user keys in bill KEYED-RET of 1,000.00 against a purchase order and holds 100.00 of it back
    as a negative line to the retainage item, as ERP Sync's own bills do: as ``key_in_acumatica``."""
    sandbox, commitment = scene.sandbox, active(store, scene.integrations["harbor-quickbooks"], "commitment")[0]
    order = next(po for po in sandbox.erp_rows("quickbooks", "PurchaseOrder") if po["Id"] == commitment["erp_ref"])
    account = next(a["Id"] for a in sandbox.erp_rows("quickbooks", "Account") if a["AccountType"] == "Expense")
    retainage_item = sandbox.sandboxes.quickbooks.retainage_item_id
    lines = [{"Amount": 1000.0, "DetailType": "AccountBasedExpenseLineDetail",
              "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account}},
              "LinkedTxn": [{"TxnId": order["Id"], "TxnType": "PurchaseOrder"}]},
             {"Amount": -100.0, "DetailType": "ItemBasedExpenseLineDetail",
              "ItemBasedExpenseLineDetail": {"ItemRef": {"value": retainage_item}, "BillableStatus": "NotBillable"}}]
    keyed = sandbox.control("POST", "quickbooks/Bill", json={
        "VendorRef": order["VendorRef"], "DocNumber": "KEYED-RET", "Line": lines}).json()
    return commitment, Decimal("100.00"), keyed["Id"]


@pytest.mark.parametrize(("name", "key_in"), [("summit-acumatica", key_in_acumatica),
                                              ("harbor-quickbooks", key_in_quickbooks)])
def test_a_bill_keyed_in_the_erp_holding_retainage_counts_it(scene, store, name, key_in):
    integration = scene.integrations[name]
    commitment, held, _bill = key_in(scene, store)
    resync(store, integration)

    causes = open_causes(store, integration)
    retainage = causes[(commitment["procore_id"], "retainage", "erp_bill_without_invoice")]
    assert retainage["erp_amount"] == held and retainage["procore_amount"] is None
    assert f"holds {held:,.2f} of retainage" in retainage["sentence"] and "KEYED-RET" in retainage["sentence"]
    billed = causes[(commitment["procore_id"], "invoiced", "erp_bill_without_invoice")]
    assert billed["erp_amount"] == Decimal("1000.00") - held
    assert not [key for key in causes if key[0] == commitment["procore_id"] and key[2] == "unknown"]


def test_retainage_released_on_a_bill_keyed_in_acumatica_is_invoiced_and_held_no_more(scene, store):
    acumatica = scene.integrations["summit-acumatica"]
    commitment, held, bill = key_in_acumatica(scene, store)
    resync(store, acumatica)

    release_in_acumatica(scene.sandbox, {"erp_ref": bill}, held)
    resync(store, acumatica)  # released in full: its retainage is now payable
    causes = open_causes(store, acumatica)
    assert (commitment["procore_id"], "retainage", "erp_bill_without_invoice") not in causes
    billed = causes[(commitment["procore_id"], "invoiced", "erp_bill_without_invoice")]
    assert billed["erp_amount"] == Decimal("1000.00")


def test_the_command_reconciles_and_says_what_differs_in_text_and_json(scene, store, capsys):
    from erp_sync.__main__ import reconcile_now

    acumatica = scene.integrations["summit-acumatica"]
    commitment = active(store, acumatica, "commitment")[0]
    scene.sandbox.control("POST", f"acumatica/Subcontract/{commitment['erp_ref']}/amount", json={"amount": "1.00"})
    refresh_integration(store, acumatica, "test")

    assert reconcile_now(store, "summit-acumatica", as_json=True) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["differing"] == 1 and answer["differences"][0]["cause"] == "changed_in_erp"
    assert Decimal(answer["differences"][0]["erp_amount"]) == 1
    assert reconcile_now(store, "summit-acumatica", as_json=False) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"Reconciliation of summit-acumatica: 1 of {answer['commitments']} commitments differ")
    assert "changed_in_erp" in text
    assert reconcile_now(store, "nobody", as_json=False) == 2
    assert "no enabled integration named 'nobody'" in capsys.readouterr().err


@pytest.mark.airflow
def test_the_dag_reconciles_the_integration_asked_for_and_the_daily_summary_says_how_many_differ(
        airflow_db, sandbox, airflow_sqlite_store):
    from airflow.dag_processing.dagbag import DagBag

    from erp_sync.acceptance import daily_summary

    store = airflow_sqlite_store
    scene = SyncedScene(sandbox, store)
    acumatica = scene.integrations["summit-acumatica"]
    commitment = active(store, acumatica, "commitment")[0]
    sandbox.control("POST", f"acumatica/Subcontract/{commitment['erp_ref']}/amount", json={"amount": "10.00"})
    refresh_integration(store, acumatica, "test")
    dag = DagBag(dag_folder=str(Path(__file__).resolve().parents[1] / "dags" / "erp_reconciliation.py")).dags[
        "erp_reconciliation"]

    run = dag.test(run_conf={"integration": " summit-acumatica "})

    assert run.state == "success"
    reconciled = store.rows("runs_of_airflow_run", airflow_run_id=run.run_id)
    assert [(row["integration"], row["job"], row["status"]) for row in reconciled] == [
        ("summit-acumatica", "reconcile", "success")]
    assert json.loads(reconciled[0]["counts_json"])["differing"] == 1
    text = daily_summary(store, acumatica).text()
    assert f"Reconciliation of summit-acumatica: 1 of " in text
    assert "/erp-sync/integrations/summit-acumatica/reconciliation" in text
    assert dag.test(run_conf={"integration": "nowhere"}).state == "failed"


def test_the_demo_step_shows_a_difference_with_its_cause(scene, store):
    from erp_sync.reconcile.demo_step import show_a_difference, what_differs

    acumatica = scene.integrations["summit-acumatica"]
    said = show_a_difference(store, scene.sandbox.url)
    resync(store, acumatica)

    assert said.startswith("In Acumatica, a user keyed in bill KEYED-4250 (4250.00)")
    text = what_differs(store, "http://airflow.example")
    assert "2 of " in text.splitlines()[0] and "erp_bill_without_invoice" in text and "changed_in_erp" in text
    assert text.endswith("http://airflow.example/erp-sync/integrations/summit-acumatica/reconciliation")


def test_a_row_opens_to_its_documents_and_its_lines_per_cost_code(scene, store):
    acumatica = scene.integrations["summit-acumatica"]
    reconcile_integration(store, acumatica, "test")
    commitment = active(store, acumatica, "commitment")[0]
    row = ReconciliationView(store, acumatica).row(commitment["procore_id"])

    assert row.documents[0].kind == "Commitment" and row.documents[0].number == commitment["procore_number"]
    assert row.cost_codes, "the sandbox's commitments are exported with their schedule of values"
    committed = sum(code.committed for code in row.cost_codes)
    assert committed == row.figures["procore_revised_amount"]
    assert all(code.erp_lines for code in row.cost_codes)
    assert ReconciliationView(store, acumatica).row(1) is None
