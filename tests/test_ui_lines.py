"""A record's lines on the ERP Integrations page: opened from the record's number, with coding, amounts and
retainage, and the sentence of a record held back that names its lines (Airflow's API server, Chromium)."""

from __future__ import annotations

import json

import pytest
from browser import screenshot
from conftest import person
from playwright.sync_api import expect
from test_ui_integrations import ACUMATICA, AVERY, desk, dagbag  # noqa: F401 - the desk and its fixtures

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
