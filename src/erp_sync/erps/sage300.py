"""Procore records as Sage 300 CRE documents: commitments -> Job Cost commitments (subcontracts and
purchase orders), CCOs -> commitment change orders, subcontractor invoices -> AP invoices (the
invoice number is Procore's).

Sage 300 CRE is seen only through the hourly sync: its ODBC tables carry no change dates, so each
refresh reads them whole and compares with the last read, and the unlink queue decides from what
the last completed sync saw (``docs/rules.md``, "Unlinking a record").
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from erp_connectors import sage300
from erp_connectors.sage300 import Sage300Hook
from erp_sync.erps.base import (
    ErpBill,
    ErpPayment,
    PaymentChanges,
    condition_of_bill,
    described,
    payment_method,
)
from erp_sync.documents.model import CodedDocument, CodedLine
from erp_sync.erps.sage import ReferenceTable, SageAdapter, as_date, job_costing
from erp_sync.models import ErpKind, RecordType
from erp_sync.reference.model import ReferenceKind
from erp_sync.sync.links import ErpView, Link
from erp_sync.sync.records import ProcoreRecord

DESCRIPTION_LIMIT = 60
ID_LIMIT = 10


def active_status(status: str | None) -> bool:
    return (status or "Active").strip() == "Active"


def sage_id(record: ProcoreRecord) -> str:
    """Commitment and change order ids are the Procore id: unique, and short enough for Sage's 10."""
    return f"PC{record.id}"[:ID_LIMIT]


class Sage300Adapter(SageAdapter):
    kind = ErpKind.SAGE_300_CRE
    hook: Sage300Hook
    seen_through_sync = True
    tables = {RecordType.COMMITMENT: sage300.COMMITMENTS, RecordType.COMMITMENT_CHANGE_ORDER: sage300.CHANGE_ORDERS,
              RecordType.SUBCONTRACTOR_INVOICE: sage300.INVOICES}
    reference_tables = {
        ReferenceKind.VENDOR: ReferenceTable("MASTER_APM_VENDOR", "Vendor", "Name", "Status", active_status),
        ReferenceKind.PROJECT: ReferenceTable("MASTER_JCM_JOB", "Job", "Description", "Status", active_status),
        ReferenceKind.SUB_JOB: ReferenceTable("JCM_MASTER__EXTRA", "Extra", "Description", job="Job"),
        ReferenceKind.COST_CODE: ReferenceTable("JCM_MASTER__COST_CODE", "Cost_Code", "Description"),
        ReferenceKind.COST_TYPE: ReferenceTable("JCM_MASTER__CATEGORY", "Category", "Description"),
    }
    reference_kinds = tuple(reference_tables)
    labels = {RecordType.COMMITMENT: "commitment", RecordType.COMMITMENT_CHANGE_ORDER: "change order",
              RecordType.SUBCONTRACTOR_INVOICE: "AP invoice"}

    def import_records(self, document: CodedDocument, mark: str, vendor_id: str | None,
                       parent: Link | None) -> list[list[Any]]:
        """Procore's own connector's mapping: a commitment item, CCO line or distribution per line with its
        job, extra, cost code and category; an invoice's Amount is the period's gross (current payment due
        plus retainage held) and its Retainage the retainage held less released, in total and per line."""
        record, layout = document.record, self.hook.layout
        description = described(record, mark, DESCRIPTION_LIMIT)
        on = as_date(record.date)
        items = self.line_keys(document)
        if record.record_type is RecordType.COMMITMENT:
            kind = "Subcontract" if record.stream.name == "work_order_contracts" else "Purchase Order"
            percent = document.document.retainage_percent
            header = layout.record("C", {"Commitment": sage_id(record), "Vendor": vendor_id, "Description": description,
                                         "Commitment Type": kind, "Date": on, "Job": document.project.erp_id,
                                         "Retainage Percent": _money(percent)})
            return [header, *(layout.record("CI", {
                "Commitment": sage_id(record), "Item": items[coded.line.procore_id], **_costing(coded),
                "Description": coded.line.description[:DESCRIPTION_LIMIT], "Units": coded.line.quantity,
                "Unit Cost": coded.line.unit_cost, "Amount": _money(coded.line.amount),
                "Retainage Percent": _money(percent)}) for coded in document.lines)]
        if record.record_type is RecordType.COMMITMENT_CHANGE_ORDER:
            header = layout.record("CCO", {"Commitment": parent.erp_ref, "Commitment CO": sage_id(record),
                                           "Description": description, "Date": on,
                                           "Amount": _money(document.document.amount)})
            return [header, *(layout.record("CCOI", {
                "Commitment": parent.erp_ref, "Commitment CO": sage_id(record), "Item": items[coded.line.procore_id],
                "Description": coded.line.description[:DESCRIPTION_LIMIT], **_costing(coded),
                "Amount": _money(coded.line.amount)}) for coded in document.lines)]
        invoice = document.document
        header = layout.record("API", {"Vendor": vendor_id, "Invoice": record.number[:15], "Description": description,
                                       "Amount": _money(invoice.payment_due + invoice.net_retainage),
                                       "Invoice Date": on, "Date Received": on, "Accounting Date": on,
                                       "Retainage": _money(invoice.net_retainage), "Commitment": parent.erp_ref})
        return [header, *(layout.record("APD", {
            "Commitment": parent.erp_ref, "Commitment Item": items[coded.line.procore_id], **_costing(coded),
            "Description": coded.line.description[:DESCRIPTION_LIMIT], "Amount": _money(coded.line.amount),
            "Retainage": _money(coded.line.net_retainage)}) for coded in document.lines)]

    def bill(self, ref: str, row: Any) -> ErpBill:
        return ErpBill(ref, row.Commitment, row.Invoice, row.Original_Gross, row.Original_Gross - row.Amount_Paid,
                       retainage=row.Retainage)

    def number(self, record_type: RecordType, row: Any) -> str:
        if record_type is RecordType.COMMITMENT:
            return row.Commitment
        if record_type is RecordType.COMMITMENT_CHANGE_ORDER:
            return f"{row.Commitment}/{row.Commitment_CO}"
        return row.Invoice

    def view(self, record_type: RecordType, ref: str, row: Any) -> ErpView:
        if record_type is RecordType.COMMITMENT:
            return ErpView(ref, present=True, status="Closed" if row.Closed else "Open", condition="open",
                           amount=row.Revised_Commitment, number=row.Commitment)
        if record_type is RecordType.COMMITMENT_CHANGE_ORDER:
            condition = "rejected" if row.Status == "Rejected" else "open"
            return ErpView(ref, present=True, status=row.Status, condition=condition, amount=row.Amount,
                           number=row.Commitment_CO)
        balance = row.Original_Gross - row.Amount_Paid
        return ErpView(ref, present=True, status=row.Status, amount=row.Original_Gross, balance=balance,
                       retainage=row.Retainage, condition=condition_of_bill(row.Original_Gross, balance),
                       number=row.Invoice)

    def still_in_erp(self, link: Link) -> bool:
        """As the last completed hourly sync saw it; the unlink queue waits for one after the request."""
        return link.erp_present is not False

    def payments(self, bill_refs: set[str], since: datetime | None) -> PaymentChanges:
        """Every check against these invoices (no change dates over ODBC); the payment import writes only
        what differs from what it wrote before."""
        applications = []
        for payment in self.hook.documents(sage300.PAYMENTS).values():
            bill_ref = f"{payment.Vendor}/{payment.Invoice}"
            if bill_ref not in bill_refs:
                continue
            applications.append(ErpPayment(
                key=f"Check/{payment.Vendor}/{payment.Check}", bill_ref=bill_ref, amount=payment.Amount,
                date=payment.Check_Date.isoformat(), method=payment_method(payment.Check_Type),
                check_number=payment.Check, voided=payment.Void_Date is not None,
                voided_on=payment.Void_Date.isoformat() if payment.Void_Date else None))
        return PaymentChanges(applications, {})


def _costing(coded: CodedLine) -> dict[str, str]:
    job, extra, cost_code, category = job_costing(coded)
    return {"Job": job, "Extra": extra, "Cost Code": cost_code, "Category": category}


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"
