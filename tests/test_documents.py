"""The typed document: how a Procore line becomes a DocumentLine (coding, amounts, retainage), how it is coded
through the links, and the line map kept in the store (SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from erp_sync.documents.coding import coded
from erp_sync.documents.line_map import LineMap, MappedLine
from erp_sync.documents.model import Document
from erp_sync.documents.procore import LineProblem, change_order_line, commitment_line, invoice_line
from erp_sync.models import Colour, ErpKind, ExportMode, Integration
from erp_sync.erps.base import ErpRefusal
from erp_sync.erps.sage100 import Sage100Adapter
from erp_sync.reference.model import ErpItem, ProcoreRef, ReferenceKind
from erp_sync.sync.links import LinkBook, LinkState
from erp_sync.sync.records import STREAM_BY_NAME, ProcoreRecord

PROJECT = {"id": 77, "name": "Harbor Point Tower"}
CONCRETE = {"id": 5002, "code": "03-300", "full_code": "03-300", "name": "Cast-in-Place Concrete"}
SUBCONTRACT = {"id": 6003, "code": "S", "name": "Subcontract", "base_type": "subcontract"}


def record(stream: str, **data) -> ProcoreRecord:
    base = {"id": 900, "project": PROJECT, "project_id": PROJECT["id"], "number": "SC-001", "status": "Approved",
            "updated_at": "2026-12-01T10:00:00Z", "grand_total": "0.00", "summary": {"current_payment_due": "0"}}
    return ProcoreRecord(STREAM_BY_NAME[stream], base | data)


def sov_line(line_id: int = 11, amount: str = "1000.00", position: int = 1) -> dict:
    return {"id": line_id, "position": position, "description": "Footings", "amount": amount, "quantity": 10.0,
            "unit_cost": 100.0, "uom": "cy", "cost_code": CONCRETE, "line_item_type": SUBCONTRACT,
            "wbs_code": {"id": 1, "flat_code": "03-300.S", "description": "Concrete.Subcontract"}}


class Links:
    """Every Procore item linked, but those named."""

    def __init__(self, *unlinked: str):
        self.unlinked = set(unlinked)

    def erp_item(self, ref):
        if ref.code in self.unlinked:
            return None
        return ErpItem(ref.kind, ref.code or ref.procore_id, ref.code, ref.name)

    def default_task(self, project):
        return None  # no project marks a task Default

    def named(self, ref):
        return ref


def test_a_commitment_line_carries_its_coding_and_amounts():
    line = commitment_line(record("work_order_contracts"), sov_line())
    assert (line.procore_id, line.amount, line.quantity, line.unit_cost, line.uom) == (
        "11", Decimal("1000.00"), Decimal("10.0"), Decimal("100.0"), "cy")
    assert (line.coding.cost_code.procore_id, line.coding.cost_code.code, line.coding.cost_type.code) == (
        "5002", "03-300", "S")
    assert line.coding.project.procore_id == "77" and line.budget_code == "03-300.S"
    assert line.label() == "line 1 (03-300.S Footings)" and line.mark == "[PL11]"


def test_a_cco_line_takes_the_coding_of_the_commitment_line_it_changes_or_of_its_budget_code():
    changed = commitment_line(record("work_order_contracts"), sov_line())
    known = {changed.procore_id: changed}
    cco = record("commitment_change_orders", contract_id=900)
    named = change_order_line(cco, {"id": 21, "position": 1, "amount": "250.00", "commitment_line_item_id": 11,
                                    "wbs_code": {"flat_code": "03-300.S"}}, known)
    by_code = change_order_line(cco, {"id": 22, "position": 2, "amount": "50.00",
                                      "wbs_code": {"flat_code": "03-300.S"}}, known)
    assert named.coding == by_code.coding == changed.coding
    assert named.changes_line == by_code.changes_line == "11"
    with pytest.raises(LineProblem, match="changes no line of the commitment") as problem:
        change_order_line(cco, {"id": 23, "position": 3, "amount": "5.00", "wbs_code": {"flat_code": "09-250.S"}},
                          known)
    assert problem.value.reason_code == "line_uncoded"


def test_an_invoice_line_counts_new_stored_materials_and_nets_retainage():
    billed = commitment_line(record("work_order_contracts"), sov_line())
    item = {"id": 31, "position": 1, "line_item_id": 11, "description_of_work": "Footings",
            "work_completed_this_period": "400.00", "total_completed_and_stored_to_date": "700.00",
            "total_completed_and_stored_to_date_from_previous": "200.00",
            "work_completed_retainage_retained_this_period": "40.00",
            "materials_stored_retainage_new_materials": "10.00",
            "work_completed_retainage_released_this_period": "15.00"}
    line = invoice_line(record("requisitions", commitment_id=900), item, {"11": billed})
    assert line.amount == Decimal("500.00")  # completed and stored to date, less the same before
    assert line.invoice.work_completed == Decimal("400.00") and line.invoice.materials_stored == Decimal("100.00")
    assert (line.retainage_held, line.retainage_released, line.net_retainage) == (
        Decimal("50.00"), Decimal("15.00"), Decimal("35.00"))
    document = Document(record("requisitions"), (line,))
    assert document.payment_due == Decimal("465.00") and not document.zero_total
    with pytest.raises(LineProblem, match="not in the ERP yet"):
        invoice_line(record("requisitions"), item, {})


def test_a_line_naming_unlinked_items_holds_the_document_back_with_the_sentence_and_the_line():
    document = Document(record("work_order_contracts"), (commitment_line(record("work_order_contracts"), sov_line()),))
    with pytest.raises(LineProblem) as problem:
        coded(document, Links("03-300"), "Acumatica Cloud ERP")
    assert problem.value.reason_code == "reference_unlinked"
    assert 'link cost code 03-300 "Cast-in-Place Concrete"' in problem.value.message
    assert "Waiting: line 1 (03-300.S Footings) of the commitment" in problem.value.message
    # QuickBooks needs no cost type: a line whose cost type is not linked goes without its class
    quickbooks = coded(document, Links("S"), "QuickBooks Online",
                       frozenset({ReferenceKind.PROJECT, ReferenceKind.COST_CODE}))
    assert quickbooks.lines[0].cost_type is None and quickbooks.lines[0].cost_code.erp_id == "03-300"


class SubJobLinks(Links):
    """Every Procore item linked, sub jobs to the ERP's tasks, extras or phases given."""

    def __init__(self, sub_jobs: dict[str, ErpItem]):
        super().__init__()
        self.sub_jobs = sub_jobs

    def erp_item(self, ref):
        return self.sub_jobs.get(ref.procore_id) if ref.kind is ReferenceKind.SUB_JOB else super().erp_item(ref)


def test_a_line_in_a_sub_job_goes_with_its_linked_task_and_waits_while_it_is_not_linked():
    in_podium = {**CONCRETE, "id": 9240110, "biller": "Podium", "biller_id": 924011, "biller_type": "SubJob"}
    in_tower = {**in_podium, "id": 9240120, "biller": "Tower", "biller_id": 924012}
    commitment = record("work_order_contracts")
    podium, tower = (commitment_line(commitment, {**sov_line(11), "cost_code": in_podium}),
                     commitment_line(commitment, {**sov_line(12, position=2), "cost_code": in_tower}))
    assert podium.coding.sub_job == ProcoreRef(ReferenceKind.SUB_JOB, "924011", "", "Podium", project_id=77)
    assert podium.coding.cost_code.scope == 924011  # the sub job's own cost code
    assert commitment_line(commitment, sov_line()).coding.sub_job is None
    phases = SubJobLinks({"924011": ErpItem.sub_job("2401", "1", "Podium"), "924012": ErpItem.sub_job("2401", "2", "Tower")})

    assert coded(Document(commitment, (podium,)), phases, "Acumatica Cloud ERP").lines[0].task.code == "1"
    with pytest.raises(LineProblem, match='link sub job "Podium"'):
        coded(Document(commitment, (podium,)), SubJobLinks({}), "Acumatica Cloud ERP")
    quickbooks = coded(Document(commitment, (podium,)), SubJobLinks({}), "QuickBooks Online",
                       frozenset({ReferenceKind.PROJECT, ReferenceKind.COST_CODE}))
    assert quickbooks.lines[0].task is None  # QuickBooks has no sub jobs: the line goes without

    both = coded(Document(commitment, (podium, tower)), phases, "Sage 100 Contractor")
    with pytest.raises(ErpRefusal, match="one phase per subcontract, and the lines of this commitment are in sub "
                                         "jobs 1, 2"):
        Sage100Adapter(None).import_records(both, "PC-CMT-900-L1", "10", None)


def test_the_line_map_is_written_whole_and_read_back_as_typed_lines(store):
    store.save_integration(Integration(name="map", procore_conn_id="procore_test", procore_company_id=1,
                                       erp_kind=ErpKind.ACUMATICA, erp_conn_id="acumatica_test",
                                       export_mode=ExportMode.DIRECT))
    integration = store.integrations()[0]
    link = LinkBook(store, integration["id"], "test").open(record("work_order_contracts"), LinkState.EXPORTING,
                                                           Colour.BLUE)
    first, second = (commitment_line(record("work_order_contracts"), sov_line(11)),
                     commitment_line(record("work_order_contracts"), sov_line(12, "250.50", 2)))
    line_map = LineMap(store)

    line_map.record(link.id, [MappedLine(first, "1"), MappedLine(second, "2")])
    line_map.record(link.id, [MappedLine(first, "1"), MappedLine(second, "2")])  # a retry writes the same
    assert line_map.of_link(link.id) == [MappedLine(first, "1"), MappedLine(second, "2")]

    line_map.record(link.id, [MappedLine(second, "2")])  # line 1 removed in Procore and in the ERP
    assert line_map.of_links([link.id, 999]) == {link.id: [MappedLine(second, "2")]}
    assert line_map.of_link(link.id)[0].line.amount == Decimal("250.50")
