"""A record's lines on the ERP Integrations page: opened from the record's number, with coding, amounts and
retainage, and the sentence of a record held back that names its lines (Airflow's API server, Chromium)."""

from __future__ import annotations

import json

import pytest
from browser import fits, screenshot
from conftest import TEST_INTEGRATIONS, export_integration, person
from playwright.sync_api import expect
from seed_links import link_sandbox_references
from test_ui_integrations import ACUMATICA, AVERY, desk, dagbag  # noqa: F401 - the desk and its fixtures

from sandbox.procore_data import DEMO_COMPANY_ID

pytestmark = pytest.mark.airflow
pytest_plugins = ["browser"]


def test_an_accountant_opens_a_record_to_its_lines(desk, browser):  # noqa: F811
    page = browser.sign_in(desk.api, person(desk.sandbox, desk.store, AVERY))
    invoice = desk.links(ACUMATICA, "subcontractor_invoice", "GREEN")[0]
    items = desk.sandbox.procore_lines("requisitions", invoice["procore_id"])

    page.goto(desk.url(ACUMATICA, record_type="subcontractor_invoice", view="synced"))
    page.locator(f"#record-{invoice['procore_id']}").get_by_role("link", name=invoice["procore_number"]).click()

    expect(page.locator("h2")).to_contain_text(f"Subcontractor invoice {invoice['procore_number']}")
    rows = page.locator("#lines tbody tr")
    expect(rows).to_have_count(len(items))
    expect(rows.first).to_contain_text(items[0]["wbs_code"]["flat_code"])
    expect(rows.first).to_contain_text(f"{float(items[0]['work_completed_retainage_retained_this_period']):,.2f}")
    screenshot(page, "i23-invoice-lines")

    # a schedule-of-values edit puts a line on a cost code the ERP does not know: the record waits, naming its line
    commitment = desk.links(ACUMATICA, "commitment", "GREEN")[0]
    table = json.loads(commitment["procore_json"])["stream"]
    lines = desk.sandbox.procore_lines(table, commitment["procore_id"])
    lines[0]["cost_code"] = {"id": 5999, "code": "09-900", "full_code": "09-900", "name": "Special Coatings"}
    desk.sandbox.control("PUT", f"procore/{table}/{commitment['procore_id']}/lines", json=lines)
    desk.sync()

    page.goto(desk.url(ACUMATICA) + f"/commitment/{commitment['procore_id']}/lines")
    expect(page.locator(".reason")).to_contain_text('link cost code 09-900 "Special Coatings"')
    expect(page.locator(".reason")).to_contain_text("Waiting: line 1 (09-900.S")
    screenshot(page, "i23-commitment-waiting-for-a-link")


@pytest.fixture
def waiting(sandbox, airflow_sqlite_store, airflow_api):
    """Acumatica with acceptance on, synced once: a CCO whose commitment line is on a cost code the ERP lacks,
    a CCO whose commitment is still a draft in Procore, and invoices, all waiting under Ready to Export."""
    from erp_sync.models import ExportMode
    from test_acceptance import COATINGS

    store, ccos = airflow_sqlite_store, approved_ccos(sandbox)
    coated, drafted = ccos[0], ccos[1]
    table, schedule = commitment_lines(sandbox, coated["contract_id"])
    changed = sandbox.procore_lines("commitment_change_orders", coated["id"])[0]["commitment_line_item_id"]
    next(line for line in schedule if line["id"] == changed)["cost_code"] = COATINGS
    sandbox.control("PUT", f"procore/{table}/{coated['contract_id']}/lines", json=schedule)
    draft_table, _lines = commitment_lines(sandbox, drafted["contract_id"])
    sandbox.control("PATCH", f"procore/{draft_table}/{drafted['contract_id']}", json={"status": "Draft"})
    integration = next(i for i in TEST_INTEGRATIONS if i.name == ACUMATICA)
    store.save_integration(integration.model_copy(update={"export_mode": ExportMode.ACCEPTANCE}))
    link_sandbox_references(store, sandbox)
    export_integration(store, store.one("integration_by_name", name=ACUMATICA), "sync")
    return store, airflow_api, coated, drafted


def approved_ccos(sandbox) -> list[dict]:
    projects = {pid for pid, p in sandbox.sandboxes.procore.projects.items() if p.company.id == DEMO_COMPANY_ID}
    return [row for row in sandbox.procore_rows("commitment_change_orders")
            if row["project_id"] in projects and row["status"] == "approved"]


def commitment_lines(sandbox, commitment_id: int) -> tuple[str, list[dict]]:
    table = next(table for table in ("work_order_contracts", "purchase_order_contracts")
                 if any(row["id"] == commitment_id for row in sandbox.procore_rows(table)))
    return table, sandbox.procore_lines(table, commitment_id)


def test_an_accountant_opens_the_lines_of_a_waiting_cco_and_invoice_before_accepting(sandbox, waiting, browser):
    store, api, coated, drafted = waiting
    page = browser.sign_in(api, person(sandbox, store, AVERY))
    ready = f"{api.url}/erp-sync/integrations/{ACUMATICA}/ready"

    page.goto(f"{ready}?record_type=commitment_change_order")
    page.locator(f"#ready-{coated['id']}").get_by_role("link", name="Lines").click()
    expect(page.locator("h2")).to_contain_text(f"Commitment change order {coated['number']}")
    expect(page.locator(".reason")).to_contain_text('link cost code 09-900 "Special Coatings"')
    rows = page.locator("#lines tbody tr")
    expect(rows).to_have_count(len(sandbox.procore_lines("commitment_change_orders", coated["id"])))
    expect(rows.first).to_contain_text("09-900")
    expect(rows.first).to_contain_text("Special Coatings")
    expect(rows.first.locator("td").last).to_have_text("—")  # no ERP line before it is exported
    fits(page, "i25-cco-waiting-for-a-link-lines")

    page.goto(f"{api.url}/erp-sync/integrations/{ACUMATICA}/commitment_change_order/{drafted['id']}/lines")
    expect(page.locator(".reason")).to_contain_text(
        f"read those of its commitment (Procore id {drafted['contract_id']})")
    expect(page.locator("#no-lines")).to_have_text(
        "ERP Sync checks the commitment change order's lines against the lines of its commitment, which it has not "
        "read yet (the sentence above says why): they are shown here once it has.")
    screenshot(page, "i25-cco-commitment-lines-unknown-1280")

    invoice = next(row for row in store.rows("active_links", integration_id=store.one(
        "integration_by_name", name=ACUMATICA)["id"]) if row["record_type"] == "subcontractor_invoice"
        and row["reason_code"] is None)
    items = sandbox.procore_lines("requisitions", invoice["procore_id"])
    page.goto(f"{ready}?record_type=subcontractor_invoice")
    page.locator(f"#ready-{invoice['procore_id']}").get_by_role("link", name="Lines").click()
    expect(page.locator("h2")).to_contain_text(f"Subcontractor invoice {invoice['procore_number']}")
    expect(page.locator(".reason")).to_have_text("Waiting for accounting acceptance")
    rows = page.locator("#lines tbody tr")
    expect(rows).to_have_count(len(items))
    expect(rows.first).to_contain_text(f"{float(items[0]['work_completed_retainage_retained_this_period']):,.2f}")
    expect(page.locator("#lines tfoot")).to_contain_text("Retainage held less released")
    fits(page, "i25-invoice-waiting-lines")
