"""The lines of the sandbox's Procore records, shaped as Procore's REST reference shapes them.

- a commitment's schedule of values: ``GET /rest/v1.0/{work_order|purchase_order}_contracts/{id}/line_items``
  (``amount`` as a string, ``quantity``, ``unit_cost``, ``uom``, ``cost_code``, ``line_item_type``, ``wbs_code``);
- a commitment change order's lines: ``GET /rest/v2.0/companies/{company_id}/projects/{project_id}/
  commitment_change_orders/{id}/line_items`` in ``data``, naming the commitment line they change in
  ``commitment_line_item_id``;
- a requisition's items: ``GET /rest/v1.1/requisitions/{id}?view=extended`` ``items``, with the period's
  work, stored materials and retainage per line.

The field names are written down in ``sandbox/contracts/procore_rest_v1.json`` and held by
``tests/test_procore_contract.py``. An edit of a line touches its record's ``updated_at`` (the
record's totals follow its lines), which is how the hourly sync sees it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel

CENT = Decimal("0.01")


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class CostCode(BaseModel):
    """A cost code; one of a sub job names it as its ``biller`` (Procore keeps a sub job's cost codes apart from
    the project's: ``cost_codes?project_id=&sub_job_id=``). The demo company's standard codes name none."""

    id: int
    code: str
    full_code: str
    name: str
    origin_id: str | None = None
    biller: str | None = None
    biller_id: int | None = None
    biller_type: Literal["Project", "SubJob"] | None = None


class SubJob(BaseModel):
    """``GET /rest/v1.0/sub_jobs?project_id=``: a project's sub jobs, ``code`` unique in the project."""

    id: int
    code: str
    name: str
    origin_id: str | None = None
    origin_data: str | None = None
    created_at: datetime
    updated_at: datetime


class LineItemType(BaseModel):
    id: int
    name: str
    code: str
    base_type: str
    origin_id: str | None = None


class WbsCode(BaseModel):
    id: int
    flat_code: str
    description: str


class Holder(BaseModel):
    id: int
    holder_type: str


# The company's standard cost codes and cost types (Procore's "line item types"), as an ERP-integrated
# company keeps them: created in the ERP and imported into Procore.
COST_CODES = [CostCode(id=5001 + n, code=code, full_code=code, name=name) for n, (code, name) in enumerate([
    ("01-100", "General Conditions"), ("03-300", "Cast-in-Place Concrete"), ("05-120", "Structural Steel"),
    ("09-250", "Gypsum Board"), ("15-400", "Plumbing Fixtures"), ("16-100", "Electrical Rough-in")])]
# A cost code the project team added in Procore that the ERP has not set up (the mess of docs/reference-data.md):
# Procore lists it for every project, no ERP sandbox holds it, and a record with a line on it waits, named by it.
CODE_THE_ERP_LACKS = CostCode(id=5001 + len(COST_CODES), code="02-410", full_code="02-410", name="Selective Demolition")
PROCORE_COST_CODES = [*COST_CODES, CODE_THE_ERP_LACKS]
COST_TYPES = [LineItemType(id=6001 + n, code=code, name=name, base_type=name.lower()) for n, (code, name) in enumerate([
    ("L", "Labor"), ("M", "Material"), ("S", "Subcontract"), ("E", "Equipment"), ("O", "Other")])]
SUBCONTRACT_TYPE = COST_TYPES[2]


SUB_JOB_IDS_START = 900_000  # away from the records' ids (which the README names) and the lines'


def sub_job_id(job: int, position: int) -> int:
    """The Procore id of the project's sub job at ``position`` (from 1): fixed, so records keep their ids."""
    return SUB_JOB_IDS_START + job * 10 + position


def sub_job_cost_codes(sub_job: SubJob) -> list[CostCode]:
    """The sub job's own copies of the standard cost codes, as Procore keeps a sub job's cost codes."""
    return [code.model_copy(update={"id": sub_job.id * 10 + n, "biller": sub_job.name, "biller_id": sub_job.id,
                                    "biller_type": "SubJob"}) for n, code in enumerate(COST_CODES)]


def wbs(cost_code: CostCode, cost_type: LineItemType, sub_job: str | None = None) -> WbsCode:
    """The budget code a line posts to: its sub job (if any), cost code and cost type."""
    prefix = f"{sub_job}." if sub_job else ""
    return WbsCode(id=cost_code.id * 10 + cost_type.id % 10,
                   flat_code=f"{prefix}{cost_code.full_code}.{cost_type.code}",
                   description=f"{cost_code.name}.{cost_type.name}")


class ScheduleOfValuesLine(BaseModel):
    """What a commitment's line and a change order's line both carry."""

    id: int
    position: int
    description: str
    amount: str
    quantity: float
    unit_cost: float
    uom: str
    extended_type: Literal["manual", "calculated"] = "calculated"


class CommitmentLineItem(ScheduleOfValuesLine):
    total_amount: str
    cost_code: CostCode
    line_item_type: LineItemType
    wbs_code: WbsCode
    holder: Holder
    created_at: datetime
    updated_at: datetime


class CommitmentChangeOrderLineItem(ScheduleOfValuesLine):
    wbs_code_id: int
    wbs_code: WbsCode
    commitment_line_item_id: int | None = None
    prime_line_item_id: int | None = None
    tax_code_id: int | None = None


class WbsSegmentItem(BaseModel):
    code: str
    name: str
    segment_type: str


class ItemWbsCode(WbsCode):
    segment_items: list[WbsSegmentItem]


class RequisitionItem(BaseModel):
    id: int
    item_type: Literal["contract_item", "contract_detail_item", "change_order_item", "whole_change_order_item"]
    line_item_id: int
    cost_code_id: int
    wbs_code: ItemWbsCode
    description_of_work: str
    position: int
    scheduled_value: str
    work_completed_from_previous_application: str = "0.00"
    work_completed_this_period: str
    materials_presently_stored: str = "0.00"
    materials_presently_stored_from_previous_progress: str = "0.00"
    total_completed_and_stored_to_date: str
    total_completed_and_stored_to_date_from_previous: str = "0.00"
    work_completed_retainage_retained_this_period: str
    work_completed_retainage_percent_this_period: str
    work_completed_retainage_released_this_period: str = "0.00"
    materials_stored_retainage_new_materials: str = "0.00"
    materials_stored_retainage_released_this_period: str = "0.00"
    materials_moved: str = "0.00"

    def gross(self) -> Decimal:
        return Decimal(self.total_completed_and_stored_to_date) - Decimal(self.total_completed_and_stored_to_date_from_previous)

    def retained(self) -> Decimal:
        return Decimal(self.work_completed_retainage_retained_this_period) + Decimal(
            self.materials_stored_retainage_new_materials)

    def released(self) -> Decimal:
        return Decimal(self.work_completed_retainage_released_this_period) + Decimal(
            self.materials_stored_retainage_released_this_period)


def item_wbs(line: CommitmentLineItem, sub_job: SubJob | None = None) -> ItemWbsCode:
    in_sub_job = [WbsSegmentItem(code=sub_job.code, name=sub_job.name, segment_type="sub_job")] if sub_job else []
    return ItemWbsCode(**line.wbs_code.model_dump(), segment_items=[
        *in_sub_job,
        WbsSegmentItem(code=line.cost_code.full_code, name=line.cost_code.name, segment_type="cost_code"),
        WbsSegmentItem(code=line.line_item_type.code, name=line.line_item_type.name, segment_type="line_item_type")])


def split(total: Decimal, parts: int) -> list[Decimal]:
    """``total`` in ``parts`` amounts that add up to it to the cent, the last taking the rounding."""
    share = cents(total / parts)
    return [share] * (parts - 1) + [total - share * (parts - 1)]


def commitment_lines(new_id, holder: Holder, total: Decimal, parts: int, first_code: int, at: datetime,
                     sub_job: SubJob | None = None, codes: list[CostCode] = COST_CODES) -> list[CommitmentLineItem]:
    """The schedule of values, each line on one of ``codes`` (the project's list) or, with ``sub_job``, on the
    sub job's copies of the standard codes."""
    codes = sub_job_cost_codes(sub_job) if sub_job else codes
    lines = []
    for position, amount in enumerate(split(total, parts), start=1):
        cost_code = codes[(first_code + position - 1) % len(codes)]
        quantity = Decimal(position * 10)
        lines.append(CommitmentLineItem(
            id=new_id(), position=position, description=f"{cost_code.name} scope", amount=f"{amount:.2f}",
            total_amount=f"{amount:.2f}", quantity=float(quantity), unit_cost=float(cents(amount / quantity)),
            uom="ls" if position == 1 else "ea", cost_code=cost_code, line_item_type=SUBCONTRACT_TYPE,
            wbs_code=wbs(cost_code, SUBCONTRACT_TYPE, sub_job.code if sub_job else None), holder=holder, created_at=at, updated_at=at))
    return lines


def change_order_line(line_id: int, position: int, changes: CommitmentLineItem, amount: Decimal) -> CommitmentChangeOrderLineItem:
    """A change to one line of the commitment, coded with that line's budget code."""
    return CommitmentChangeOrderLineItem(
        id=line_id, position=position, description=f"Change to {changes.description}", amount=f"{amount:.2f}",
        quantity=1.0, unit_cost=float(amount), uom="ls", wbs_code_id=changes.wbs_code.id, wbs_code=changes.wbs_code,
        commitment_line_item_id=changes.id)


def requisition_items(new_id, lines: list[CommitmentLineItem], share: Decimal, retainage_percent: Decimal,
                      sub_job: SubJob | None = None) -> list[RequisitionItem]:
    """The period's billing of each line: ``share`` of its value as work completed, retainage held at the
    commitment's percentage; ``sub_job`` is the one the commitment's lines are in."""
    items = []
    for line in lines:
        work = cents(Decimal(line.amount) * share)
        retained = cents(work * retainage_percent / 100)
        items.append(RequisitionItem(
            id=new_id(), item_type="contract_item", line_item_id=line.id, cost_code_id=line.cost_code.id,
            wbs_code=item_wbs(line, sub_job), description_of_work=line.description, position=line.position,
            scheduled_value=line.amount, work_completed_this_period=f"{work:.2f}",
            total_completed_and_stored_to_date=f"{work:.2f}",
            work_completed_retainage_retained_this_period=f"{retained:.2f}",
            work_completed_retainage_percent_this_period=f"{retainage_percent:.2f}"))
    return items


def current_payment_due(items: list[RequisitionItem]) -> Decimal:
    """What Procore's summary says is due: completed and stored this period, less retainage held, plus
    retainage released."""
    return sum((item.gross() - item.retained() + item.released() for item in items), Decimal(0))


def total_retainage(items: list[RequisitionItem]) -> Decimal:
    return sum((item.retained() - item.released() for item in items), Decimal(0))


LINE_MODELS: dict[str, type[BaseModel]] = {
    "work_order_contracts": CommitmentLineItem, "purchase_order_contracts": CommitmentLineItem,
    "commitment_change_orders": CommitmentChangeOrderLineItem, "requisitions": RequisitionItem}
