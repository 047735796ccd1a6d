"""The Procore paths and field names the sandbox serves and the connector reads a record's lines with are
those of Procore's REST reference, as ``sandbox/contracts/procore_rest_v1.json`` writes them down."""

from __future__ import annotations

import ast
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel

from erp_connectors.procore import ProcoreHook
from erp_sync.documents import procore as reading
from erp_sync.documents.procore import read_document
from erp_sync.sync.records import STREAM_BY_NAME, ProcoreRecord
from sandbox.procore import create_procore_app
from sandbox.procore_data import DEMO_COMPANY_ID, ProcoreState, Requisition
from sandbox.procore_lines import LINE_MODELS, CommitmentLineItem
from sandbox.common import RateWindow

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = json.loads((ROOT / "sandbox/contracts/procore_rest_v1.json").read_text())
RESOURCES = CONTRACT["resources"]
SERVED = {"work_order_contracts": "commitment_line_items", "purchase_order_contracts": "commitment_line_items",
          "commitment_change_orders": "commitment_change_order_line_items", "requisitions": "requisition_extended"}
PLACEHOLDER = re.compile(r"\{[^}]+\}")


def published_names() -> set[str]:
    names = set()
    for resource in RESOURCES.values():
        names |= set(resource["fields"]) | set(resource.get("query", []))
        for fields in resource.get("objects", {}).values():
            names |= set(fields)
    return names


def nested_fields(model: type[BaseModel]) -> dict[str, set[str]]:
    """A model's fields and, for each field holding a model, that model's fields."""
    found = {"": set(model.model_fields)}
    for name, spec in model.model_fields.items():
        inner = spec.annotation
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            found[name] = set(inner.model_fields)
            for deeper, fields in nested_fields(inner).items():
                if deeper:
                    found[f"{name}.{deeper}"] = fields
    return found


@pytest.mark.parametrize("table", sorted(LINE_MODELS))
def test_the_sandbox_serves_lines_with_published_names_only(table):
    resource = RESOURCES[SERVED[table]]
    objects = resource.get("objects", {})
    shape = nested_fields(LINE_MODELS[table])
    if table == "requisitions":  # the items sit in the requisition's ``items``
        assert set(shape[""]) <= set(objects["items"])
        assert shape["wbs_code"] <= set(objects["items.wbs_code"])
        return
    assert shape[""] <= set(resource["fields"]), table
    for name, fields in shape.items():
        if name:
            assert fields <= set(objects[name]), (table, name)


def test_the_sandbox_records_carry_the_published_header_fields():
    assert "retainage_percent" in RESOURCES["commitment_contract"]["fields"]
    summary = set(Requisition.model_fields["summary"].annotation.model_fields)
    assert summary <= set(RESOURCES["requisition_extended"]["objects"]["summary"])


def test_the_sandbox_serves_the_published_paths():
    app = create_procore_app(ProcoreState(), RateWindow(10, 1, 10, 1))
    served = {PLACEHOLDER.sub("{}", route.path.lstrip("/")) for route in app.routes if "GET" in getattr(route, "methods", ())}
    for resource in ("commitment_line_items", "commitment_change_order_line_items", "requisition_extended"):
        for path in RESOURCES[resource]["paths"]:
            assert PLACEHOLDER.sub("{}", path) in served, path


def test_the_connector_reads_only_published_paths_and_names():
    source = (ROOT / "src/erp_sync/documents/procore.py").read_text()
    tree = ast.parse(source)
    keys = {node.slice.value for node in ast.walk(tree)
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)}
    keys |= {node.args[0].value for node in ast.walk(tree)
             if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "get" and node.args
             and isinstance(node.args[0], ast.Constant)}
    keys |= {kw.arg for node in ast.walk(tree) if isinstance(node, ast.Call) for kw in node.keywords
             if kw.arg in ("project_id", "view")}
    unknown = {key for key in keys if isinstance(key, str)} - published_names()
    assert not unknown, f"the connector reads names Procore's reference does not publish: {sorted(unknown)}"
    paths = {PLACEHOLDER.sub("{}", path) for resource in RESOURCES.values() for path in resource["paths"]}
    read = {f"rest/v1.0/{reading.COMMITMENT_LINES}".replace("{stream}", stream) for stream in
            ("work_order_contracts", "purchase_order_contracts")}
    read |= {f"rest/v2.0/{reading.CHANGE_ORDER_LINES}", f"rest/v1.1/{reading.REQUISITION}"}
    assert {PLACEHOLDER.sub("{}", path) for path in read} <= paths


def test_the_connector_reads_a_record_with_its_lines_from_the_sandbox_in_one_call(sandbox):
    procore = ProcoreHook("procore_test", DEMO_COMPANY_ID)
    project = procore.projects()[0]["id"]
    contract = next(iter(procore.paginate("work_order_contracts", project_id=project)))
    record = ProcoreRecord(STREAM_BY_NAME["work_order_contracts"], contract)
    before = sandbox.calls("procore")
    commitment = read_document(procore, record, {})
    assert sandbox.calls("procore") - before == 1
    assert len(commitment.lines) >= 2 and commitment.amount == Decimal(contract["grand_total"])
    assert commitment.retainage_percent == Decimal(contract["retainage_percent"])
    assert all(line.coding.cost_code.code and line.coding.cost_type.code for line in commitment.lines)

    known = {line.procore_id: line for line in commitment.lines}
    for row in procore.paginate(f"projects/{project}/commitment_change_orders"):
        if row["contract_id"] == contract["id"]:
            change = read_document(procore, ProcoreRecord(STREAM_BY_NAME["commitment_change_orders"], row), known)
            assert change.amount == Decimal(row["grand_total"])
            assert all(known[line.changes_line].coding == line.coding for line in change.lines)
    invoices = [row for row in procore.paginate("requisitions", project_id=project)
                if row["commitment_id"] == contract["id"]]
    assert invoices
    for row in invoices:
        invoice = read_document(procore, ProcoreRecord(STREAM_BY_NAME["requisitions"], row), known)
        assert invoice.payment_due == Decimal(row["summary"]["current_payment_due"])
        assert invoice.net_retainage == Decimal(row["summary"]["total_retainage"])
        assert {line.changes_line for line in invoice.lines} <= set(known)


def test_a_line_edit_moves_the_record_so_the_sync_sees_it(sandbox):
    contract = next(row for row in sandbox.procore_rows("work_order_contracts") if row["status"] == "Approved")
    lines = sandbox.control("GET", f"procore/work_order_contracts/{contract['id']}/lines").json()
    lines[0]["amount"] = f"{Decimal(lines[0]['amount']) + 1000:.2f}"
    edited = sandbox.control("PUT", f"procore/work_order_contracts/{contract['id']}/lines", json=lines).json()
    assert edited["updated_at"] > contract["updated_at"] or edited["grand_total"] != contract["grand_total"]
    assert Decimal(edited["grand_total"]) == Decimal(contract["grand_total"]) + 1000
    assert CommitmentLineItem.model_validate(lines[0])
