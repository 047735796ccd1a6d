"""Procore records as Acumatica documents: commitments -> Subcontracts, CCOs -> Change Orders on the
subcontract, subcontractor invoices -> AP Bills (``VendorRef`` = the Procore invoice number).

The pipeline's reference goes into each document's ``Description`` (and a change order's
``ExternalRefNbr``), which is what ``find`` filters on. The refresh reads what changed with
``$filter=LastModifiedDateTime gt ...`` and which documents still exist with a key-only list:
Acumatica's REST API does not report deletions.

Field names are those of Acumatica's published Default/24.200.001 description (kept as facts in
``sandbox/contracts/``): a Subcontract's vendor is ``VendorID`` and its lines' amount
``ExtendedCost``; a change order's ``Commitments`` lines name their subcontract in ``PONbr``.
Acumatica drops a field its contract does not have without an error, so a wrong name here would
go unnoticed on a real instance: ``tests/test_acumatica_contract.py`` holds this module to it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from erp_connectors.acumatica import AcumaticaHook, odata_datetime, odata_string
from erp_connectors.base import VendorApiError
from erp_sync.documents.line_map import MappedLine
from erp_sync.documents.model import CodedDocument, CodedLine
from erp_sync.documents.procore import LineProblem
from erp_sync.erps.base import (
    RETAINAGE_TO_RELEASE, BillsSeen, ErpAdapter, ErpBill, ErpDocument, ErpPayment, ErpRefusal, PaymentChanges,
    condition_of_bill, described, lines_by_mark, marked_line, payment_method, reads_bills, reference, removed_lines,
)
from erp_sync.models import ErpKind, RecordType
from erp_sync.reference.check import REASON_CODE as REFERENCE_UNLINKED
from erp_sync.reference.model import ErpItem, ReferenceKind
from erp_sync.sync.links import ErpView, Link
from erp_sync.sync.records import ProcoreRecord

ENTITY = {RecordType.COMMITMENT: "Subcontract", RecordType.COMMITMENT_CHANGE_ORDER: "ChangeOrder",
          RecordType.SUBCONTRACTOR_INVOICE: "Bill"}
KEYS = {"Subcontract": ("SubcontractNbr",), "ChangeOrder": ("RefNbr",), "Bill": ("Type", "ReferenceNbr")}
STATUS_FIELDS = {"Subcontract": "Status,SubcontractTotal,VendorRef",
                 "ChangeOrder": "Status,ReverseStatus,CommitmentsChangeTotal,ExternalRefNbr",
                 "Bill": "Status,Amount,Balance,VendorRef"}
DETAIL = {"Subcontract": ("Details", "LineDescription", "ExtendedCost"),
          "ChangeOrder": ("Commitments", "Description", "Amount"),
          "Bill": ("Details", "TransactionDescription", "Amount")}
VENDOR_FIELD = {"Subcontract": "VendorID", "Bill": "Vendor"}
# Sent on create so documents are not left on hold; a Subcontract has none (see ``released``).
OFF_HOLD = {"ChangeOrder": {"Hold": False}, "Bill": {"Hold": False}}
DESCRIPTION_LIMIT = 255
LOCKED_WORDS = ("cannot be edited", "released", "locked", "closed")
SUBCONTRACT_ORDER_TYPE = "Subcontract"  # BillDetail.POOrderType of a subcontract line (connection extra to change)
# The line of a retainage bill Acumatica makes when a person releases retainage ("Retainage for {0} {1}").
RETAINAGE_BILL_LINE = re.compile(r"^Retainage for Bill (\S+)$")
RETAINAGE_DIFFERS = "retainage_differs"
BILLS_PER_READ = 40  # bills named in one $filter, to keep the URL short
CENT = Decimal("0.01")


class AcumaticaAdapter(ErpAdapter):
    kind = ErpKind.ACUMATICA
    hook: AcumaticaHook
    commitment_includes_change_orders = False  # a change order's Commitments lines stand beside the subcontract
    bill_nets_retainage = True  # a bill's Amount leaves out the retainage it holds ("Total Amount" includes it)

    # Each kind's entity: its key, the name a person reads, and what says it is active (Status or Active).
    REFERENCE_ENTITIES = {
        ReferenceKind.VENDOR: ("Vendor", "VendorID", "VendorName", "Status"),
        ReferenceKind.PROJECT: ("Project", "ProjectID", "Description", "Status"),
        ReferenceKind.COST_CODE: ("CostCode", "CostCodeID", "Description", None),
        ReferenceKind.COST_TYPE: ("AccountGroup", "AccountGroupID", "Description", "Active"),
        ReferenceKind.SUB_JOB: ("ProjectTask", "ProjectTaskID", "Description", "Status"),
    }
    reference_kinds = tuple(REFERENCE_ENTITIES)

    def reference_items(self, kind: ReferenceKind, since: datetime | None = None) -> list[ErpItem]:
        """Vendors, projects, project tasks (Procore's sub jobs: a task of an Active status takes costs; the one its
        project marks ``Default`` takes the lines in no sub job), cost codes and account groups (Procore's cost
        types, each with the expense account it posts to), as the Default endpoint names them; each entity has
        ``LastModifiedDateTime`` to read what changed by."""
        if kind not in self.REFERENCE_ENTITIES:
            return []
        entity, key, name, state = self.REFERENCE_ENTITIES[kind]
        changed = f"LastModifiedDateTime gt {odata_datetime(since)}" if since else None
        if kind is ReferenceKind.SUB_JOB:  # a task's id is unique only within its project
            return [ErpItem.sub_job(row["ProjectID"], row[key], row.get(name) or row[key], _active(row.get(state)),
                                    default=row.get("Default") is True)
                    for row in self.hook.records(entity, filter=changed,
                                                 select=f"ProjectID,{key},{name},{state},Default")]
        posts_to = "DefaultAccountID" if kind is ReferenceKind.COST_TYPE else None
        select = ",".join(field for field in (key, name, state, posts_to) if field)
        return [ErpItem(kind, row[key], row[key], row.get(name) or row[key], active=_active(row.get(state)),
                        posts_to=row.get(posts_to) if posts_to else None)
                for row in self.hook.records(entity, filter=changed, select=select)]

    def fields(self, document: CodedDocument, link: Link, vendor_id: str) -> dict[str, Any]:
        record = document.record
        mark = reference(record, link)
        header: dict[str, Any] = {"Description": described(record, mark, DESCRIPTION_LIMIT)}
        entity = ENTITY[record.record_type]
        if entity == "ChangeOrder":
            header |= {"ExternalRefNbr": mark, "ChangeDate": record.date,
                       "ProjectID": document.project.erp_id if document.project else None}
        else:
            header |= {VENDOR_FIELD[entity]: vendor_id, "VendorRef": record.number[:40], "Date": record.date}
        if entity == "Bill":
            header |= {"Type": "Bill", "Project": document.project.erp_id if document.project else None}
        if entity == "Subcontract" and document.document.retainage_percent is not None:
            percent = document.document.retainage_percent
            header |= {"ApplyRetainage": percent > 0, "RetainagePct": float(percent)}
        return {k: v for k, v in header.items() if v is not None}

    @property
    def default_task(self) -> str | None:
        """The connection's task (extra ``default_task``) for a line in no sub job of a project that marks none
        Default."""
        return self.hook.extras.get("default_task") or None

    def task(self, document: CodedDocument, coded: CodedLine) -> str:
        """Acumatica takes a task on every line: the line's sub job's, else the one its project marks Default
        (``CodedLine.task`` holds either), else the connection's; with none, the record waits, saying what to do."""
        task = coded.task.code if coded.task else self.default_task
        if task:
            return task
        project = coded.line.coding.project
        job = coded.project.code if coded.project else project.name
        raise LineProblem(REFERENCE_UNLINKED, (
            f"Not exported yet: {self.name} takes a project task on every line, and {coded.line.label()} of the "
            f"{document.record.record_type.words} is in no sub job, but project \"{project.name}\" (project {job} in "
            f"{self.name}) has no task marked Default and the connection names no default task. Mark a task of "
            f"project {job} as Default in {self.name} (Projects, Tasks tab), or set default_task on the connection."))

    def check_lines(self, document: CodedDocument) -> None:
        for coded in document.lines:
            self.task(document, coded)

    def line(self, document: CodedDocument, coded: CodedLine, parent: Link | None) -> dict[str, Any]:
        """One ERP line, job-costed: project, task, cost code, and the account the cost type's account group
        posts to (Acumatica derives the account group from the account)."""
        entity = ENTITY[document.record.record_type]
        source = coded.line
        task = self.task(document, coded)
        account = coded.cost_type.posts_to if coded.cost_type else None
        quantity = {"Subcontract": "OrderQty", "ChangeOrder": "Qty", "Bill": "Qty"}[entity]
        line: dict[str, Any] = {
            DETAIL[entity][1]: marked_line(source, DESCRIPTION_LIMIT), "CostCode": coded.cost_code.erp_id,
            "Account": account, quantity: _float(source.quantity), "UnitCost": _float(source.unit_cost),
            "UOM": source.uom}
        if entity == "Subcontract":
            line |= {"Project": coded.project.erp_id, "Task": task, "ExtendedCost": float(source.amount)}
            if document.document.retainage_percent is not None:
                line["RetainagePct"] = float(document.document.retainage_percent)
        elif entity == "ChangeOrder":
            line |= {"ProjectTaskID": task, "Amount": float(source.amount), "PONbr": parent.erp_ref if parent else None,
                     "POLineNbr": _int(document.commitment_line(coded))}
        else:  # a bill line bills the subcontract line, which carries the retainage
            line |= {"Project": coded.project.erp_id, "ProjectTask": task, "Amount": float(source.amount),
                     "ExtendedCost": float(source.amount), "Qty": None, "UnitCost": None}
            subcontract_line = _int(document.commitment_line(coded))
            if parent is not None and subcontract_line is not None:
                line |= {"POOrderType": self.hook.extras.get("subcontract_order_type") or SUBCONTRACT_ORDER_TYPE,
                         "POOrderNbr": parent.erp_ref, "POLine": subcontract_line}
        return {k: v for k, v in line.items() if v is not None}

    def document(self, entity: str, fields: dict[str, Any]) -> ErpDocument:
        key = {name: fields[name] for name in KEYS[entity]}
        ref = "/".join(str(value) for value in key.values())
        detail, description, _amount = DETAIL[entity]
        lines = {procore_id: str(erp_line.get("LineNbr") or erp_line["id"])
                 for procore_id, erp_line in lines_by_mark(fields.get(detail) or [], description, "id").items()}
        return ErpDocument(ref=ref, key={"entity": entity, **key}, label=f"{self.name} {entity} {ref}", lines=lines)

    def find(self, record: ProcoreRecord, link: Link, parent: Link | None) -> ErpDocument | None:
        entity = ENTITY[record.record_type]
        mark = reference(record, link)
        condition = (f"ExternalRefNbr eq {odata_string(mark)}" if entity == "ChangeOrder"
                     else f"substringof({odata_string(mark)},Description)")
        # a retainage bill copies its original's description, mark included
        found = next((row for row in self.hook.records(entity, filter=condition, expand=DETAIL[entity][0])
                      if not _retainage_bill(row)), None)
        return self.document(entity, found) if found else None

    def create(self, document: CodedDocument, link: Link, vendor_id: str, parent: Link | None) -> ErpDocument:
        entity = ENTITY[document.record.record_type]
        self.check_release(document)
        self.check_retainage(document, parent)
        body = {**self.fields(document, link, vendor_id), **OFF_HOLD.get(entity, {}),
                DETAIL[entity][0]: [self.line(document, coded, parent) for coded in document.lines]}
        saved = self.released(entity, self.hook.put(entity, body, creates=True, expand=DETAIL[entity][0]))
        return self.with_notice(saved, document)

    def update(self, document: CodedDocument, link: Link, vendor_id: str, parent: Link | None,
               mapped: list[MappedLine]) -> ErpDocument:
        """Each line goes to the ERP line carrying its mark (added if none does); a line removed in Procore is
        deleted (``"delete": true``), which Acumatica refuses once the document is released."""
        entity = link.erp_key["entity"]
        self.check_release(document)
        self.check_retainage(document, parent)
        key = [str(link.erp_key[name]) for name in KEYS[entity]]
        detail, description, _amount = DETAIL[entity]
        current = self.hook.record(entity, *key, expand=detail)
        if current is None:
            raise VendorApiError("acumatica", "GET", entity, 404, f"{entity} {link.erp_ref} is no longer in {self.name}")
        existing = lines_by_mark(current.get(detail) or [], description, "id")
        lines = []
        for coded in document.lines:
            line = self.line(document, coded, parent)
            if coded.line.procore_id in existing:
                line["id"] = existing[coded.line.procore_id]["id"]
            lines.append(line)
        lines += [{"id": existing[gone.procore_id]["id"], "delete": True}
                  for gone in removed_lines(document, mapped) if gone.procore_id in existing]
        body = {**self.fields(document, link, vendor_id), **{k: link.erp_key[k] for k in KEYS[entity]}, detail: lines}
        saved = self.hook.put(entity, body, creates=False, expand=detail)
        return self.with_notice(self.released(entity, saved), document)

    def check_release(self, document: CodedDocument) -> None:
        """An invoice that only releases retainage makes no bill: Acumatica releases retainage on the bills
        that held it, and only when a person does."""
        invoice = document.document
        if document.record.record_type is RecordType.SUBCONTRACTOR_INVOICE and not invoice.amount and \
                invoice.retainage_released:
            raise ErpRefusal(RETAINAGE_TO_RELEASE, release_sentence(invoice.retainage_released, self.name) +
                             " This invoice bills nothing else, so no bill was created for it.")

    def check_retainage(self, document: CodedDocument, parent: Link | None) -> None:
        """Default/24.200.001 has no retainage on a bill: Acumatica holds on each bill line the retainage of the
        subcontract line it bills (its ``RetainagePct``, the commitment's). An invoice line holding other than
        that (a rate changed on the requisition, stored materials retained otherwise) would leave the bill's
        balance off Procore's current payment due, so the invoice waits, RED, with the line and both amounts."""
        if document.record.record_type is not RecordType.SUBCONTRACTOR_INVOICE:
            return
        percent = _subcontract_percent(parent)
        differing = []
        for coded in document.lines:
            line = coded.line
            billed = document.commitment_line(coded) is not None
            held = (line.amount * percent / 100).quantize(CENT, ROUND_HALF_UP) if billed else Decimal(0)
            if held != line.retainage_held:
                differing.append(f"{line.label()} holds {line.retainage_held:.2f} in Procore, {held:.2f} in "
                                 f"{self.name}")
        if differing:
            raise ErpRefusal(RETAINAGE_DIFFERS, (
                f"{self.name} holds on a bill line the retainage of the subcontract line it bills ({percent:.2f}% on "
                f"subcontract {parent.erp_ref if parent else ''}), and its Default endpoint cannot set another: "
                f"{'; '.join(differing)}. Make the requisition's retainage on these lines the commitment's "
                f"{percent:.2f}% in Procore (or change the commitment's retainage, which updates the subcontract); "
                "the next hourly sync exports the invoice."))

    def with_notice(self, document: ErpDocument, coded: CodedDocument) -> ErpDocument:
        released = coded.document.retainage_released
        if coded.record.record_type is not RecordType.SUBCONTRACTOR_INVOICE or not released:
            return document
        return replace(document, notice=release_sentence(released, self.name))

    def released(self, entity: str, saved: dict[str, Any]) -> ErpDocument:
        """A Subcontract has no Hold field: where the instance's preferences hold new subcontracts,
        the contract's ``ReleaseFromHold`` action takes it off hold."""
        document = self.document(entity, saved)
        if entity == "Subcontract" and saved.get("Status") == "On Hold":
            self.hook.invoke(entity, "ReleaseFromHold", {name: saved[name] for name in KEYS[entity]})
        return document

    def is_locked(self, error: VendorApiError) -> bool:
        return error.status == 422 and any(word in error.message.lower() for word in LOCKED_WORDS)

    # Refresh -------------------------------------------------------------------------------
    def refresh(self, links: dict[RecordType, list[Link]],
                since: datetime | None) -> tuple[list[tuple[Link, ErpView]], list[Link]]:
        changed_views: list[tuple[Link, ErpView]] = []
        unchanged: list[Link] = []
        for record_type, entity in ENTITY.items():
            linked = [link for link in links.get(record_type, []) if link.in_erp]
            bills = entity == "Bill" and reads_bills(links)
            if not linked and not bills:
                continue
            select = ",".join([*KEYS[entity], STATUS_FIELDS[entity], "LastModifiedDateTime"])
            changed_filter = f"LastModifiedDateTime gt {odata_datetime(since)}" if since else None
            # A bill's lines name the subcontract it bills (POOrderNbr): in the same read, not one of its own.
            changed = {self.document(entity, row).ref: row for row in self.hook.records(
                entity, filter=changed_filter, select=select, expand="Details" if bills else None)}
            present = set(changed) if since is None else {
                self.document(entity, row).ref for row in self.hook.records(entity, select=",".join(KEYS[entity]))}
            if bills:
                self.bills_seen = BillsSeen([self.bill(ref, row) for ref, row in changed.items()], present)
            for link in linked:
                if link.erp_ref in changed:
                    changed_views.append((link, self.view(entity, link.erp_ref, changed[link.erp_ref])))
                elif link.erp_ref not in present:
                    changed_views.append((link, ErpView(link.erp_ref, present=False, condition="deleted")))
                else:
                    unchanged.append(link)
        return changed_views, unchanged

    def still_in_erp(self, link: Link) -> bool:
        """Deleted is gone; a change order that was reversed (``ReverseStatus``) is gone too."""
        entity = link.erp_key["entity"]
        current = self.hook.record(entity, *[str(link.erp_key[name]) for name in KEYS[entity]])
        if current is None:
            return False
        return not (entity == "ChangeOrder" and current.get("ReverseStatus") == "Reversed")

    def payments(self, bill_refs: set[str], since: datetime | None) -> PaymentChanges:
        """Checks and Payments with their applications; a void is a separate ``Voided Payment`` document
        with the same number, and the original's status turns Voided. A payment of a retainage bill (the bill
        Acumatica makes when a person releases retainage) pays the bill that held the retainage: it counts
        there, added to what the same payment paid of that bill."""
        changed = f"LastModifiedDateTime gt {odata_datetime(since)}" if since else None
        checks = list(self.hook.records("Check", filter=changed, expand="Details"))
        paid = [(document, line, f"{line.get('DocType') or 'Bill'}/{line.get('ReferenceNbr')}")
                for document in checks if document.get("Type") == "Payment" for line in document.get("Details") or []]
        held_on = self.retainage_bills({ref for _check, _line, ref in paid if ref not in bill_refs}, bill_refs)
        amounts: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        applications: dict[tuple[str, str], ErpPayment] = {}
        for document, line, ref in paid:
            bill_ref = ref if ref in bill_refs else held_on.get(ref)
            if bill_ref is None:
                continue
            key = (f"Payment/{document['ReferenceNbr']}", bill_ref)
            amounts[key] += Decimal(str(line.get("AmountPaid") or 0))
            applications[key] = ErpPayment(
                key=key[0], bill_ref=bill_ref, amount=amounts[key], date=_day(document.get("ApplicationDate")),
                method=payment_method(document.get("PaymentMethod")), check_number=document.get("PaymentRef"),
                voided=document.get("Status") == "Voided", modified_at=_moment(document.get("LastModifiedDateTime")))
        voided = {f"Payment/{document['ReferenceNbr']}": _day(document.get("ApplicationDate"))
                  for document in checks if document.get("Type") == "Voided Payment"}
        return PaymentChanges(list(applications.values()), voided)

    def retainage_bills(self, refs: set[str], bill_refs: set[str]) -> dict[str, str]:
        """Of the paid bills ERP Sync did not export, the retainage bills of bills it did, and those bills: one read
        of them with their lines ("Retainage for Bill 000123")."""
        numbers = sorted(ref.split("/", 1)[1] for ref in refs if ref.startswith("Bill/"))
        if not numbers:
            return {}
        held_on = {}
        for start in range(0, len(numbers), BILLS_PER_READ):
            condition = " or ".join(f"ReferenceNbr eq {odata_string(number)}"
                                    for number in numbers[start:start + BILLS_PER_READ])
            held_on |= self.retainage_bills_in(condition, bill_refs)
        return held_on

    def retainage_bills_in(self, condition: str, bill_refs: set[str]) -> dict[str, str]:
        held_on = {}
        for bill in self.hook.records("Bill", filter=condition, select="Type,ReferenceNbr", expand="Details"):
            for line in bill.get("Details") or []:
                match = RETAINAGE_BILL_LINE.match(str(line.get("TransactionDescription") or ""))
                if match and f"Bill/{match.group(1)}" in bill_refs:
                    held_on[f"Bill/{bill['ReferenceNbr']}"] = f"Bill/{match.group(1)}"
        return held_on

    def bill(self, ref: str, row: dict[str, Any]) -> ErpBill:
        """A bill with the subcontract its lines bill and the retainage it holds; a retainage bill (a release made
        in Acumatica) names the bill it releases from instead."""
        lines = row.get("Details") or []
        subcontract = next((line["POOrderNbr"] for line in lines if line.get("POOrderNbr")), None)
        released = next((match.group(1) for line in lines
                         if (match := RETAINAGE_BILL_LINE.match(str(line.get("TransactionDescription") or "")))), None)
        amount = _decimal(row.get("Amount"))
        return ErpBill(ref, subcontract, row.get("VendorRef"), amount, _decimal(row.get("Balance")),
                       _moment(row.get("LastModifiedDateTime")),
                       retainage=None if released else _retainage_held(row, amount),
                       releases=f"Bill/{released}" if released else None)

    def view(self, entity: str, ref: str, row: dict[str, Any]) -> ErpView:
        status = row.get("Status")
        amount = _decimal(row.get("Amount") or row.get("SubcontractTotal") or row.get("CommitmentsChangeTotal"))
        balance = _decimal(row.get("Balance"))
        if status == "Rejected":
            condition = "rejected"
        elif entity == "ChangeOrder" and row.get("ReverseStatus") == "Reversed":
            condition = "reversed"
        elif entity == "Bill":
            condition = condition_of_bill(amount, balance)
        else:
            condition = "open"
        modified = row.get("LastModifiedDateTime")
        return ErpView(ref, present=True, status=status, condition=condition, amount=amount, balance=balance,
                       retainage=_retainage_held(row, amount) if entity == "Bill" else None,
                       modified_at=datetime.fromisoformat(modified) if modified else None,
                       number=row.get("VendorRef") or row.get("ExternalRefNbr"))


def _day(value: str | None) -> str | None:
    return value[:10] if value else None


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def release_sentence(released: Decimal, erp: str) -> str:
    return (f"Procore released {released:.2f} of retainage this period. {erp} never releases retainage by itself "
            "and ERP Sync does not guess which bills to release it from: release it in Acumatica on the bills that "
            "hold it (Bills and Adjustments, Release Retainage).")


def _retainage_held(bill: dict[str, Any], amount: Decimal | None) -> Decimal | None:
    """A bill's retainage from its published fields (Default/24.200.001 has none of its own): its lines bill the
    gross and its ``Amount`` leaves the retainage out, so the retainage is the lines' total less the ``Amount``
    (ERP Sync's bills carry no tax). None where the read did not bring the lines. A release made in Acumatica is a
    retainage bill of its own; the bill that held the retainage keeps its lines and ``Amount``."""
    lines = bill.get("Details")
    if lines is None or amount is None:
        return None
    return sum((Decimal(str(line.get("Amount") or 0)) for line in lines), Decimal(0)) - amount


def _retainage_bill(row: dict[str, Any]) -> bool:
    return any(RETAINAGE_BILL_LINE.match(str(line.get("TransactionDescription") or "")) for line in row.get("Details") or [])


def _subcontract_percent(parent: Link | None) -> Decimal:
    """The retainage percent the commitment's subcontract lines were exported with (none: no retainage)."""
    percent = (parent.record.data.get("retainage_percent") if parent and parent.record else None)
    return Decimal(str(percent)) if percent not in (None, "") else Decimal(0)


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _active(state: Any) -> bool:
    """A Status of Active, an Active flag that is not false, or no such field at all."""
    return state is None or state is True or state == "Active"
