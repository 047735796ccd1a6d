"""A record's lines, read from Procore only when the record is to be exported: one call per record.

- commitments: ``{work_order|purchase_order}_contracts/{id}/line_items`` (the schedule of values) and the
  contract's ``retainage_percent`` (on the record already read);
- commitment change orders: v2.0 ``commitment_change_orders/{id}/line_items`` (v1.0 has no lines), each
  naming the commitment line it changes in ``commitment_line_item_id``, else coded by its budget code;
- subcontractor invoices: v1.1 ``requisitions/{id}?view=extended`` ``items``, each billing a commitment or
  change order line (``line_item_id``).

A CCO line or an invoice item takes the coding of the commitment line it changes or bills, from what the
export of the commitment (and its CCOs) recorded, so no cost code is read twice. The field names are
those of ``sandbox/contracts/procore_rest_v1.json`` (held by ``tests/test_procore_contract.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from erp_connectors.procore import API_V1_1, API_V2, ProcoreHook
from erp_sync.documents.model import Coding, Document, DocumentLine, InvoiceAmounts
from erp_sync.models import RecordType
from erp_sync.reference.model import SUB_JOB_BILLER, ProcoreRef, ReferenceKind
from erp_sync.sync.records import ProcoreRecord

COMMITMENT_LINES = "{stream}/{id}/line_items"
CHANGE_ORDER_LINES = "companies/{company_id}/projects/{project_id}/commitment_change_orders/{id}/line_items"
REQUISITION = "requisitions/{id}"
LINE_UNCODED = "line_uncoded"
# What a waiting CCO's or invoice's lines wait for before they can be checked (BLUE, under Ready to Export)
COMMITMENT_LINES_UNKNOWN = "commitment_lines_unknown"
LINE_NOT_ON_COMMITMENT = "line_not_on_commitment"


class LineProblem(Exception):
    """A line that cannot be exported as it is; the record turns RED with the sentence."""

    def __init__(self, reason_code: str, message: str, line: str | None = None):
        super().__init__(message)
        self.reason_code, self.message = reason_code, message
        self.document: Document | None = None  # the record as read, when the problem is its coding
        self.lines = [line] if line else []  # the lines that change or bill no known commitment line, as named
        self.coded_part: Document | None = None  # the record with the lines that could be coded, for the page


def read_document(procore: ProcoreHook, record: ProcoreRecord, known: Mapping[str, DocumentLine]) -> Document:
    """The record with its lines; ``known`` holds the exported lines of its commitment and the commitment's
    change orders, by Procore line id."""
    if record.record_type is RecordType.COMMITMENT:
        rows = procore.paginate(COMMITMENT_LINES.format(stream=record.stream.name, id=record.id),
                                project_id=record.project_id)
        percent = record.data.get("retainage_percent")
        return Document(record, tuple(commitment_line(record, row) for row in rows),
                        Decimal(str(percent)) if percent not in (None, "") else None)
    if record.record_type is RecordType.COMMITMENT_CHANGE_ORDER:
        path = CHANGE_ORDER_LINES.format(company_id=procore.company_id, project_id=record.project_id, id=record.id)
        return coded_through(record, procore.paginate(path, api=API_V2), change_order_line, known)
    requisition = procore.get(REQUISITION.format(id=record.id), api=API_V1_1, project_id=record.project_id,
                              view="extended")
    return coded_through(record, requisition.get("items") or [], invoice_line, known)


def coded_through(record: ProcoreRecord, rows: list[dict[str, Any]],
                  line_of: Callable[[ProcoreRecord, dict[str, Any], Mapping[str, DocumentLine]], DocumentLine],
                  known: Mapping[str, DocumentLine]) -> Document:
    """A CCO's or an invoice's lines coded through the commitment lines they change or bill. Every row is
    tried: the first line that changes or bills none is the problem, which names all such lines and keeps the
    others (the page shows them while the record waits for acceptance)."""
    lines, uncoded = [], []
    for row in rows:
        try:
            lines.append(line_of(record, row, known))
        except LineProblem as problem:
            uncoded.append(problem)
    if uncoded:
        first = uncoded[0]
        first.lines = [name for problem in uncoded for name in problem.lines]
        first.coded_part = Document(record, tuple(lines))
        raise first
    return Document(record, tuple(lines))


def project_ref(record: ProcoreRecord) -> ProcoreRef:
    """The record's project by its id and name; a record does not carry the project number, which the sentences
    take from the reference data read (``ConfirmedLinks.named``)."""
    return ProcoreRef(ReferenceKind.PROJECT, str(record.project_id), "",
                      record.project_name or f"project {record.project_id}")


def commitment_line(record: ProcoreRecord, row: dict[str, Any]) -> DocumentLine:
    """A schedule of values line; its cost code names the sub job it is in, if any, as its ``biller``."""
    cost_code, cost_type = row["cost_code"], row["line_item_type"]
    sub_job = sub_job_of(record, cost_code)
    coding = Coding(
        project=project_ref(record),
        cost_code=ProcoreRef(ReferenceKind.COST_CODE, str(cost_code["id"]), cost_code.get("full_code") or
                             cost_code["code"], cost_code["name"], record.project_id,
                             int(sub_job.procore_id) if sub_job else None),
        cost_type=ProcoreRef(ReferenceKind.COST_TYPE, str(cost_type["id"]), cost_type["code"], cost_type["name"]),
        sub_job=sub_job)
    return DocumentLine(
        procore_id=str(row["id"]), position=int(row.get("position") or 0), description=row.get("description") or "",
        coding=coding, amount=_money(row["amount"]), quantity=_number(row.get("quantity")),
        unit_cost=_number(row.get("unit_cost")), uom=row.get("uom"),
        budget_code=(row.get("wbs_code") or {}).get("flat_code"))


def sub_job_of(record: ProcoreRecord, cost_code: dict[str, Any]) -> ProcoreRef | None:
    """The sub job a line's cost code belongs to (its ``biller``), named by its id and name: the sentences take its
    code from the reference data read."""
    if cost_code.get("biller_type") != SUB_JOB_BILLER or not cost_code.get("biller_id"):
        return None
    return ProcoreRef(ReferenceKind.SUB_JOB, str(cost_code["biller_id"]), "", cost_code.get("biller") or "",
                      record.project_id)


def change_order_line(record: ProcoreRecord, row: dict[str, Any], known: Mapping[str, DocumentLine]) -> DocumentLine:
    """Coded as the commitment line it changes; a line that names none takes the coding of the commitment
    line with its budget code."""
    budget_code = (row.get("wbs_code") or {}).get("flat_code")
    changed_id = row.get("commitment_line_item_id")
    changed = known.get(str(changed_id)) if changed_id else next(
        (line for line in known.values() if budget_code and line.budget_code == budget_code and not line.changes_line),
        None)
    position = int(row.get("position") or 0)
    if changed is None:
        named = f"line {position} ({row.get('description') or budget_code}, budget code {budget_code})"
        raise LineProblem(LINE_UNCODED, (
            f"Line {position} of the CCO ({row.get('description') or budget_code}) changes no line of the commitment "
            f"as it was exported (budget code {budget_code}). Add the line to the commitment's schedule of values in "
            "Procore, or name the commitment line it changes; the next hourly sync exports the CCO."), named)
    return DocumentLine(
        procore_id=str(row["id"]), position=position, description=row.get("description") or "",
        coding=changed.coding, amount=_money(row["amount"]), quantity=_number(row.get("quantity")),
        unit_cost=_number(row.get("unit_cost")), uom=row.get("uom"), changes_line=changed.procore_id,
        budget_code=budget_code)


def invoice_line(record: ProcoreRecord, item: dict[str, Any], known: Mapping[str, DocumentLine]) -> DocumentLine:
    """Gross this period = completed and stored to date less the same before (Procore's own connectors'
    subtotal), so newly stored materials count; retainage held and released, on work and on materials."""
    billed = known.get(str(item["line_item_id"]))
    position = int(item.get("position") or 0)
    if billed is None:
        raise LineProblem(LINE_UNCODED, (
            f"Line {position} of the subcontractor invoice ({item.get('description_of_work')}) bills a line of the commitment "
            "or of a change order that is not in the ERP yet. It is exported once the commitment and its CCOs are."),
            f"line {position} ({item.get('description_of_work')})")
    gross = _money(item["total_completed_and_stored_to_date"]) - _money(
        item.get("total_completed_and_stored_to_date_from_previous"))
    work = _money(item["work_completed_this_period"])
    amounts = InvoiceAmounts(
        work_completed=work, materials_stored=gross - work,
        retainage_held=_money(item.get("work_completed_retainage_retained_this_period")) + _money(
            item.get("materials_stored_retainage_new_materials")),
        retainage_released=_money(item.get("work_completed_retainage_released_this_period")) + _money(
            item.get("materials_stored_retainage_released_this_period")))
    return DocumentLine(
        procore_id=str(item["id"]), position=position, description=item.get("description_of_work") or "",
        coding=billed.coding, amount=gross, changes_line=billed.changes_line or billed.procore_id, invoice=amounts,
        budget_code=billed.budget_code)


def _money(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def _number(value: Any) -> Decimal | None:
    return Decimal(str(value)) if value not in (None, "") else None
