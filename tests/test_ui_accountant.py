"""The accountant's day in Debian's Chromium at 1,280 and 1,440 px, on the demo data with acceptance on:
her work queue on the integrations list, Ready to Export with its count, Accept and Reject followed to
the record's end without a reload, a record's lines, the export mode on the integration's page, and a reload
after each action that changes nothing. Every page fits the window without sideways scrolling. Waits poll the
page's own status (``#decided[data-done]``), never a clock."""

from __future__ import annotations

import json
import re

import pytest
from browser import fits
from playwright.sync_api import expect

from erp_sync.models import RecordType
from test_ui_acceptance import NAME, decisions_dag, office  # noqa: F401 - fixtures

pytestmark = pytest.mark.airflow
pytest_plugins = ["browser"]


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
    expect(first.locator("td.project .muted")).to_have_text(re.compile(r"^24\d\d$"))  # Procore's project number
    expect(page.locator("p.mode")).to_contain_text("switched on the integration's page")
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

    page.locator(f"#ready-{commitments[2]['procore_id']} a.lines").click()  # what she decides on, line by line
    expect(page.locator("h2")).to_contain_text(f"Commitment {commitments[2]['procore_number']}")
    page.go_back()

    page.goto(office.url() + "?record_type=subcontractor_invoice")
    row = page.locator(f"#ready-{invoice['procore_id']}")
    expect(row.locator("td.period")).to_have_text(re.compile(r"^[A-Z][a-z]{2} 1–\d+, \d{4}$"))
    expect(row.locator("td.retainage")).to_have_text(re.compile(r"^\$[\d,]+\.\d\d$"))
    page.check(f"#record-{invoice['procore_id']}")
    page.fill("input[name=reason]", "Retention is 5%, not 10%")
    page.click("button[value=reject]")
    expect(page.locator("#decided .notice")).to_have_text("Rejected 1 record as Avery Admin:")
    page.reload()
    assert decisions(office) == 3
    assert decisions_dag.test().state == "success"
    expect(page.locator("#decided .outcome.YELLOW")).to_contain_text("Retention is 5%, not 10%", timeout=30_000)
    fits(page, "04-rejected")
    page.goto(office.url() + "?record_type=commitment_change_order")
    expect(page.locator("#ready tbody tr").first.locator("td").nth(5)).not_to_be_empty()  # the commitment it changes
    fits(page, "04-change-orders")

    exported = next(row for row in office.store.rows("active_links", integration_id=office.integration["id"])
                    if row["id"] == commitments[0]["id"])
    page.goto(f"{office.api.url}/erp-sync/integrations/{NAME}/commitment/{exported['procore_id']}/lines")
    expect(page.locator("#lines tbody tr").first).to_be_visible()
    fits(page, "05-lines-of-an-exported-commitment")

    page.goto(f"{office.api.url}/erp-sync/integrations/{NAME}")  # the export mode is the whole integration's
    page.once("dialog", lambda dialog: dialog.dismiss())  # she reads the consequence and keeps the mode
    page.click("#export-mode-form button")
    expect(page.locator("#export-mode")).to_have_attribute("data-mode", "acceptance")
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.click("#export-mode-form button")
    expect(page.locator("#export-mode")).to_have_attribute("data-mode", "direct")
    assert asked[-1].startswith(f"Switch {NAME} to direct export? From the next hourly sync, every approved commitment")
    expect(page.locator("#mode-notice")).to_contain_text("Export mode is now direct export")
    page.reload()
    trail = office.store.rows("audit_trail", entity="integration", entity_id=NAME)
    assert [row["new_state"] for row in trail if row["action"] == "export_mode"] == ["direct"]
    fits(page, "06-export-mode-changed")

    page.goto(f"{office.api.url}/erp-sync/integrations/{NAME}?record_type=commitment_change_order&view=waiting")
    expect(page.locator("td.status .wait").first).to_have_text("Waiting for your acceptance")
    fits(page, "07-waiting-says-whose-wait")
    page.get_by_role("link", name=f"Operations of {NAME}").click()
    expect(page.get_by_role("link", name="← Airflow")).to_be_visible()
    fits(page, "08-operations")
    page.goto(f"{office.api.url}/erp-sync/integrations/{NAME}/reference")
    expect(page.locator("h1")).to_contain_text("Summit Builders (demo) with Acumatica")  # as Procore names it
    fits(page, "09-reference-data")
    page.goto(f"{office.api.url}/erp-sync/integrations/{NAME}/reconciliation")
    fits(page, "10-reconciliation")
