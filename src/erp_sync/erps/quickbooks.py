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
from erp_sync.documents.line_map import MappedLine
from erp_sync.documents.model import CodedDocument, CodedLine
from erp_sync.erps.base import (
    LINE_MARK, BillsSeen, ErpAdapter, ErpBill, ErpDocument, ErpPayment, ErpRefusal, PaymentChanges,
    condition_of_bill, described, lines_by_mark, marked_line, payment_method, reads_bills, reference,
)
from erp_sync.models import ErpKind, RecordType
from erp_sync.reference.model import ErpItem, ReferenceKind
from erp_sync.sync.links import ErpView, Link
from erp_sync.sync.records import ProcoreRecord

CDC_REACH = timedelta(days=29)
CDC_CAP = 1000
NOTE_LIMIT = 4000
DOC_NUMBER_LIMIT = 21
RETAINAGE_MARK = "[PL-RETAINAGE]"


def updated_after(since: datetime) -> str:
    """The query condition of objects changed after a moment."""
    return f"MetaData.LastUpdatedTime > {quoted(since.isoformat())}"


def request_id(*parts: Any) -> str:
    """QuickBooks keeps a requestid's answer; the id must be unique per intended write (at most 50 characters)."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:40]


class QuickBooksAdapter(ErpAdapter):
    kind = ErpKind.QUICKBOOKS_ONLINE
    hook: QuickBooksHook
    bill_nets_retainage = True  # the retainage is a negative line of the bill
    # QuickBooks has no cost types: a line is its cost code's item; the cost type's class where one is linked.
    required_kinds = frozenset({ReferenceKind.PROJECT, ReferenceKind.COST_CODE})
    reference_kinds = (ReferenceKind.VENDOR, ReferenceKind.PROJECT, ReferenceKind.COST_CODE)
    # What each kind is in QuickBooks: projects are customers with Job true, cost codes service items by Name.
    # A query answers active objects only unless it asks for both.
    REFERENCE_QUERIES = {
        ReferenceKind.VENDOR: ("SELECT * FROM Vendor WHERE Active IN (true, false)", "DisplayName"),
        ReferenceKind.PROJECT: ("SELECT * FROM Customer WHERE Job = true AND Active IN (true, false)", "DisplayName"),
        ReferenceKind.COST_CODE: ("SELECT * FROM Item WHERE Type = 'Service' AND Active IN (true, false)", "Name"),
    }

    def reference_items(self, kind: ReferenceKind, since: datetime | None = None) -> list[ErpItem]:
        if kind not in self.REFERENCE_QUERIES:
            return []
        query, name = self.REFERENCE_QUERIES[kind]
        if since is not None:
            query += f" AND {updated_after(since)}"
        code = "Id" if kind is ReferenceKind.VENDOR else name  # vendors link by name; the others by their code
        return [ErpItem(kind, row["Id"], row[code], row.get("Description") or row[name],
                        active=bool(row.get("Active", True)))
                for row in self.hook.query(query)]

    @property
    def retainage_item(self) -> str | None:
        """The item retainage lines go to (connection extra ``retainage_item_id``): a service item booked to a
        Retention Payable liability, as Procore's QuickBooks connector asks for its "Invoice Retainage Item"."""
        configured = self.hook.extras.get("retainage_item_id")
        return str(configured) if configured else None

    def item_line(self, coded: CodedLine, description: str) -> dict[str, Any]:
        """An item-based expense line: the cost code's linked item, the project as ``CustomerRef``, the cost
        type's class where linked."""
        source = coded.line
        detail: dict[str, Any] = {"ItemRef": {"value": coded.cost_code.erp_id},
                                  "CustomerRef": {"value": coded.project.erp_id}, "BillableStatus": "NotBillable"}
        if coded.cost_type is not None:
            detail["ClassRef"] = {"value": coded.cost_type.erp_id}
        if source.quantity and source.unit_cost is not None and source.quantity * source.unit_cost == source.amount:
            detail |= {"Qty": float(source.quantity), "UnitPrice": float(source.unit_cost)}
        return {"Amount": float(source.amount), "Description": description, "DetailType": "ItemBasedExpenseLineDetail",
                "ItemBasedExpenseLineDetail": detail}

    def retainage_line(self, document: CodedDocument) -> dict[str, Any] | None:
        """Retainage held this period less released, as one negative line to the retainage item (QuickBooks has
        no retainage of its own): the bill then totals Procore's current payment due."""
        net = document.document.net_retainage
        if not net:
            return None
        if self.retainage_item is None:
            raise ErpRefusal("retainage_item_missing", (
                f"The invoice holds {net:.2f} of retainage, and {self.name} has no retainage item configured. Create "
                "a service item booked to a Retention Payable liability account and set its Id as the connection "
                "extra retainage_item_id; the next hourly sync exports the invoice."))
        project = document.project.erp_id if document.project else None
        detail = {"ItemRef": {"value": self.retainage_item}, "BillableStatus": "NotBillable"}
        if project:
            detail["CustomerRef"] = {"value": project}
        return {"Amount": float(-net), "Description": f"Retainage held less released this period {RETAINAGE_MARK}",
                "DetailType": "ItemBasedExpenseLineDetail", "ItemBasedExpenseLineDetail": detail}

    def retainage_held(self, bill: dict[str, Any]) -> Decimal:
        """What the bill holds back: its negative lines to the retainage item (a release is a positive one); with
        no item configured, no bill of ERP Sync's holds any."""
        item = self.retainage_item
        return -sum((Decimal(str(line.get("Amount") or 0)) for line in bill.get("Line") or []
                     if item is not None and (line.get("ItemBasedExpenseLineDetail") or {}).get("ItemRef", {})
                     .get("value") == item), Decimal(0))

    def lines(self, document: CodedDocument, existing: dict[str, dict[str, Any]], prefix: str = "") -> list[dict]:
        lines = []
        for coded in document.lines:
            line = self.item_line(coded, marked_line(coded.line, NOTE_LIMIT - len(prefix)) + prefix)
            if coded.line.procore_id in existing:
                line["Id"] = existing[coded.line.procore_id]["Id"]
            lines.append(line)
        return lines

    def document(self, entity: str, object_id: str, line_id: str | None = None, lines: list[dict] | None = None,
                 mark: str | None = None) -> ErpDocument:
        ref = object_id if line_id is None else f"{object_id}/{line_id}"
        key = {"entity": entity, "Id": object_id} | ({"LineId": line_id, "Mark": mark} if line_id else {})
        label = f"{self.name} {entity} {object_id}" + (f" line {line_id}" if line_id else "")
        by_mark = lines_by_mark(lines or [], "Description", "Id")
        return ErpDocument(ref=ref, key=key, label=label,
                           lines={procore_id: str(line["Id"]) for procore_id, line in by_mark.items()})

    def header(self, document: CodedDocument, link: Link, vendor_id: str) -> dict[str, Any]:
        record = document.record
        header = {"VendorRef": {"value": vendor_id}, "DocNumber": record.number[:DOC_NUMBER_LIMIT],
                  "PrivateNote": described(record, reference(record, link), NOTE_LIMIT)}
        return header | ({"TxnDate": record.date} if record.date else {})

    def check_amount(self, document: CodedDocument) -> None:
        """Procore's rule: a negative invoice does not go to QuickBooks Online."""
        if document.record.record_type is RecordType.SUBCONTRACTOR_INVOICE and document.document.payment_due < 0:
            raise ErpRefusal("negative_invoice", (
                f"The invoice's payment due is negative ({document.document.payment_due:.2f}); {self.name} takes no "
                "negative bill, and Procore does not send one either. Enter it in QuickBooks as a vendor credit."))

    # Find, create, update ------------------------------------------------------------------
    def find(self, record: ProcoreRecord, link: Link, parent: Link | None) -> ErpDocument | None:
        mark = reference(record, link)
        if record.record_type is RecordType.COMMITMENT_CHANGE_ORDER:
            order = self.hook.read("PurchaseOrder", parent.erp_key["Id"]) if parent else None
            marked = _lines_marked(order, mark)
            return self.document("PurchaseOrder", order["Id"], marked[0]["Id"], marked, mark) if marked else None
        entity = "PurchaseOrder" if record.record_type is RecordType.COMMITMENT else "Bill"
        statement = f"SELECT * FROM {entity} WHERE DocNumber = {quoted(record.number[:DOC_NUMBER_LIMIT])}"
        found = next((row for row in self.hook.query(statement) if mark in (row.get("PrivateNote") or "")), None)
        return self.document(entity, found["Id"], lines=found.get("Line")) if found else None

    def create(self, document: CodedDocument, link: Link, vendor_id: str, parent: Link | None) -> ErpDocument:
        self.check_amount(document)
        record = document.record
        if record.record_type is RecordType.COMMITMENT_CHANGE_ORDER:
            return self._change_order_lines(document, link, parent, [])
        entity = "PurchaseOrder" if record.record_type is RecordType.COMMITMENT else "Bill"
        retainage = self.retainage_line(document)
        body = self.header(document, link, vendor_id) | {
            "Line": self.lines(document, {}) + ([retainage] if retainage else [])}
        created = self.hook.create(entity, body, request_id(reference(record, link)))
        return self.document(entity, created["Id"], lines=created.get("Line"))

    def update(self, document: CodedDocument, link: Link, vendor_id: str, parent: Link | None,
               mapped: list[MappedLine]) -> ErpDocument:
        """A full update: the record's lines keep their Ids, lines Procore removed are left out (QuickBooks
        deletes them), and a purchase order's CCO lines stay as they are."""
        self.check_amount(document)
        record = document.record
        if record.record_type is RecordType.COMMITMENT_CHANGE_ORDER:
            return self._change_order_lines(document, link, parent, mapped)
        entity = link.erp_key["entity"]
        current = self._current(entity, link.erp_key["Id"])
        existing = lines_by_mark(current.get("Line") or [], "Description", "Id")
        own = {line.procore_id for line in document.document.lines} | {entry.line.procore_id for entry in mapped}
        current_lines = current.get("Line") or []
        if not mapped:  # exported before documents had lines: its first line was the record's total
            current_lines = current_lines[1:]
        others = [line for line in current_lines  # a purchase order's CCO lines
                  if not _owned(line, own) and RETAINAGE_MARK not in (line.get("Description") or "")]
        retainage = self.retainage_line(document)
        lines = self.lines(document, existing) + ([retainage] if retainage else []) + others
        body = {**self.header(document, link, vendor_id), "Id": current["Id"], "SyncToken": current["SyncToken"],
                "Line": lines}
        saved = self.hook.update(entity, body, request_id(reference(record, link), record.fingerprint,
                                                           current["SyncToken"]))
        return self.document(entity, current["Id"], lines=saved.get("Line"))

    def _change_order_lines(self, document: CodedDocument, link: Link, parent: Link | None,
                            mapped: list[MappedLine]) -> ErpDocument:
        """The CCO's lines on its commitment's purchase order, each carrying the CCO's mark and its own: added,
        changed in place, or removed."""
        mark = reference(document.record, link)
        order = self._current("PurchaseOrder", parent.erp_key["Id"])
        mine = _lines_marked(order, mark)
        existing = lines_by_mark(mine, "Description", "Id")
        others = [line for line in order["Line"] if line not in mine]
        lines = others + self.lines(document, existing, f" {mark}")
        saved = self.hook.update("PurchaseOrder", {"Id": order["Id"], "SyncToken": order["SyncToken"], "Line": lines},
                                 request_id(mark, order["SyncToken"], document.record.fingerprint))
        marked = _lines_marked(saved, mark)
        return self.document("PurchaseOrder", saved["Id"], marked[0]["Id"] if marked else None, marked, mark)

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
        return "LineId" not in link.erp_key or bool(_change_order_lines(document, link.erp_key))

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
        return list(self.hook.query(f"SELECT * FROM BillPayment WHERE {updated_after(since)}"))

    def bill(self, row: dict[str, Any]) -> ErpBill:
        """A bill names the purchase order it bills in its lines' ``LinkedTxn``; ``cdc`` reports a deleted one."""
        order = next((str(linked["TxnId"]) for line in row.get("Line") or [] for linked in line.get("LinkedTxn") or []
                      if linked.get("TxnType") == "PurchaseOrder"), None)
        if row.get("status") == "Deleted":
            return ErpBill(row["Id"], order, None, None, None, gone=True)
        amount = Decimal(str(row.get("TotalAmt", 0)))
        return ErpBill(row["Id"], order, row.get("DocNumber"), amount, Decimal(str(row.get("Balance", amount))),
                       datetime.fromisoformat(row["MetaData"]["LastUpdatedTime"]), retainage=self.retainage_held(row))

    def view(self, link: Link, row: dict[str, Any] | None) -> ErpView:
        if row is None or row.get("status") == "Deleted":
            return ErpView(link.erp_ref, present=False, condition="deleted")
        modified = datetime.fromisoformat(row["MetaData"]["LastUpdatedTime"])
        if "LineId" in link.erp_key:  # a CCO: its line on the purchase order
            lines = _change_order_lines(row, link.erp_key)
            if not lines:
                return ErpView(link.erp_ref, present=False, status="line removed", condition="deleted",
                               modified_at=modified)
            return ErpView(link.erp_ref, present=True, status=row.get("POStatus"), condition="open",
                           amount=sum((Decimal(str(line["Amount"])) for line in lines), Decimal(0)),
                           modified_at=modified)
        amount = Decimal(str(row.get("TotalAmt", 0)))
        if link.erp_key["entity"] == "Bill":
            balance = Decimal(str(row.get("Balance", amount)))
            return ErpView(link.erp_ref, present=True, status="Paid" if balance <= 0 else "Open",
                           condition=condition_of_bill(amount, balance), amount=amount, balance=balance,
                           retainage=self.retainage_held(row), modified_at=modified, number=row.get("DocNumber"))
        return ErpView(link.erp_ref, present=True, status=row.get("POStatus"), condition="open", amount=amount,
                       modified_at=modified, number=row.get("DocNumber"))


def _change_order_lines(order: dict[str, Any], key: dict[str, Any]) -> list[dict[str, Any]]:
    """A CCO's lines on its purchase order: those carrying its mark (one line, by Id, for a CCO exported before
    documents had lines)."""
    if "Mark" in key:
        return _lines_marked(order, key["Mark"])
    return [line for line in order.get("Line", []) if line.get("Id") == key["LineId"]]


def _lines_marked(order: dict[str, Any] | None, mark: str) -> list[dict[str, Any]]:
    if not order:
        return []
    return [line for line in order.get("Line", []) if mark in (line.get("Description") or "")]


def _owned(line: dict[str, Any], procore_ids: set[str]) -> bool:
    match = LINE_MARK.search(line.get("Description") or "")
    return match is not None and match.group(1) in procore_ids
