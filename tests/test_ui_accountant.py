"""The accountant's day in Debian's Chromium at 1,280 and 1,440 px, on the demo data with acceptance on:
her work queue on the integrations list, Ready to Export with its count, Accept and Reject followed to
the record's end without a reload, and a reload after each action that changes nothing. Waits poll the
page's own status (``#decided[data-done]``), never a clock."""

from __future__ import annotations

import json
import re

import pytest
from browser import screenshot
from playwright.sync_api import expect

from erp_sync.models import RecordType
from test_ui_acceptance import NAME, decisions_dag, office  # noqa: F401 - fixtures

pytestmark = pytest.mark.airflow
pytest_plugins = ["browser"]
WIDTHS = (1280, 1440)


def fits(page, name: str) -> None:
    """At each width the page needs no sideways scrolling; a screenshot of each to look at."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} is wider than {width} px"
        screenshot(page, f"{name}-{width}")
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def decisions(office) -> int:
    return len(office.store.rows("export_decisions_of_integration", integration=NAME, record_type=None, limit=99))


def test_her_work_queue_leads_to_ready_to_export_and_each_action_is_followed_and_never_repeated(
        office, decisions_dag, browser):
    decisions_dag.test()  # parsed into Airflow's database, as the scheduler does
    commitments = office.ready(RecordType.COMMITMENT)
    invoice = office.ready(RecordType.SUBCONTRACTOR_INVOICE)[0]
    page = browser.sign_in(office.api, "avery")

    page.goto(f"{office.api.url}/erp-sync/integrations/")
    work = page.locator(f"#work-queue tr[data-integration='{NAME}'][data-record-type=commitment]")
    expect(work.locator("a.acceptance")).to_have_text(str(len(commitments)))
    expect(page.locator(f"[data-health='{NAME}'] .dot.GREEN")).to_have_count(1)  # its last sync, and how it went
    expect(page.locator(f"[data-health='{NAME}']")).to_contain_text("Synced 20")
    fits(page, "01-work-queue")

    work.locator("a.acceptance").click()
    expect(page.locator("[data-count=ready]")).to_have_text(str(len(commitments)))
    fits(page, "02-ready-to-export")
    first = page.locator("#ready tbody tr").first
    expect(first.locator("td").nth(4)).not_to_be_empty()  # the vendor, as Procore's list shows it
    vendor = first.locator("td").nth(4).inner_text()
    page.fill("#listing input[name=search]", vendor.lower())
    page.click("#listing button")
    same_vendor = sum(json.loads(row["procore_json"])["data"]["vendor"]["name"] == vendor for row in commitments)
    expect(page.locator("#ready tbody tr")).to_have_count(same_vendor)
    assert set(page.locator("#ready tbody tr td:nth-child(5)").all_inner_texts()) == {vendor}
    page.goto(office.url() + "?record_type=commitment&sort=amount&order=desc")
    amounts = [float(text.strip("$").replace(",", "")) for text in page.locator("#ready td.amount").all_inner_texts()]
    assert amounts == sorted(amounts, reverse=True) and len(amounts) == len(commitments)
    page.locator("a.sort[data-sort=amount]").click()  # again: the other way round
    expect(page).to_have_url(re.compile(r"sort=amount&order=asc"))

    for row in commitments[:2]:
        page.check(f"#record-{row['procore_id']}")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.click("button[value=accept]")
    expect(page.locator("#decided .notice")).to_have_text("Accepted 2 records as Avery Admin:")
    assert asked == ["Accept 2 records? Each is exported to Acumatica Cloud ERP now; an export is not undone from here."]
    page.reload()
    assert decisions(office) == 2  # the reload asked for the page again, not for the decisions
    assert decisions_dag.test().state == "success"
    expect(page.locator("#decided")).to_have_attribute("data-done", "true", timeout=30_000)
    expect(page.locator("#decided .outcome.GREEN")).to_have_count(2)
    fits(page, "03-accepted-and-exported")

    page.goto(office.url() + "?record_type=subcontractor_invoice")
    page.check(f"#record-{invoice['procore_id']}")
    page.fill("input[name=reason]", "Retention is 5%, not 10%")
    page.click("button[value=reject]")
    expect(page.locator("#decided .notice")).to_have_text("Rejected 1 record as Avery Admin:")
    page.reload()
    assert decisions(office) == 3
    assert decisions_dag.test().state == "success"
    expect(page.locator("#decided .outcome.YELLOW")).to_contain_text("Retention is 5%, not 10%", timeout=30_000)
    fits(page, "04-rejected")

    page.select_option("select[name=mode]", "direct")
    page.once("dialog", lambda dialog: dialog.dismiss())  # she reads the consequence and keeps the mode
    page.click("#export-mode-form button")
    expect(page.locator("#export-mode")).to_have_text("acceptance")
    page.select_option("select[name=mode]", "direct")
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.click("#export-mode-form button")
    expect(page.locator("#export-mode")).to_have_text("direct")
    assert "Every approved record of every project goes straight to the ERP" in asked[-1]
    page.reload()
    trail = office.store.rows("audit_trail", entity="integration", entity_id=NAME)
    assert [row["new_state"] for row in trail if row["action"] == "export_mode"] == ["direct"]
    fits(page, "05-export-mode-changed")

    page.goto(f"{office.api.url}/erp-sync/integrations/{NAME}?record_type=commitment_change_order&view=waiting")
    expect(page.locator("td.status .wait").first).to_have_text("Waiting for your acceptance")
    fits(page, "06-waiting-says-whose-wait")
    page.get_by_role("link", name=f"Operations of {NAME}").click()
    expect(page.get_by_role("link", name="← Airflow")).to_be_visible()
    fits(page, "07-operations")
