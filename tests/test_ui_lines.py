"""A record's lines on the ERP Integrations page: opened from the record's number, with coding, amounts and
retainage, and the sentence of a record held back that names its lines (Airflow's API server, Chromium)."""

from __future__ import annotations

import json

import pytest
from browser import screenshot
from conftest import person
from playwright.sync_api import expect
from test_ui_integrations import ACUMATICA, AVERY, desk, dagbag  # noqa: F401 - the desk and its fixtures

from erp_sync.reference.links import unlink
from erp_sync.reference.model import ReferenceKind
from sandbox.procore_lines import COST_CODES

pytestmark = pytest.mark.airflow
pytest_plugins = ["browser"]


def test_an_accountant_opens_a_record_to_its_lines(desk, browser):  # noqa: F811
    page = browser.sign_in(desk.api, person(desk.sandbox, desk.store, AVERY))
    invoice = desk.links(ACUMATICA, "subcontractor_invoice", "GREEN")[0]
    items = desk.sandbox.procore_lines("requisitions", invoice["procore_id"])

    page.goto(desk.url(ACUMATICA, record_type="subcontractor_invoice", view="synced"))
    page.locator(f"#record-{invoice['procore_id']}").get_by_role("link", name=invoice["procore_number"]).click()

    expect(page.locator("h2")).to_contain_text(f"Requisition {invoice['procore_number']}")
    rows = page.locator("#lines tbody tr")
    expect(rows).to_have_count(len(items))
    expect(rows.first).to_contain_text(items[0]["wbs_code"]["flat_code"])
    expect(rows.first).to_contain_text(f"{float(items[0]['work_completed_retainage_retained_this_period']):,.2f}")
    screenshot(page, "i23-invoice-lines")

    # a schedule-of-values edit on a line whose cost code is no longer linked: the record waits, naming its line
    plumbing = next(code for code in COST_CODES if code.code == "15-400")
    commitment = next(link for link in desk.links(ACUMATICA, "commitment", "GREEN")
                      if any(line["cost_code"]["id"] == plumbing.id for line in desk.sandbox.procore_lines(
                          json.loads(link["procore_json"])["stream"], link["procore_id"])))
    table = json.loads(commitment["procore_json"])["stream"]
    lines = desk.sandbox.procore_lines(table, commitment["procore_id"])
    lines[0]["amount"] = f"{float(lines[0]['amount']) + 100:.2f}"
    desk.sandbox.control("PUT", f"procore/{table}/{commitment['procore_id']}/lines", json=lines)
    unlink(desk.store, desk.integrations[ACUMATICA], ReferenceKind.COST_CODE, str(plumbing.id), by="the test")
    desk.sync()

    page.goto(desk.url(ACUMATICA) + f"/commitment/{commitment['procore_id']}/lines")
    expect(page.locator(".reason")).to_contain_text('link cost code 15-400 "Plumbing Fixtures"')
    expect(page.locator(".reason")).to_contain_text("15-400.S")
    expect(page.locator("#lines tbody tr").filter(has_text="15-400")).not_to_have_count(0)
    screenshot(page, "i23-commitment-waiting-for-a-link")
