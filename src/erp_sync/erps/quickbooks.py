"""Procore records as QuickBooks Online documents: commitments -> Purchase Orders, a CCO -> a line
added to its commitment's purchase order, subcontractor invoices -> Bills (``DocNumber`` = the
Procore invoice number).

Every write carries a ``requestid`` derived from the link, so a repeated write is answered with the
first answer instead of making a second document; the pipeline's reference also goes into
``PrivateNote`` (or the CCO line's description), which ``find`` checks. The refresh uses ``cdc``,
which also reports deletions; where the bookmark is older than ``cdc`` reaches, or ``cdc`` hits its
1,000-object cap, it reads the whole list instead.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from erp_connectors.base import VendorApiError
from erp_connectors.quickbooks import QuickBooksHook, quoted
from erp_sync.erps.base import (
    BillsSeen, ErpAdapter, ErpBill, ErpDocument, ErpPayment, PaymentChanges, condition_of_bill, described,
    payment_method, reads_bills, reference,
)
from erp_sync.models import ErpKind, RecordType
from erp_sync.reference.model import ErpItem, ReferenceKind
from erp_sync.sync.links import ErpView, Link
from erp_sync.sync.records import ProcoreRecord

CDC_REACH = timedelta(days=29)
CDC_CAP = 1000
NOTE_LIMIT = 4000
DOC_NUMBER_LIMIT = 21


def request_id(*parts: Any) -> str:
    """QuickBooks keeps a requestid's answer; the id must be unique per intended write (at most 50 characters)."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:40]


class QuickBooksAdapter(ErpAdapter):
    kind = ErpKind.QUICKBOOKS_ONLINE
    hook: QuickBooksHook

    def __init__(self, hook: QuickBooksHook):
        super().__init__(hook)
        self._expense_account: str | None = None

    reference_kinds = (ReferenceKind.VENDOR,)

    def reference_items(self, kind: ReferenceKind) -> list[ErpItem]:
        if kind is not ReferenceKind.VENDOR:
            return []
        # A query answers active objects only unless it asks for both.
        return [ErpItem(kind, v["Id"], v["Id"], v["DisplayName"], active=bool(v.get("Active", True)))
                for v in self.hook.query("SELECT * FROM Vendor WHERE Active IN (true, false)")]

    @property
    def expense_account(self) -> str:
        """The account expense lines are booked to: the connection's ``expense_account_id`` or the first
        expense account."""
        if self._expense_account is None:
            configured = self.hook.extras.get("expense_account_id")
            if configured is None:
                account = next(self.hook.query("SELECT * FROM Account WHERE AccountType = 'Expense'"), None)
                if account is None:
                    raise VendorApiError("quickbooks", "GET", "Account", 400,
                                         "QuickBooks has no expense account; set the connection extra expense_account_id")
                configured = account["Id"]
            self._expense_account = str(configured)
        return self._expense_account

    def expense_line(self, description: str, amount: Decimal) -> dict[str, Any]:
        return {"Amount": float(amount), "Description": description, "DetailType": "AccountBasedExpenseLineDetail",
                "AccountBasedExpenseLineDetail": {"AccountRef": {"value": self.expense_account}}}

    def document(self, entity: str, object_id: str, line_id: str | None = None) -> ErpDocument:
        ref = object_id if line_id is None else f"{object_id}/{line_id}"
        key = {"entity": entity, "Id": object_id} | ({"LineId": line_id} if line_id else {})
        label = f"{self.name} {entity} {object_id}" + (f" line {line_id}" if line_id else "")
        return ErpDocument(ref=ref, key=key, label=label)

    def header(self, record: ProcoreRecord, link: Link, vendor_id: str) -> dict[str, Any]:
        header = {"VendorRef": {"value": vendor_id}, "DocNumber": record.number[:DOC_NUMBER_LIMIT],
                  "PrivateNote": described(record, reference(record, link), NOTE_LIMIT),
                  "Line": [self.expense_line(record.title, record.amount)]}
        return header | ({"TxnDate": record.date} if record.date else {})

    # Find, create, update ------------------------------------------------------------------
    def find(self, record: ProcoreRecord, link: Link, parent: Link | None) -> ErpDocument | None:
        mark = reference(record, link)
        if record.record_type is RecordType.COMMITMENT_CHANGE_ORDER:
            order = self.hook.read("PurchaseOrder", parent.erp_key["Id"]) if parent else None
            line = _line_marked(order, mark)
            return self.document("PurchaseOrder", order["Id"], line["Id"]) if line else None
        entity = "PurchaseOrder" if record.record_type is RecordType.COMMITMENT else "Bill"
        statement = f"SELECT * FROM {entity} WHERE DocNumber = {quoted(record.number[:DOC_NUMBER_LIMIT])}"
        found = next((row for row in self.hook.query(statement) if mark in (row.get("PrivateNote") or "")), None)
        return self.document(entity, found["Id"]) if found else None

    def create(self, record: ProcoreRecord, link: Link, vendor_id: str, parent: Link | None) -> ErpDocument:
        if record.record_type is RecordType.COMMITMENT_CHANGE_ORDER:
            return self._change_order_line(record, link, parent)
        entity = "PurchaseOrder" if record.record_type is RecordType.COMMITMENT else "Bill"
        created = self.hook.create(entity, self.header(record, link, vendor_id), request_id(reference(record, link)))
        return self.document(entity, created["Id"])

    def update(self, record: ProcoreRecord, link: Link, vendor_id: str, parent: Link | None) -> ErpDocument:
        if record.record_type is RecordType.COMMITMENT_CHANGE_ORDER:
            return self._change_order_line(record, link, parent)
        entity = link.erp_key["entity"]
        current = self._current(entity, link.erp_key["Id"])
        body = {**self.header(record, link, vendor_id), "Id": current["Id"], "SyncToken": current["SyncToken"]}
        if current.get("Line"):  # the record's own line is the first; a purchase order's CCO lines follow it
            body["Line"] = [{**body["Line"][0], "Id": current["Line"][0].get("Id")}, *current["Line"][1:]]
        self.hook.update(entity, body, request_id(reference(record, link), record.fingerprint))
        return self.document(entity, current["Id"])

    def _change_order_line(self, record: ProcoreRecord, link: Link, parent: Link | None) -> ErpDocument:
        """Add the CCO's line to the purchase order, or change it if it is there already."""
        mark = reference(record, link)
        order = self._current("PurchaseOrder", parent.erp_key["Id"])
        line = self.expense_line(described(record, mark, NOTE_LIMIT), record.amount)
        existing = _line_marked(order, mark)
        lines = [(line | {"Id": existing["Id"]}) if existing and l is existing else l for l in order["Line"]]
        if existing is None:
            lines.append(line)
        saved = self.hook.update("PurchaseOrder", {"Id": order["Id"], "SyncToken": order["SyncToken"], "Line": lines},
                                 request_id(mark, order["SyncToken"], record.fingerprint))
        return self.document("PurchaseOrder", saved["Id"], _line_marked(saved, mark)["Id"])

    def _current(self, entity: str, object_id: str) -> dict[str, Any]:
        current = self.hook.read(entity, object_id)
        if current is None:
            raise VendorApiError("quickbooks", "GET", entity, 404, f"{entity} {object_id} is no longer in {self.name}")
        return current

    def is_locked(self, error: VendorApiError) -> bool:
        return "code 6000" in error.message or "closed" in error.message.lower()

    # Refresh -------------------------------------------------------------------------------
    def refresh(self, links: dict[RecordType, list[Link]],
                since: datetime | None) -> tuple[list[tuple[Link, ErpView]], list[Link]]:
        linked = {kind: [link for link in rows if link.in_erp] for kind, rows in links.items()}
        wanted = {"Bill": linked.get(RecordType.SUBCONTRACTOR_INVOICE, []),
                  "PurchaseOrder": linked.get(RecordType.COMMITMENT, []) + linked.get(RecordType.COMMITMENT_CHANGE_ORDER, [])}
        entities = [entity for entity, rows in wanted.items() if rows or (entity == "Bill" and reads_bills(links))]
        if not entities:
            return [], []
        complete = since is None or since < datetime.now(UTC) - CDC_REACH
        changed = {entity: [] for entity in entities} if complete else self.hook.changes(entities, since)
        for entity in entities:
            if complete or len(changed[entity]) >= CDC_CAP:
                changed[entity] = list(self.hook.query(f"SELECT * FROM {entity}"))
        if "Bill" in entities:
            whole = complete or len(changed["Bill"]) >= CDC_CAP
            self.bills_seen = BillsSeen([self.bill(row) for row in changed["Bill"]],
                                        {row["Id"] for row in changed["Bill"]} if whole else None)
        views: list[tuple[Link, ErpView]] = []
        unchanged: list[Link] = []
        for entity in entities:
            objects = {row["Id"]: row for row in changed[entity]}
            full_list = complete or len(changed[entity]) >= CDC_CAP
            for link in wanted[entity]:
                row = objects.get(link.erp_key["Id"])
                if row is None and not full_list:
                    unchanged.append(link)
                else:
                    views.append((link, self.view(link, row)))
        return views, unchanged

    def still_in_erp(self, link: Link) -> bool:
        """Deleted is gone; a CCO is gone once its line is off the purchase order."""
        document = self.hook.read(link.erp_key["entity"], link.erp_key["Id"])
        if document is None:
            return False
        return "LineId" not in link.erp_key or _line_with_id(document, link.erp_key["LineId"]) is not None

    def payments(self, bill_refs: set[str], since: datetime | None) -> PaymentChanges:
        """BillPayments by ``cdc`` (or a query where ``cdc`` cannot reach); a void keeps the payment with its
        amounts at 0, its lines cleared and ``PrivateNote`` starting with "Voided"."""
        rows = self.changed_payments(since)
        applications, voided = [], {}
        for row in rows:
            key = f"BillPayment/{row['Id']}"
            modified = datetime.fromisoformat(row["MetaData"]["LastUpdatedTime"])
            if row.get("status") == "Deleted" or (not row.get("Line") and
                                                  (row.get("PrivateNote") or "").startswith("Voided")):
                voided[key] = modified.date().isoformat()
                continue
            for line in row.get("Line") or []:
                for linked in line.get("LinkedTxn") or []:
                    if linked.get("TxnType") == "Bill" and str(linked.get("TxnId")) in bill_refs:
                        applications.append(ErpPayment(
                            key=key, bill_ref=str(linked["TxnId"]), amount=Decimal(str(line.get("Amount", 0))),
                            date=row.get("TxnDate") or modified.date().isoformat(),
                            method=payment_method(row.get("PayType")), check_number=row.get("DocNumber"),
                            modified_at=modified))
        return PaymentChanges(applications, voided)

    def changed_payments(self, since: datetime | None) -> list[dict[str, Any]]:
        if since is None or since < datetime.now(UTC) - CDC_REACH:
            return list(self.hook.query("SELECT * FROM BillPayment"))
        rows = self.hook.changes(["BillPayment"], since)["BillPayment"]
        if len(rows) < CDC_CAP:
            return rows
        stamp = since.isoformat()
        return list(self.hook.query(f"SELECT * FROM BillPayment WHERE MetaData.LastUpdatedTime > {quoted(stamp)}"))

    @staticmethod
    def bill(row: dict[str, Any]) -> ErpBill:
        """A bill names the purchase order it bills in its lines' ``LinkedTxn``; ``cdc`` reports a deleted one."""
        order = next((str(linked["TxnId"]) for line in row.get("Line") or [] for linked in line.get("LinkedTxn") or []
                      if linked.get("TxnType") == "PurchaseOrder"), None)
        if row.get("status") == "Deleted":
            return ErpBill(row["Id"], order, None, None, None, gone=True)
        amount = Decimal(str(row.get("TotalAmt", 0)))
        return ErpBill(row["Id"], order, row.get("DocNumber"), amount, Decimal(str(row.get("Balance", amount))),
                       datetime.fromisoformat(row["MetaData"]["LastUpdatedTime"]))

    def view(self, link: Link, row: dict[str, Any] | None) -> ErpView:
        if row is None or row.get("status") == "Deleted":
            return ErpView(link.erp_ref, present=False, condition="deleted")
        modified = datetime.fromisoformat(row["MetaData"]["LastUpdatedTime"])
        if "LineId" in link.erp_key:  # a CCO: its line on the purchase order
            line = _line_with_id(row, link.erp_key["LineId"])
            if line is None:
                return ErpView(link.erp_ref, present=False, status="line removed", condition="deleted",
                               modified_at=modified)
            return ErpView(link.erp_ref, present=True, status=row.get("POStatus"), condition="open",
                           amount=Decimal(str(line["Amount"])), modified_at=modified)
        amount = Decimal(str(row.get("TotalAmt", 0)))
        if link.erp_key["entity"] == "Bill":
            balance = Decimal(str(row.get("Balance", amount)))
            return ErpView(link.erp_ref, present=True, status="Paid" if balance <= 0 else "Open",
                           condition=condition_of_bill(amount, balance), amount=amount, balance=balance,
                           modified_at=modified, number=row.get("DocNumber"))
        return ErpView(link.erp_ref, present=True, status=row.get("POStatus"), condition="open", amount=amount,
                       modified_at=modified, number=row.get("DocNumber"))


def _line_with_id(order: dict[str, Any], line_id: str) -> dict[str, Any] | None:
    return next((line for line in order.get("Line", []) if line.get("Id") == line_id), None)


def _line_marked(order: dict[str, Any] | None, mark: str) -> dict[str, Any] | None:
    if not order:
        return None
    return next((line for line in order.get("Line", []) if mark in (line.get("Description") or "")), None)
