"""Documents exported line by line to each ERP: one ERP line per Procore line, job-costed; updates change the
matching line through the line map; removed lines; invoices with retainage held and released; zero and
negative invoices; payments of bills that hold retainage; retries after a crash. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import date
from decimal import Decimal

import pytest

from erp_connectors.acumatica import AcumaticaHook
from erp_connectors.sage300 import ImportLayout
from erp_sync.acceptance import daily_summary
from erp_sync.documents.line_map import LineMap
from erp_sync.documents.page import exported_with_lines
from erp_sync.erps.sage100 import COST_TYPES as SAGE100_COST_TYPES
from erp_sync.jobs.hourly_sync import SyncIncomplete, export_integration, refresh_integration
from erp_sync.jobs.payment_import import import_payments
from erp_sync.models import ErpKind, ExportMode, Integration
from erp_sync.reference.links import link, unlink
from erp_sync.reference.model import ErpItem, ProcoreRef, ReferenceKind
from erp_sync.store import Store
from sandbox.acumatica_data import DEFAULT_TASK, OWN_DEFAULT_TASKS
from sandbox.common import DEMO_SUB_JOBS, ERP_SPELLING
from sandbox.procore_data import DEMO_COMPANY_ID, SECOND_COMPANY_ID
from sandbox.procore_lines import COST_CODES
from sandbox.sage_office import LAYOUT
from seed_links import EXPENSE_ACCOUNT, job_number, link_sandbox_references
from tests.test_runs import store_url
from tests.test_sage import add_sage_integrations, sync_until_settled

CLOUD = {ErpKind.ACUMATICA: ("acumatica_test", DEMO_COMPANY_ID, "acumatica"),
         ErpKind.QUICKBOOKS_ONLINE: ("quickbooks_test", SECOND_COMPANY_ID, "quickbooks")}
COMMITMENT_TABLES = ("work_order_contracts", "purchase_order_contracts")
SAGE100_COST_TYPE_OF = {name: number for number, name in SAGE100_COST_TYPES.items()}


def add_integration(store: Store, sandbox, kind: ErpKind) -> dict:
    """The integration, with its reference data linked as an accountant would (vendors and job costing)."""
    conn_id, company, _vendor = CLOUD[kind]
    store.save_integration(Integration(name=f"lines-{kind.value}", procore_conn_id="procore_test",
                                       procore_company_id=company, erp_kind=kind, erp_conn_id=conn_id,
                                       export_mode=ExportMode.DIRECT))
    integration = next(row for row in store.integrations() if row["erp_kind"] == kind.value)
    link_sandbox_references(store, sandbox, {integration["name"]})
    return integration


@pytest.fixture(params=list(CLOUD), ids=lambda kind: kind.value)
def cloud(request, sandbox, store):
    return request.param, add_integration(store, sandbox, request.param), CLOUD[request.param][2]


def links(store: Store, integration: dict, record_type: str | None = None) -> list[dict]:
    return [row for row in store.rows("active_links", integration_id=integration["id"])
            if record_type in (None, row["record_type"])]


def table_of(link: dict) -> str:
    return json.loads(link["procore_json"])["stream"]


def job_of(sandbox, link: dict) -> str:
    """The ERP job the record's project is linked to (tests/seed_links.py)."""
    return job_number(sandbox.sandboxes.procore.projects[link["procore_project_id"]].project_number)


def erp_document(sandbox, vendor: str, link: dict) -> dict:
    key = json.loads(link["erp_key_json"])
    if vendor == "acumatica":
        field = {"Subcontract": "SubcontractNbr", "ChangeOrder": "RefNbr", "Bill": "ReferenceNbr"}[key["entity"]]
        return next(row for row in sandbox.erp_rows("acumatica", key["entity"])
                    if row[field]["value"] == key[field] and row.get("Type", {}).get("value") in (None, "Bill"))
    return next(row for row in sandbox.erp_rows("quickbooks", key["entity"]) if row["Id"] == key["Id"])


def erp_lines(sandbox, vendor: str, link: dict) -> list[dict]:
    document = erp_document(sandbox, vendor, link)
    if vendor == "acumatica":
        return document["Commitments" if "RefNbr" in document else "Details"]
    return document["Line"]


def qbo_name(sandbox, entity: str, object_id: str) -> str:
    """The Name (an item's cost code) or DisplayName (a project customer's job number) of a QuickBooks object."""
    found = next(row for row in sandbox.erp_rows("quickbooks", entity) if row["Id"] == object_id)
    return found.get("Name") or found["DisplayName"]


def sub_job_of(sandbox, line: dict) -> str:
    """The ERP's task, extra or phase of the sub job a Procore line is in (its cost code's biller); blank if none."""
    sub_job = sandbox.sandboxes.procore.sub_job(line["cost_code"].get("biller_id"))
    if sub_job is None:
        return ""
    job = next(int(p.project_number) for pid, jobs in sandbox.sandboxes.procore.sub_jobs.items() if sub_job in jobs
               for p in [sandbox.sandboxes.procore.projects[pid]])
    return next(demo.erp_code for demo in DEMO_SUB_JOBS[job] if demo.procore_code == sub_job.code)


def default_task_of(job: str) -> str:
    """The task an Acumatica sandbox project marks Default."""
    return OWN_DEFAULT_TASKS.get(int(job), DEFAULT_TASK)[0]


def value(line: dict, name: str):
    field = line.get(name)
    return field["value"] if isinstance(field, dict) and "value" in field else field


def erp_code(line: dict) -> str:
    """The ERP's spelling of a Procore line's cost code (the ERP writes 01.100 where Procore writes 01-100)."""
    return ERP_SPELLING.get(line["cost_code"]["full_code"], line["cost_code"]["full_code"])


def test_each_procore_line_becomes_one_job_costed_erp_line(sandbox, store, cloud):
    kind, integration, vendor = cloud
    export_integration(store, integration, "run-1")

    commitments = links(store, integration, "commitment")
    assert commitments and all(link["colour"] == "GREEN" for link in links(store, integration))
    mapped = LineMap(store).of_links(link["id"] for link in links(store, integration))
    tasks = set()
    for link in commitments:
        procore = sandbox.procore_lines(table_of(link), link["procore_id"])
        lines = [line for line in erp_lines(sandbox, vendor, link)  # a purchase order also holds its CCOs' lines
                 if "PC-CCO-" not in (value(line, "Description") or "")]
        assert len(lines) == len(procore) >= 2 and len(mapped[link["id"]]) == len(procore)
        for erp_line, line in zip(lines, procore, strict=True):
            assert f"[PL{line['id']}]" in (value(erp_line, "LineDescription") or value(erp_line, "Description"))
            if vendor == "acumatica":  # the linked task of the line's sub job, else the task its project marks Default
                task = sub_job_of(sandbox, line) or default_task_of(job_of(sandbox, link))
                tasks.add(task)
                assert (value(erp_line, "Project"), value(erp_line, "Task"), value(erp_line, "CostCode"),
                        value(erp_line, "Account")) == (job_of(sandbox, link), task, erp_code(line), EXPENSE_ACCOUNT)
                assert Decimal(str(value(erp_line, "ExtendedCost"))) == Decimal(line["amount"])
            else:
                detail = erp_line["ItemBasedExpenseLineDetail"]
                assert qbo_name(sandbox, "Item", detail["ItemRef"]["value"]) == erp_code(line)
                assert qbo_name(sandbox, "Customer", detail["CustomerRef"]["value"]) == job_of(sandbox, link)
                assert detail["ClassRef"]["value"] == line["line_item_type"]["code"]
        if vendor == "acumatica":
            subcontract = erp_document(sandbox, vendor, link)
            contract = next(r for r in sandbox.procore_rows(table_of(link)) if r["id"] == link["procore_id"])
            assert value(subcontract, "RetainagePct") == float(contract["retainage_percent"])
            assert value(subcontract, "ApplyRetainage") is (float(contract["retainage_percent"]) > 0)
    if vendor == "acumatica":
        assert tasks == {"0000", "GENERAL", "01", "02"}  # lines in sub jobs 01 and 02, and in none: 2402's own Default


def test_a_cco_changes_the_commitment_lines_it_names(sandbox, store, cloud):
    kind, integration, vendor = cloud
    export_integration(store, integration, "run-1")
    line_map = LineMap(store)
    for cco in links(store, integration, "commitment_change_order"):
        procore = sandbox.procore_lines("commitment_change_orders", cco["procore_id"])
        commitment_id = json.loads(cco["procore_json"])["data"]["contract_id"]
        commitment = next(link for link in links(store, integration, "commitment") if link["procore_id"] == commitment_id)
        erp_line_of = {m.line.procore_id: m.erp_line for m in line_map.of_link(commitment["id"])}
        if vendor == "acumatica":
            order = erp_document(sandbox, vendor, cco)
            assert value(order, "ProjectID") == job_of(sandbox, cco)
            assert [(value(line, "PONbr"), str(value(line, "POLineNbr"))) for line in order["Commitments"]] == [
                (commitment["erp_ref"], erp_line_of[str(line["commitment_line_item_id"])]) for line in procore]
        else:  # the CCO's lines are on its commitment's purchase order, each with its mark and the CCO's
            order = erp_document(sandbox, vendor, commitment)
            marked = [line for line in order["Line"] if f"PC-CCO-{cco['procore_id']}-" in line["Description"]]
            assert [Decimal(str(line["Amount"])) for line in marked] == [Decimal(line["amount"]) for line in procore]


def test_invoice_lines_carry_retainage_as_each_erp_takes_it(sandbox, store, cloud):
    kind, integration, vendor = cloud
    export_integration(store, integration, "run-1")
    for link in links(store, integration, "subcontractor_invoice"):
        invoice = next(r for r in sandbox.procore_rows("requisitions") if r["id"] == link["procore_id"])
        items = sandbox.procore_lines("requisitions", link["procore_id"])
        held = Decimal(invoice["summary"]["total_retainage"])
        bill = erp_document(sandbox, vendor, link)
        if vendor == "acumatica":  # the bill bills the subcontract lines, which carry the retainage
            gross = sum(Decimal(item["work_completed_this_period"]) for item in items)
            assert sum(Decimal(str(value(line, "Amount"))) for line in bill["Details"]) == gross
            # Amount and Balance leave out the retainage held: the bill's balance is Procore's current payment due
            assert Decimal(str(value(bill, "Amount"))) == gross - held == Decimal(invoice["summary"]["current_payment_due"])
            assert Decimal(str(value(bill, "Balance"))) == gross - held
            assert all(value(line, "POOrderNbr") and value(line, "POLine") for line in bill["Details"])
            assert not sandbox.control("GET", "acumatica/ignored-fields").json()  # nothing outside the contract
        else:  # QuickBooks: one negative line to the retainage item; the bill totals the payment due
            retainage = [line for line in bill["Line"] if "[PL-RETAINAGE]" in line["Description"]]
            assert Decimal(str(bill["TotalAmt"])) == Decimal(invoice["summary"]["current_payment_due"])
            if held:
                assert [Decimal(str(line["Amount"])) for line in retainage] == [-held]
                assert retainage[0]["ItemBasedExpenseLineDetail"]["ItemRef"]["value"] == \
                    sandbox.sandboxes.quickbooks.retainage_item_id
            assert len(bill["Line"]) == len(items) + len(retainage)


def assert_shown_with_lines(store: Store, integration: dict, sandbox) -> None:
    """What the demo prints of an integration: a multi-line invoice holding retainage, each line's coding, amount
    and retainage, the URL of its lines, and the demo seeds' documents counted."""
    text = exported_with_lines(store, integration, "http://localhost:8080")
    shown = next(link for link in links(store, integration, "subcontractor_invoice") if link["erp_ref"] in text)
    items = sandbox.procore_lines("requisitions", shown["procore_id"])
    erp = ErpKind(integration["erp_kind"]).display_name
    assert text.startswith(f"{integration['name']}: subcontractor invoice {shown['procore_number']} is "
                           f"{erp} {shown['erp_ref']}, {len(items)} lines (")
    for item in items:
        segments = {segment["segment_type"]: segment["code"] for segment in item["wbs_code"]["segment_items"]}
        code, cost_type = segments["cost_code"], segments["line_item_type"]
        retainage = Decimal(item["work_completed_retainage_retained_this_period"])
        assert (f"cost code {code}, cost type {cost_type}, {Decimal(item['work_completed_this_period']):,.2f}, "
                f"retainage {retainage:,.2f}") in text
    counts = re.search(r"(\d+) multi-line commitment\(s\), (\d+) CCO\(s\) changing commitment lines, "
                       r"(\d+) invoice\(s\) holding retainage", text)
    assert counts and all(int(count) >= 1 for count in counts.groups())
    assert text.endswith(f"Lines: http://localhost:8080/erp-sync/integrations/{integration['name']}/"
                         f"subcontractor_invoice/{shown['procore_id']}/lines")


def test_the_demo_names_a_multi_line_document_per_erp_with_its_coding_and_the_url_of_its_lines(sandbox, store, cloud):
    kind, integration, vendor = cloud
    assert exported_with_lines(store, integration, "http://localhost:8080").endswith(
        "nothing exported with lines yet (0 multi-line commitment(s), 0 CCO(s) changing commitment lines, "
        "0 invoice(s) holding retainage)")
    export_integration(store, integration, "run-1")
    assert_shown_with_lines(store, integration, sandbox)


def edit_lines(sandbox, link: dict, edit) -> list[dict]:
    table = table_of(link)
    lines = sandbox.procore_lines(table, link["procore_id"])
    edited = edit(lines)
    sandbox.control("PUT", f"procore/{table}/{link['procore_id']}/lines", json=edited)
    return edited


def test_an_sov_edit_changes_the_matching_erp_lines_adds_a_new_one_once_and_removes_a_removed_one(
        sandbox, store, cloud):
    kind, integration, vendor = cloud
    export_integration(store, integration, "run-1")
    link = next(link for link in links(store, integration, "commitment") if link["erp_ref"] not in {
        json.loads(cco["erp_key_json"]).get("Id") for cco in links(store, integration, "commitment_change_order")})
    before = erp_lines(sandbox, vendor, link)

    removed = sandbox.procore_lines(table_of(link), link["procore_id"])[-1]["id"]

    def edit(lines: list[dict]) -> list[dict]:
        lines[0]["amount"] = f"{Decimal(lines[0]['amount']) + 500:.2f}"
        added = {**lines[-1], "id": 990001, "position": len(lines) + 1, "description": "Added scope"}
        return [*lines[:-1], added]  # the last line removed, a new one added
    edited = edit_lines(sandbox, link, edit)

    counts = export_integration(store, integration, "run-2")["counts"]
    again = export_integration(store, integration, "run-3")["counts"]

    after = erp_lines(sandbox, vendor, link)
    identity = "id" if vendor == "acumatica" else "Id"
    assert counts["updated_commitment"] == 1 and "updated_commitment" not in again
    assert len(after) == len(before)
    assert after[0][identity] == before[0][identity]  # changed in place
    amounts = [Decimal(str(value(line, "ExtendedCost") if vendor == "acumatica" else line["Amount"])) for line in after]
    assert amounts == [Decimal(line["amount"]) for line in edited]
    descriptions = [value(line, "LineDescription") or value(line, "Description") for line in after]
    assert not [text for text in descriptions if f"[PL{removed}]" in text]  # removed
    assert sum("[PL990001]" in text for text in descriptions) == 1
    assert {m.line.procore_id for m in LineMap(store).of_link(link["id"])} == {str(line["id"]) for line in edited}
    assert next(row for row in links(store, integration) if row["id"] == link["id"])["colour"] == "GREEN"


def test_a_cost_code_not_linked_holds_the_record_back_naming_its_lines_until_it_is_linked(sandbox, store):
    integration = add_integration(store, sandbox, ErpKind.ACUMATICA)
    coatings = {"id": 5999, "code": "09-900", "full_code": "09-900", "name": "Special Coatings"}  # not in the ERP
    table, contract = next((table, row) for table in COMMITMENT_TABLES for row in sandbox.procore_rows(table)
                           if row["status"] == "Approved" and row["project"]["id"] in projects_of(sandbox, DEMO_COMPANY_ID))
    lines = sandbox.procore_lines(table, contract["id"])
    lines[-1]["cost_code"] = coatings
    sandbox.control("PUT", f"procore/{table}/{contract['id']}/lines", json=lines)

    export_integration(store, integration, "run-1")

    waiting = next(row for row in links(store, integration) if row["procore_id"] == contract["id"])
    assert (waiting["colour"], waiting["reason_code"], waiting["erp_ref"]) == ("BLUE", "reference_unlinked", None)
    assert 'link cost code 09-900 "Special Coatings"' in waiting["message"]
    assert f"Waiting: line {len(lines)} (09-900.S " in waiting["message"]
    assert LineMap(store).of_link(waiting["id"])  # the lines read are kept for the page
    quiet = export_integration(store, integration, "run-2")["counts"]
    assert quiet.get("procore_line_reads", 0) == 0  # nothing changed: no line is read again

    link(store, integration, ProcoreRef(ReferenceKind.COST_CODE, "5999", "09-900", "Special Coatings"),
         ErpItem(ReferenceKind.COST_CODE, "099000", "099000", "Coatings"), by="the accountant")
    counts = export_integration(store, integration, "run-3")["counts"]
    assert counts["procore_line_reads"] >= 1 and counts["created_commitment"] == 1
    row = next(row for row in links(store, integration) if row["id"] == waiting["id"])
    assert row["colour"] == "GREEN" and value(erp_lines(sandbox, "acumatica", row)[-1], "CostCode") == "099000"


def mark_default(job: str, default: bool) -> None:
    """A person ticks (or unticks) Default on project ``job``'s task 0000 in Acumatica."""
    hook = AcumaticaHook("acumatica_test")
    try:
        hook.put("ProjectTask", {"ProjectID": job, "ProjectTaskID": DEFAULT_TASK[0], "Default": default}, creates=False)
    finally:
        hook.close()


def with_default_task(sandbox, monkeypatch, task: str) -> None:
    """The Acumatica connection names a ``default_task`` (its extra)."""
    connection = sandbox.connections()["acumatica_test"]
    connection["extra"] = {**connection["extra"], "default_task": task}
    monkeypatch.setenv("AIRFLOW_CONN_ACUMATICA_TEST", json.dumps(connection))


def tasks_of_lines_in_no_sub_job(sandbox, store: Store, integration: dict) -> dict[str, set[str]]:
    """Per ERP job, the tasks Acumatica's subcontract lines carry for the Procore lines in no sub job."""
    tasks: dict[str, set[str]] = {}
    for link in links(store, integration, "commitment"):
        if link["colour"] != "GREEN":
            continue
        procore = sandbox.procore_lines(table_of(link), link["procore_id"])
        for erp_line, line in zip(erp_lines(sandbox, "acumatica", link), procore, strict=True):
            if not sub_job_of(sandbox, line):
                tasks.setdefault(value(erp_line, "Project"), set()).add(value(erp_line, "Task"))
    return tasks


def test_an_acumatica_line_in_no_sub_job_goes_to_the_task_its_project_marks_default_else_the_connections(
        sandbox, store, monkeypatch):
    mark_default("2403", False)
    with_default_task(sandbox, monkeypatch, "0000")
    integration = add_integration(store, sandbox, ErpKind.ACUMATICA)

    export_integration(store, integration, "run-1")

    assert all(link["colour"] == "GREEN" for link in links(store, integration))
    # 2402 marks its own GENERAL Default (not the connection's 0000); 2403 marks none: the connection's (2401's
    # commitments are all in its sub jobs)
    assert tasks_of_lines_in_no_sub_job(sandbox, store, integration) == {"2402": {"GENERAL"}, "2403": {"0000"}}


def test_an_acumatica_line_with_no_task_to_go_to_waits_saying_what_to_do_in_acumatica_then_goes(sandbox, store):
    from erp_sync.reference.reading import refresh

    mark_default("2403", False)
    integration = add_integration(store, sandbox, ErpKind.ACUMATICA)  # its connection names no default_task
    project = next(p for p in sandbox.sandboxes.procore.projects.values() if p.project_number == "2403")
    no_task = (r"Not exported yet: Acumatica Cloud ERP takes a project task on every line, and line \d+ \(.+\) of the "
               rf'commitment is in no sub job, but project "{project.name}" \(project 2403 in Acumatica Cloud ERP\) has '
               r"no task marked Default and the connection names no default task\. Mark a task of project 2403 as "
               r"Default in Acumatica Cloud ERP \(Projects, Tasks tab\), or set default_task on the connection\.")

    # Ready to Export says so before anyone accepts what cannot go
    export_integration(store, in_mode(store, integration, ExportMode.ACCEPTANCE), "run-0")
    ready = [link for link in links(store, integration, "commitment") if link["procore_project_id"] == project.id]
    assert ready and all((link["state"], link["reason_code"]) == ("ready", "reference_unlinked") for link in ready)
    assert all(re.fullmatch(no_task, link["message"]) for link in ready)

    integration = in_mode(store, integration, ExportMode.DIRECT)
    export_integration(store, integration, "run-1")

    held = [link for link in links(store, integration, "commitment") if link["procore_project_id"] == project.id]
    assert held and all((link["colour"], link["reason_code"], link["erp_ref"]) == ("BLUE", "reference_unlinked", None)
                        for link in held)
    assert all(link["state"] != "exporting" for link in held)  # refused before anything was sent
    assert all(re.fullmatch(no_task, link["message"]) for link in held)
    assert not any(value(line, "Project") == "2403" for subcontract in sandbox.erp_rows("acumatica", "Subcontract")
                   for line in subcontract["Details"])  # nothing went with a guessed task

    mark_default("2403", True)  # as the sentence says, in Acumatica
    refresh(store, integration, by="nightly")
    export_integration(store, integration, "run-2")

    assert all(link["colour"] == "GREEN" for link in links(store, integration, "commitment")
               if link["procore_project_id"] == project.id)
    assert tasks_of_lines_in_no_sub_job(sandbox, store, integration)["2403"] == {"0000"}


def in_mode(store: Store, integration: dict, mode: ExportMode) -> dict:
    store.set_export_mode(integration["name"], mode, actor="test")
    return next(row for row in store.integrations() if row["name"] == integration["name"])


def projects_of(sandbox, company: int) -> set[int]:
    return {pid for pid, p in sandbox.sandboxes.procore.projects.items() if p.company.id == company}


def zero_items(items: list[dict]) -> list[dict]:
    for item in items:
        for field in ("work_completed_this_period", "total_completed_and_stored_to_date",
                      "work_completed_retainage_retained_this_period"):
            item[field] = "0.00"
    return items


def approved_invoices(sandbox, company: int) -> list[dict]:
    projects = {pid for pid, p in sandbox.sandboxes.procore.projects.items() if p.company.id == company}
    return [row for row in sandbox.procore_rows("requisitions")
            if row["project_id"] in projects and row["status"] in ("approved", "approved_as_noted")]


def test_a_zero_total_invoice_is_not_sent_and_a_negative_one_is_red_in_quickbooks(sandbox, store):
    integration = add_integration(store, sandbox, ErpKind.QUICKBOOKS_ONLINE)
    zero, negative = approved_invoices(sandbox, SECOND_COMPANY_ID)[:2]
    sandbox.control("PUT", f"procore/requisitions/{zero['id']}/lines",
                    json=zero_items(sandbox.procore_lines("requisitions", zero["id"])))
    items = zero_items(sandbox.procore_lines("requisitions", negative["id"]))
    items[0] |= {"work_completed_this_period": "-250.00", "total_completed_and_stored_to_date": "-250.00"}
    sandbox.control("PUT", f"procore/requisitions/{negative['id']}/lines", json=items)

    counts = export_integration(store, integration, "run-1")["counts"]

    by_id = {link["procore_id"]: link for link in links(store, integration)}
    assert zero["id"] not in by_id and counts["not_sent_zero_total"] == 1
    assert by_id[negative["id"]]["colour"] == "RED" and by_id[negative["id"]]["reason_code"] == "negative_invoice"
    assert "negative (-250.00)" in by_id[negative["id"]]["message"]


def release(sandbox, requisition_id: int, share: str = "1") -> Decimal:
    """The next period: no new work, and the retainage held so far released."""
    items = sandbox.procore_lines("requisitions", requisition_id)
    released = Decimal(0)
    for item in items:
        held = Decimal(item["work_completed_retainage_retained_this_period"]) * Decimal(share)
        item |= {"work_completed_this_period": "0.00", "total_completed_and_stored_to_date": "0.00",
                 "work_completed_retainage_retained_this_period": "0.00",
                 "work_completed_retainage_released_this_period": f"{held:.2f}"}
        released += held
    sandbox.control("PUT", f"procore/requisitions/{requisition_id}/lines", json=items)
    return released


def test_released_retainage_is_paid_in_quickbooks_and_left_to_a_person_in_acumatica(sandbox, store):
    quickbooks = add_integration(store, sandbox, ErpKind.QUICKBOOKS_ONLINE)
    acumatica = add_integration(store, sandbox, ErpKind.ACUMATICA)
    released_qbo = release(sandbox, approved_invoices(sandbox, SECOND_COMPANY_ID)[0]["id"])
    acumatica_invoice = approved_invoices(sandbox, DEMO_COMPANY_ID)[0]
    released_acumatica = release(sandbox, acumatica_invoice["id"], "0.5")
    items = sandbox.procore_lines("requisitions", acumatica_invoice["id"])
    items[0] |= {"work_completed_this_period": "100.00", "total_completed_and_stored_to_date": "100.00",
                 "work_completed_retainage_retained_this_period": "10.00"}  # the commitment's 10%
    sandbox.control("PUT", f"procore/requisitions/{acumatica_invoice['id']}/lines", json=items)

    export_integration(store, quickbooks, "run-1")
    export_integration(store, acumatica, "run-1")

    qbo_link = next(link for link in links(store, quickbooks, "subcontractor_invoice")
                    if link["procore_id"] == approved_invoices(sandbox, SECOND_COMPANY_ID)[0]["id"])
    bill = erp_document(sandbox, "quickbooks", qbo_link)
    assert Decimal(str(bill["TotalAmt"])) == released_qbo  # the release is a positive retainage line
    acumatica_link = next(link for link in links(store, acumatica, "subcontractor_invoice")
                          if link["procore_id"] == acumatica_invoice["id"])
    assert acumatica_link["colour"] == "GREEN" and acumatica_link["reason_code"] == "retainage_to_release"
    assert f"Procore released {released_acumatica:.2f} of retainage" in acumatica_link["message"]
    assert "never releases retainage by itself" in acumatica_link["message"]
    summary = daily_summary(store, acumatica).text()
    assert "Retainage released in Procore, to release in the ERP:" in summary and acumatica_link["procore_number"] in summary


def test_partial_payments_and_a_later_release_payment_land_in_payments_issued(sandbox, store):
    integration = add_integration(store, sandbox, ErpKind.QUICKBOOKS_ONLINE)
    invoice = approved_invoices(sandbox, SECOND_COMPANY_ID)[0]
    export_integration(store, integration, "run-1")
    link = next(link for link in links(store, integration, "subcontractor_invoice") if link["procore_id"] == invoice["id"])
    due, held = Decimal(invoice["summary"]["current_payment_due"]), Decimal(invoice["summary"]["total_retainage"])
    assert held > 0
    sandbox.control("POST", "quickbooks/payments", json={"bills": {link["erp_ref"]: "1000.00"}})
    sandbox.control("POST", "quickbooks/payments", json={"bills": {link["erp_ref"]: f"{due - 1000:.2f}"}})
    refresh_integration(store, integration, "run-1")
    import_payments(store, integration, "run-1")

    # the retainage is released on the next period's invoice, and paid
    release_invoice = release_on_the_next_invoice(sandbox, SECOND_COMPANY_ID, invoice)
    export_integration(store, integration, "run-2")
    released = next(link for link in links(store, integration, "subcontractor_invoice")
                    if link["procore_id"] == release_invoice["id"])
    sandbox.control("POST", "quickbooks/payments", json={"bills": {released["erp_ref"]: f"{held:.2f}"}})
    refresh_integration(store, integration, "run-2")
    import_payments(store, integration, "run-2")

    paid = {}
    for payment in sandbox.procore_rows("contract_payments"):
        if payment["contract_id"] == invoice["commitment_id"]:
            paid.setdefault(payment["invoice_number"], []).append(Decimal(payment["amount"]))
    assert sorted(paid[invoice["invoice_number"]]) == sorted([Decimal("1000.00"), due - 1000])
    assert paid[release_invoice["invoice_number"]] == [held]


def release_on_the_next_invoice(sandbox, company_id: int, invoice: dict) -> dict:
    """The commitment's next invoice in Procore bills nothing and releases what ``invoice`` held, line by line."""
    release_invoice = next(row for row in approved_invoices(sandbox, company_id)
                           if row["commitment_id"] == invoice["commitment_id"] and row["id"] != invoice["id"])
    items = sandbox.procore_lines("requisitions", release_invoice["id"])
    for item, held_item in zip(items, sandbox.procore_lines("requisitions", invoice["id"]), strict=True):
        item |= {"work_completed_this_period": "0.00", "total_completed_and_stored_to_date": "0.00",
                 "work_completed_retainage_retained_this_period": "0.00",
                 "work_completed_retainage_released_this_period": held_item["work_completed_retainage_retained_this_period"]}
    sandbox.control("PUT", f"procore/requisitions/{release_invoice['id']}/lines", json=items)
    return release_invoice


def test_in_acumatica_payments_of_a_bill_holding_retainage_and_of_its_retainage_bill_land_on_the_invoice(
        sandbox, store):
    integration = add_integration(store, sandbox, ErpKind.ACUMATICA)
    invoice = next(row for row in approved_invoices(sandbox, DEMO_COMPANY_ID) if Decimal(row["summary"]["total_retainage"]))
    export_integration(store, integration, "run-1")
    link = next(link for link in links(store, integration, "subcontractor_invoice") if link["procore_id"] == invoice["id"])
    bill = link["erp_ref"].split("/")[-1]
    due, held = Decimal(invoice["summary"]["current_payment_due"]), Decimal(invoice["summary"]["total_retainage"])
    assert Decimal(str(value(erp_document(sandbox, "acumatica", link), "Balance"))) == due
    sandbox.control("POST", "acumatica/payments", json={"bill": bill, "amount": "1000.00", "check_number": "501"})
    sandbox.control("POST", "acumatica/payments", json={"bill": bill, "amount": f"{due - 1000:.2f}", "check_number": "502"})
    refresh_integration(store, integration, "run-1")
    import_payments(store, integration, "run-1")

    # the next period releases the retainage in Procore; a person releases it on the bill in Acumatica, and pays it
    release_invoice = release_on_the_next_invoice(sandbox, DEMO_COMPANY_ID, invoice)
    export_integration(store, integration, "run-2")
    told = next(row for row in links(store, integration) if row["procore_id"] == release_invoice["id"])
    assert told["reason_code"] == "retainage_to_release" and f"released {held:.2f} of retainage" in told["message"]
    retainage_bill = sandbox.control("POST", f"acumatica/Bill/{bill}/release-retainage",
                                     json={"amount": f"{held:.2f}"}).json()["ReferenceNbr"]["value"]
    sandbox.control("POST", "acumatica/payments", json={"bill": retainage_bill, "amount": f"{held:.2f}",
                                                        "check_number": "503"})
    refresh_integration(store, integration, "run-2")
    import_payments(store, integration, "run-2")

    paid = {p["check_number"]: p for p in sandbox.procore_rows("contract_payments")
            if p["contract_id"] == invoice["commitment_id"]}
    assert {number: Decimal(p["amount"]) for number, p in paid.items()} == {
        "501": Decimal("1000.00"), "502": due - 1000, "503": held}
    assert {p["invoice_number"] for p in paid.values()} == {invoice["invoice_number"]}  # the invoice that held it
    assert paid["503"]["origin_id"].endswith(f"@{link['erp_ref']}")
    assert sum(Decimal(p["amount"]) for p in paid.values()) == due + held  # all the invoice's work, retainage included


def test_an_invoice_line_holding_other_than_the_subcontract_lines_retainage_is_red_in_acumatica(sandbox, store):
    integration = add_integration(store, sandbox, ErpKind.ACUMATICA)
    invoice = next(row for row in approved_invoices(sandbox, DEMO_COMPANY_ID) if Decimal(row["summary"]["total_retainage"]))
    items = sandbox.procore_lines("requisitions", invoice["id"])
    items[1] |= {"work_completed_retainage_retained_this_period": "0.00",
                 "work_completed_retainage_percent_this_period": "0.00"}  # retainage stepped down on this line
    sandbox.control("PUT", f"procore/requisitions/{invoice['id']}/lines", json=items)

    export_integration(store, integration, "run-1")

    row = next(row for row in links(store, integration) if row["procore_id"] == invoice["id"])
    assert (row["colour"], row["reason_code"], row["erp_ref"]) == ("RED", "retainage_differs", None)
    segments = {segment["segment_type"]: segment["code"] for segment in items[1]["wbs_code"]["segment_items"]}
    budget_code = f"{segments['cost_code']}.{segments['line_item_type']}"
    assert f"line 2 ({budget_code} {items[1]['description_of_work']}) holds 0.00 in Procore" in row["message"]
    assert "its Default endpoint cannot set another" in row["message"] and "the commitment's 10.00%" in row["message"]


def test_a_crash_mid_document_never_makes_a_second_document_or_line(sandbox, store, cloud):
    kind, integration, vendor = cloud
    path = "/entity/Default/24.200.001/Bill" if vendor == "acumatica" else "/bill"
    sandbox.fault(vendor, drop=True, after_commit=True, method="PUT" if vendor == "acumatica" else "POST",
                  path_pattern=path + "$", times=1)

    try:
        export_integration(store, integration, "run-1")
    except SyncIncomplete:
        pass
    export_integration(store, integration, "run-1-retry")

    invoices = links(store, integration, "subcontractor_invoice")
    bills = sandbox.erp_rows(vendor, "Bill")
    assert len(bills) == len(invoices) and all(link["colour"] == "GREEN" for link in invoices)
    mapped = LineMap(store).of_links(link["id"] for link in invoices)
    for link in invoices:
        items = sandbox.procore_lines("requisitions", link["procore_id"])
        marked = [line for line in erp_lines(sandbox, vendor, link)
                  if "[PL" in (value(line, "TransactionDescription") or value(line, "Description") or "")
                  and "[PL-RETAINAGE]" not in (value(line, "Description") or "")]
        assert len(marked) == len(items) == len(mapped[link["id"]])
        assert all(m.erp_line for m in mapped[link["id"]])


# Sage 300 CRE and Sage 100 Contractor: import files --------------------------------------------

def imported(office, prefix: str) -> dict[str, list[list[str]]]:
    """The import files Sage imported, by the pipeline's mark."""
    return {path.stem: list(csv.reader(path.read_text().splitlines()))
            for path in sorted((office.import_dir / "imported").glob(f"{prefix}*.csv"))}


def test_sage_imports_carry_a_record_per_line_with_job_costing_and_retainage(sandbox, store, sage):
    integrations = add_sage_integrations(store, sandbox)
    for name, system in (("granite-sage300", "sage300"), ("prairie-sage100", "sage100")):
        sync_until_settled(store, integrations[name], sage.offices[system])
        assert {link["colour"] for link in links(store, integrations[name])} == {"GREEN"}

    for name in ("granite-sage300", "prairie-sage100"):
        assert_shown_with_lines(store, integrations[name], sandbox)

    office = sage.offices["sage300"]
    commitments = {link["procore_id"]: link for link in links(store, integrations["granite-sage300"], "commitment")}
    extras = set()
    for mark, records in imported(office, "PC-CMT-").items():
        commitment = commitments[int(mark.split("-")[2])]
        procore = sandbox.procore_lines(table_of(commitment), commitment["procore_id"])
        header, items = LAYOUT.read(records[0]), [LAYOUT.read(record) for record in records[1:]]
        assert header["Record ID"] == "C" and header["Job"] == job_of(sandbox, commitment)
        assert [(item["Item"], item["Extra"], item["Cost Code"], item["Category"], Decimal(item["Amount"]))
                for item in items] == [
            (str(n), sub_job_of(sandbox, line), erp_code(line), line["line_item_type"]["code"],
             Decimal(line["amount"])) for n, line in enumerate(procore, start=1)]
        extras.update(item["Extra"] for item in items)
    for mark, records in imported(office, "PC-REQ-").items():
        invoice = next(row for row in sandbox.procore_rows("requisitions") if row["id"] == int(mark.split("-")[2]))
        header, distributions = LAYOUT.read(records[0]), [LAYOUT.read(record) for record in records[1:]]
        summary = invoice["summary"]
        assert Decimal(header["Amount"]) == Decimal(summary["current_payment_due"]) + Decimal(summary["total_retainage"])
        assert Decimal(header["Retainage"]) == Decimal(summary["total_retainage"])
        assert len(distributions) == len(sandbox.procore_lines("requisitions", invoice["id"]))
        assert sum(Decimal(d["Retainage"]) for d in distributions) == Decimal(header["Retainage"])
        assert all(d["Commitment Item"] and d["Cost Code"] and d["Category"] for d in distributions)
        extras.update(d["Extra"] for d in distributions)
    assert extras == {"", "01", "02"}  # the extras of sub jobs 01 and 02, and blank for the job's own costs

    office = sage.offices["sage100"]
    phases = set()
    for mark, records in imported(office, "PC-CMT-").items():
        header, details = records[0], records[1:]
        contract = next(row for table in COMMITMENT_TABLES for row in sandbox.procore_rows(table)
                        if row["id"] == int(mark.split("-")[2]))
        procore = sandbox.procore_lines("work_order_contracts" if contract["number"].startswith("SC")
                                        else "purchase_order_contracts", contract["id"])
        assert header[:2] == ["PJSC", "H"] and Decimal(header[19]) == Decimal(contract["retainage_percent"])
        assert header[7] == sub_job_of(sandbox, procore[0])  # the subcontract's phase: its lines' sub job
        phases.add(header[7])
        assert [(d[4], d[5]) for d in details] == [  # Sage 100's cost type of the same name, by its number
            (erp_code(line), str(SAGE100_COST_TYPE_OF[line["line_item_type"]["name"]]))
            for line in procore]
    assert phases == {"", "1", "2"}
    for mark, records in imported(office, "PC-REQ-").items():
        invoice = next(row for row in sandbox.procore_rows("requisitions") if row["id"] == int(mark.split("-")[2]))
        assert records[0][:2] == ["APINV", "H"] and Decimal(records[0][19]) == Decimal(invoice["summary"]["total_retainage"])
        assert len(records) - 1 == len(sandbox.procore_lines("requisitions", invoice["id"]))
        assert len({record[6] for record in records[1:]}) == 1 and records[0][13] == records[1][6]  # one phase


def test_in_sage_payments_of_an_invoice_holding_retainage_and_the_later_retainage_payment_land_on_it(
        sandbox, store, sage):
    """Sage keeps the retainage on the invoice itself (its gross holds it): the payable part is paid in two checks,
    the retainage, once released, by a third on the same invoice."""
    integrations = add_sage_integrations(store, sandbox)
    for name, system in (("granite-sage300", "sage300"), ("prairie-sage100", "sage100")):
        office, integration = sage.offices[system], integrations[name]
        sync_until_settled(store, integration, office)
        link, invoice = next((link, row) for link in links(store, integration, "subcontractor_invoice")
                             for row in sandbox.procore_rows("requisitions")
                             if row["id"] == link["procore_id"] and Decimal(row["summary"]["total_retainage"]))
        due, held = Decimal(invoice["summary"]["current_payment_due"]), Decimal(invoice["summary"]["total_retainage"])
        checks = (("701", Decimal("500.00")), ("702", due - 500), ("703", held))  # the last: released retainage
        for day, (check, amount) in enumerate(checks, start=1):
            if system == "sage300":
                vendor, number = link["erp_ref"].split("/")
                office.pay(vendor, number, amount, check, date(2026, 12, day))
            else:
                office.pay(int(link["erp_ref"]), amount, check, date(2026, 12, day))
            import_payments(store, integration, f"payments-{day}")

        paid = {p["check_number"]: p for p in sandbox.procore_rows("contract_payments")
                if p["contract_id"] == invoice["commitment_id"]}
        assert {check: Decimal(paid[check]["amount"]) for check, _amount in checks} == dict(checks)
        assert {paid[check]["invoice_number"] for check, _amount in checks} == {invoice["invoice_number"]}


def test_a_line_changed_after_export_is_red_in_sage_with_what_to_change_there(sandbox, store, sage):
    integration = add_sage_integrations(store, sandbox)["granite-sage300"]
    sync_until_settled(store, integration, sage.offices["sage300"])
    link = links(store, integration, "commitment")[0]
    edited = edit_lines(sandbox, link, lambda lines: [{**lines[0], "amount": "1234.00"}, *lines[1:-1]])

    export_integration(store, integration, "after the edit")

    row = next(row for row in links(store, integration) if row["id"] == link["id"])
    assert row["colour"] == "RED" and row["reason_code"] == "locked"
    assert f"change line 1 ({edited[0]['cost_code']['full_code']}.S {edited[0]['description']}) to 1234.00" in row["message"]
    assert "remove line" in row["message"] and "Sage 300 CRE® itself" in row["message"]


def test_a_company_with_its_own_import_format_gets_its_fields_in_its_order(tmp_path):
    custom = tmp_path / "layout.json"
    custom.write_text(json.dumps({"records": {"APD": ["Record ID", "Amount", "Job", "Cost Code"]}}))
    layout = ImportLayout.load(custom)
    assert layout.record("APD", {"Job": "1001", "Cost Code": "03-300", "Amount": "10.00"}) == [
        "APD", "10.00", "1001", "03-300"]
    with pytest.raises(ValueError, match="no field"):
        layout.record("APD", {"Retainage": "1.00"})


KILLED_EXPORT = """
import sys
from erp_sync.jobs.hourly_sync import export_integration
from erp_sync.store import Store

store = Store.from_url(sys.argv[1])
export_integration(store, next(row for row in store.integrations() if row["name"] == sys.argv[2]), "killed")
"""


def test_an_export_killed_while_the_erp_writes_a_bill_is_finished_once_by_the_next_run(sandbox, store):
    integration = add_integration(store, sandbox, ErpKind.ACUMATICA)
    sandbox.fault("acumatica", delay_seconds=3, method="PUT", path_pattern="/entity/Default/24.200.001/Bill$", times=1)
    worker = subprocess.Popen([sys.executable, "-c", KILLED_EXPORT, store_url(store), integration["name"]],
                              env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)})
    deadline = time.monotonic() + 120
    while not sandbox.control("GET", "acumatica/faults").json() and time.monotonic() < deadline:
        time.sleep(0.2)  # the worker is sending its first bill, its lines with it
    worker.send_signal(signal.SIGKILL)  # kill -9 while Acumatica holds the request
    worker.wait()
    time.sleep(4)  # Acumatica finishes what it was given

    export_integration(store, integration, "after the kill")

    invoices = links(store, integration, "subcontractor_invoice")
    bills = sandbox.erp_rows("acumatica", "Bill")
    assert invoices and len(bills) == len(invoices) and all(link["colour"] == "GREEN" for link in invoices)
    mapped = LineMap(store).of_links(link["id"] for link in invoices)
    for link in invoices:
        lines = erp_lines(sandbox, "acumatica", link)
        assert len(lines) == len(sandbox.procore_lines("requisitions", link["procore_id"])) == len(mapped[link["id"]])
