"""A record's lines on the ERP Integrations page: opened from the record's number, with coding, amounts and
retainage, and the sentence of a RED that names its line (Airflow's API server, Debian's Chromium)."""

from __future__ import annotations

import pytest
from browser import screenshot
from conftest import person
from playwright.sync_api import expect
from test_ui_integrations import ACUMATICA, AVERY, Desk, dagbag  # noqa: F401 - the desk's fixtures

pytestmark = pytest.mark.airflow
pytest_plugins = ["browser"]


@pytest.fixture
def desk(sandbox, airflow_sqlite_store, airflow_api, dagbag, linked_reference_data):  # noqa: F811
    linked_reference_data.unlinked.add("15-400")  # one cost code not linked yet: its records are RED
    return Desk(sandbox, airflow_sqlite_store, airflow_api, dagbag)


def test_an_accountant_opens_a_record_to_its_lines(desk, browser):
    page = browser.sign_in(desk.api, person(desk.sandbox, desk.store, AVERY))
    invoice = desk.links(ACUMATICA, "subcontractor_invoice", "GREEN")[0]
    items = desk.sandbox.procore_lines("requisitions", invoice["procore_id"])

    page.goto(desk.url(ACUMATICA, record_type="subcontractor_invoice", view="synced"))
    page.locator(f"#record-{invoice['procore_id']}").get_by_role("link", name=invoice["procore_number"]).click()

    expect(page.locator("h2")).to_contain_text(f"Requisition {invoice['procore_number']}")
    rows = page.locator("#lines tbody tr")
    expect(rows).to_have_count(len(items))
    first = rows.first
    expect(first).to_contain_text(items[0]["wbs_code"]["flat_code"])
    expect(first).to_contain_text(f"{float(items[0]['work_completed_retainage_retained_this_period']):,.2f}")
    screenshot(page, "i23-invoice-lines")

    red = next(link for link in desk.store.rows("active_links", integration_id=desk.integrations[ACUMATICA]["id"])
               if link["reason_code"] == "reference_unlinked")
    page.goto(desk.url(ACUMATICA) + f"/{red['record_type']}/{red['procore_id']}/lines")
    expect(page.get_by_role("alert")).to_contain_text("the cost code 15-400 Plumbing Fixtures is not linked")
    expect(page.locator("#lines tbody tr").filter(has_text="15-400")).not_to_have_count(0)
    screenshot(page, "i23-red-commitment-lines")
