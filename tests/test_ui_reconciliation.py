"""The Reconciliation view, served by Airflow's own API server app: totals per project, differing
commitments first with their causes in sentences, filters, a row opened to its figures side by side, its
documents and history, and the CSV and XLSX downloads of what is shown."""

from __future__ import annotations

import csv
import io
import json

import pytest
import requests
from openpyxl import load_workbook

from browser import fits, screenshot
from conftest import SyncedScene
from erp_sync.jobs.hourly_sync import refresh_integration
from erp_sync.reconcile.job import reconcile_integration

pytestmark = pytest.mark.airflow
pytest_plugins = ["browser"]
NAME = "summit-acumatica"


@pytest.fixture
def drifted(airflow_api, sandbox, airflow_sqlite_store):
    """Synced, then an Acumatica user changes a subcontract's amount and keys in a bill against another."""
    store = airflow_sqlite_store
    scene = SyncedScene(sandbox, store)
    integration = scene.integrations[NAME]
    commitments = [row for row in store.rows("active_links", integration_id=integration["id"])
                   if row["record_type"] == "commitment" and row["erp_ref"]]
    changed, keyed_on = commitments[0], commitments[1]
    amount = json.loads(changed["procore_json"])["data"]["grand_total"]
    sandbox.control("POST", f"acumatica/Subcontract/{changed['erp_ref']}/amount", json={"amount": f"{float(amount) + 750:.2f}"})
    vendor = next(row for row in sandbox.erp_rows("acumatica", "Subcontract")
                  if row["SubcontractNbr"]["value"] == keyed_on["erp_ref"])["VendorID"]["value"]
    sandbox.control("POST", "acumatica/bills", json={"vendor": vendor, "subcontract": keyed_on["erp_ref"],
                                                     "amount": "980.00", "vendor_ref": "KEYED-42"})
    refresh_integration(store, integration, "test")
    reconcile_integration(store, integration, "test")
    return airflow_api, store, integration, changed, keyed_on


def url(api, suffix: str = "") -> str:
    return f"{api.url}/erp-sync/integrations/{NAME}/reconciliation{suffix}"


def test_an_accountant_sees_what_differs_and_why(drifted, browser):
    api, store, integration, changed, keyed_on = drifted
    page = browser.sign_in(api, "avery")
    page.goto(url(api))
    totals = page.locator("#totals").inner_text()
    commitments = len(store.rows("reconciliation_page", integration_id=integration["id"], project_id=None,
                                 only_differences=0, cause=None, limit=1000, offset=0))
    assert f"2 of {commitments} commitments differ" in totals
    rows = page.locator("#commitments > tbody > tr")
    assert rows.nth(0).get_attribute("class") == "differs" and rows.nth(1).get_attribute("class") == "differs"
    assert rows.nth(2).get_attribute("class") == "agrees"
    moved = page.locator(f"#commitment-{changed['procore_id']}")
    assert "changed in Acumatica Cloud ERP" in moved.inner_text() and "after ERP Sync exported it" in moved.inner_text()
    assert "KEYED-42" in page.locator(f"#commitment-{keyed_on['procore_id']}").inner_text()
    page.locator(f"#open-{changed['procore_id']} summary").click()
    opened = page.locator(f"#figures-{changed['procore_id']}")  # a row of its own under the commitment's
    opened.locator("table.documents").wait_for()  # read when the row opens
    assert "Original commitment" in opened.inner_text() and "750.00" in opened.inner_text()
    assert "Commitment" in opened.locator("table.documents").inner_text()
    assert "Cost code" in opened.locator("table.cost-codes").inner_text()
    fits(page, "i24-reconciliation-opened")

    page.select_option("select[name=cause]", "erp_bill_without_invoice")
    page.click("#filters button[type=submit]")
    assert page.locator("#commitments > tbody > tr").count() == 1
    assert "1 commitment(s)" in page.locator("#shown").inner_text()
    screenshot(page, "i24-reconciliation-cause-filter")

    answer = page.goto(url(api, "?project=abc&cause=nonsense"))
    assert answer.status == 400
    assert "takes a Procore project id" in page.locator("#problem").inner_text()
    screenshot(page, "i24-reconciliation-bad-filter")


def test_the_downloads_hold_what_is_shown(drifted):
    api, store, integration, changed, _keyed_on = drifted
    session = api.browser("avery", role="user")
    assert requests.get(url(api), timeout=30).status_code == 401
    shown = list(csv.DictReader(io.StringIO(session.get(url(api, ".csv?only_differences=1"), timeout=30).text)))
    assert len(shown) == 2 and {row["Differs"] for row in shown} == {"yes"}
    row = next(r for r in shown if r["Commitment"] == changed["procore_number"])
    assert "Changed in the ERP after export" in row["Causes"]
    book = load_workbook(io.BytesIO(session.get(url(api, ".xlsx"), timeout=30).content))
    sheet = book[integration["name"]]
    assert sheet["C1"].value == "Commitment" and sheet.max_row == 1 + len(store.rows("reconciliation_page", integration_id=integration["id"], project_id=None,
                                               only_differences=0, cause=None, limit=1000, offset=0))
    assert session.get(url(api, ".csv?project=x"), timeout=30).status_code == 400
    assert session.get(url(api, ".pdf"), timeout=30).status_code == 404
