"""Procore records as Sage 100 Contractor documents: commitments -> 6-7-1 Subcontracts, CCOs ->
subcontract change orders, subcontractor invoices -> 4-2 Payable Invoices (the invoice number is
Procore's). The pipeline's mark goes into each record's User Def 1 (``usrdf1``).

Every table carries ``upddte``, so the refresh and the payment import read only rows changed since
their bookmark, plus a key-only list to see deletions; an unlink asks the database live.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from erp_connectors import sage100
from erp_connectors.sage100 import CREDIT_CARD_PAYMENT, PAID_STATUS, InvoiceLine, Sage100Hook, SubcontractLine
from erp_sync.documents.model import CodedDocument
from erp_sync.erps.base import ErpBill, ErpPayment, ErpRefusal, PaymentChanges, condition_of_bill
from erp_sync.erps.sage import ReferenceTable, SageAdapter, as_date, job_costing
from erp_sync.models import ErpKind, RecordType
from erp_sync.reference.model import ErpItem, ReferenceKind
from erp_sync.sync.links import ErpView, Link
from erp_sync.sync.records import ProcoreRecord

DESCRIPTION_LIMIT = 50
NUMBER_LIMIT = 20
REFUSED_SUBCONTRACT = 2
REJECTED_CHANGE = 3
COST_TYPES = {1: "Material", 2: "Labor", 3: "Equipment", 4: "Subcontract", 5: "Other"} | {
    number: f"Cost type {number} (company-defined)" for number in range(6, 10)}


class Sage100Adapter(SageAdapter):
    kind = ErpKind.SAGE_100_CONTRACTOR
    hook: Sage100Hook
    tables = {RecordType.COMMITMENT: sage100.SUBCONTRACTS, RecordType.COMMITMENT_CHANGE_ORDER: sage100.CHANGE_ORDERS,
              RecordType.SUBCONTRACTOR_INVOICE: sage100.INVOICES}
    reference_tables = {
        ReferenceKind.VENDOR: ReferenceTable("actpay", "recnum", "vndnme", "status", lambda status: (status or 1) == 1),
        ReferenceKind.PROJECT: ReferenceTable("actrec", "recnum", "jobnme", "status", lambda status: (status or 4) == 4),
        ReferenceKind.SUB_JOB: ReferenceTable("jobphs", "phsnum", "phsnme", job="recnum"),
        ReferenceKind.COST_CODE: ReferenceTable("cstcde", "recnum", "cdenme"),
    }
    reference_kinds = (*reference_tables, ReferenceKind.COST_TYPE)
    labels = {RecordType.COMMITMENT: "subcontract", RecordType.COMMITMENT_CHANGE_ORDER: "change order",
              RecordType.SUBCONTRACTOR_INVOICE: "payable invoice"}

    def reference_items(self, kind: ReferenceKind, since: datetime | None = None) -> list[ErpItem]:
        """Sage 100 Contractor's cost types are the numbers 1-9 (no table to read): 1-5 as Sage names them,
        6-9 defined by each company."""
        if kind is ReferenceKind.COST_TYPE:
            return [ErpItem(kind, str(number), str(number), name) for number, name in COST_TYPES.items()]
        return super().reference_items(kind, since)

    def import_records(self, document: CodedDocument, mark: str, vendor_id: str | None,
                       parent: Link | None) -> list[list[Any]]:
        """A subcontract header (vendor, job, phase, retention) with a detail line per Procore line (cost code,
        cost type, amount); a change order's lines; an invoice with job, phase, subcontract and retainage held
        (held less released this period) and a line per Procore line."""
        record = document.record
        description, on = record.title[:DESCRIPTION_LIMIT], as_date(record.date)
        number = record.number[:NUMBER_LIMIT]
        first = document.lines[0] if document.lines else None
        job, phase = (job_costing(first)[:2] if first else (str(record.project_id), ""))
        if record.record_type is RecordType.COMMITMENT:
            _one_phase(document)
            return self.hook.subcontract_import(number, vendor_id, job, phase, description, mark, on,
                                                document.document.retainage_percent, _lines(document))
        if record.record_type is RecordType.COMMITMENT_CHANGE_ORDER:
            return self.hook.change_order_import(parent.erp_ref, number, description, mark, on, _lines(document))
        invoice_lines = [InvoiceLine(**vars(line), job=job_costing(coded)[0], phase=job_costing(coded)[1],
                                     retainage=coded.line.net_retainage)
                         for coded, line in zip(document.lines, _lines(document), strict=True)]
        return self.hook.invoice_import(number, vendor_id, description, mark, on, parent.erp_ref, job, phase,
                                        document.document.net_retainage, invoice_lines)

    def number(self, record_type: RecordType, row: Any) -> str:
        return getattr(row, NUMBER_COLUMN[record_type])

    def view(self, record_type: RecordType, ref: str, row: Any) -> ErpView:
        number = self.number(record_type, row)
        if record_type is RecordType.COMMITMENT:
            condition = "rejected" if row.status == REFUSED_SUBCONTRACT else "open"
            return ErpView(ref, present=True, status=_code(row.status), condition=condition, amount=row.ctcttl,
                           number=number)
        if record_type is RecordType.COMMITMENT_CHANGE_ORDER:
            condition = "rejected" if row.chgsts == REJECTED_CHANGE else "open"
            return ErpView(ref, present=True, status=_code(row.chgsts), condition=condition, amount=row.bdgprc,
                           number=number)
        balance = _balance(row)
        return ErpView(ref, present=True, status=_code(row.status), amount=row.invttl, balance=balance,
                       retainage=row.retain, condition=condition_of_bill(row.invttl, balance), number=number)

    def bill(self, ref: str, row: Any) -> ErpBill:
        return ErpBill(ref, row.ctcnum, row.invnum, row.invttl, _balance(row), retainage=row.retain)

    def payments(self, bill_refs: set[str], since: datetime | None) -> PaymentChanges:
        """Payment lines changed since the bookmark; a voided check keeps its line with ``vodrec`` set."""
        applications = []
        for payment in self.hook.documents(sage100.PAYMENTS, since).values():
            bill_ref = str(payment.recnum)
            if bill_ref not in bill_refs:
                continue
            applications.append(ErpPayment(
                key=f"Check/{payment.chknum}#{payment.linnum}", bill_ref=bill_ref, amount=payment.amount,
                date=payment.chkdte.isoformat(),
                method="credit_card" if payment.paytyp == CREDIT_CARD_PAYMENT else "check",
                check_number=payment.chknum, voided=bool(payment.vodrec), modified_at=payment.upddte))
        return PaymentChanges(applications, {})


NUMBER_COLUMN = {RecordType.COMMITMENT: "ctcnum", RecordType.COMMITMENT_CHANGE_ORDER: "chgnum",
                 RecordType.SUBCONTRACTOR_INVOICE: "invnum"}


def _one_phase(document: CodedDocument) -> None:
    """A 6-7-1 subcontract names its job phase once, in its header: its lines cannot be in several."""
    phases = sorted({job_costing(coded)[1] or "(none)" for coded in document.lines})
    if len(phases) > 1:
        raise ErpRefusal("erp_validation", f"Sage 100 Contractor takes one phase per subcontract, and the lines of "
                                           f"this commitment are in sub jobs {', '.join(phases)}. Split it in "
                                           "Procore, one commitment a sub job; the next hourly sync exports them.")


def _balance(invoice: Any) -> Decimal:
    return invoice.invbal if invoice.invbal is not None else (invoice.invttl if invoice.status != PAID_STATUS else 0)


def _code(status: int | None) -> str | None:
    return None if status is None else str(status)


def _lines(document: CodedDocument) -> list[SubcontractLine]:
    return [SubcontractLine(coded.line.description[:DESCRIPTION_LIMIT], job_costing(coded)[2], job_costing(coded)[3],
                            coded.line.amount) for coded in document.lines]
