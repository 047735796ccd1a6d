"""The Reference data tab in Chromium: an accounting approver confirms a suggestion, links by search, confirms all
shown and unlinks; a person without 'Can Push to Accounting' is refused with the sentence; the records that
waited for the links go out at the next sync. (A forged cross-site POST: tests/test_ui_forgery.py.)"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from browser import fits, screenshot
from conftest import TEST_INTEGRATIONS, connect_person
from erp_sync.jobs.hourly_sync import export_integration
from erp_sync.reference.links import confirmed_links, history
from erp_sync.reference.model import ReferenceKind
from erp_sync.reference.reading import refresh
from sandbox.procore_lines import sub_job_id

pytestmark = pytest.mark.airflow
pytest_plugins = ["browser"]
NAME = "summit-acumatica"
STAR, GRANITE = "500001", "500002"
GENERAL, DEMOLITION = "5001", "5007"  # cost codes 01-100 (the ERP's 01.100) and 02-410 (in no ERP)


class Office:
    """Summit's vendors read on both sides and none linked yet, so its approved records wait for links."""

    def __init__(self, api, sandbox, store):
        self.api, self.sandbox, self.store = api, sandbox, store
        store.save_integration(TEST_INTEGRATIONS[0])
        self.integration = store.one("integration_by_name", name=NAME)
        refresh(store, self.integration, by="nightly")
        export_integration(store, self.integration, "sync")
        for airflow_user, procore_user in (("avery", 101), ("casey", 103)):
            connect_person(sandbox, store, airflow_user, procore_user)
        self.vendors = {v.name: str(v.id) for v in sandbox.sandboxes.procore.vendors.values()}

    def url(self, kind: str = "vendor") -> str:
        return f"{self.api.url}/erp-sync/integrations/{NAME}/reference?kind={kind}"

    def waiting(self) -> list[dict]:
        return [row for row in self.store.rows("active_links", integration_id=self.integration["id"])
                if row["reason_code"] == "reference_unlinked"]

    def linked(self) -> dict[str, str]:
        """The vendor links (job costing links by exact code when the sync reads the reference data)."""
        return {procore_id: item.erp_id
                for (kind, procore_id), item in confirmed_links(self.store, self.integration).items.items()
                if kind is ReferenceKind.VENDOR}


@pytest.fixture
def office(airflow_api, sandbox, airflow_sqlite_store) -> Office:
    return Office(airflow_api, sandbox, airflow_sqlite_store)


def test_an_approver_links_vendors_on_the_tab_and_the_waiting_records_go_out(office, browser):
    apex = office.vendors["Apex Concrete"]
    waiting_on_apex = [row for row in office.waiting() if '"Apex Concrete"' in row["message"]]
    assert waiting_on_apex

    casey = browser.sign_in(office.api, "casey")
    casey.goto(office.url())
    casey.locator(f"#ref-{apex}").get_by_role("button", name="Confirm").click()
    expect(casey.locator(".problem")).to_have_text(
        "Procore user 103 may not link reference data: missing the 'Can Push to Accounting' privilege in the "
        "Company Directory.")
    screenshot(casey, "i22-01-refused-without-can-push")
    assert office.linked() == {}

    page = browser.sign_in(office.api, "avery")
    page.goto(office.url())
    apex_row = page.locator(f"#ref-{apex}")
    expect(apex_row.locator(".reason")).to_contain_text('"Apex Concrete" and "Apex Concrete" are the same name')
    expect(apex_row.locator(".blocks")).to_have_text(str(len(waiting_on_apex)))
    expect(page.locator(f"#ref-{GRANITE} .reason")).to_contain_text("ambiguous: GRANITE")
    screenshot(page, "i22-02-vendors-with-suggestions")

    apex_row.get_by_role("button", name="Confirm").click()
    expect(page.locator(".notice")).to_contain_text("Linked as avery")
    expect(page.locator(f"#ref-{apex} .erp")).to_have_text("APEXCON · Apex Concrete")
    screenshot(page, "i22-03-confirmed-one")
    audited = len(history(office.store, office.integration, ReferenceKind.VENDOR, apex))
    page.reload()  # the page after an action is a GET: a reload repeats nothing
    expect(page.locator(f"#ref-{apex} .erp")).to_have_text("APEXCON · Apex Concrete")
    expect(page.locator(".problem")).to_have_count(0)
    assert len(history(office.store, office.integration, ReferenceKind.VENDOR, apex)) == audited == 1

    granite = page.locator(f"#ref-{GRANITE}")
    granite.get_by_role("combobox").fill("GRANITEINC")
    granite.get_by_role("button", name="Link").click()
    expect(page.locator(f"#ref-{GRANITE} .erp")).to_have_text("GRANITEINC · Granite Masonry, Inc.")
    expect(page.locator(f"#ref-{GRANITE} .reason")).to_contain_text("linked by hand (avery)")
    screenshot(page, "i22-04-linked-by-search")

    confirm_all = page.get_by_role("button", name="Confirm all shown (5)")
    confirm_all.click()
    expect(page.locator(".notice")).to_contain_text("Linked 5 vendor(s)")
    screenshot(page, "i22-05-confirmed-all-shown")

    page.locator(f"#ref-{STAR}").get_by_role("button", name="Unlink").click()
    expect(page.locator(f"#ref-{STAR} .erp")).to_contain_text("suggested: STARFRM")
    screenshot(page, "i22-06-unlinked")

    assert office.linked() == {apex: "APEXCON", GRANITE: "GRANITEINC", office.vendors["Brightline Electric"]: "BRIGHTEL",
                               office.vendors["Cascade Plumbing"]: "CASCPLUM",
                               office.vendors["Delta Steel Erectors"]: "DELTASTL",
                               office.vendors["Evergreen Drywall"]: "EVERDRY"}
    assert history(office.store, office.integration, ReferenceKind.VENDOR, STAR)[-1]["ended_by"] == "avery"

    # the ERP writes General Conditions as 01.100: a person confirms it, the project's and each of its 3 sub jobs'
    page.goto(office.url("cost_code"))
    general = page.locator(f"#ref-{GENERAL}")
    expect(general.locator(".reason")).to_have_text("cost code 01-100 is the ERP's 01.100 once the delimiter is ignored")
    page.get_by_role("button", name="Confirm all shown (4)").click()
    expect(page.locator(".notice")).to_contain_text("Linked 4 cost code(s)")
    expect(general.locator(".erp")).to_have_text("01.100 · General Conditions")
    owners = page.locator("#reference .owner").all_inner_texts()  # each copy of a code says whose it is
    assert len(set(owners)) > 1 and all(owner.startswith(("of project 24", "of sub job ")) for owner in owners)
    expect(page.locator(f"#ref-{DEMOLITION} .reason")).to_have_text(
        "No ERP cost code matches: choose one with Link, or set it up in the ERP first.")
    screenshot(page, "i22-07-delimiter-confirmed")

    export_integration(office.store, office.integration, "next")  # nobody touched the records in Procore
    assert office.waiting() == []  # every vendor and cost code the records name is linked now
    exported = {row["procore_id"] for row in office.store.rows("active_links", integration_id=office.integration["id"])
                if row["colour"] == "GREEN"}
    assert {row["procore_id"] for row in waiting_on_apex} <= exported

    # Sub jobs (the ERP has them): 01 and 02 linked by their codes, 03-1 against the ERP's 03.1 waits for a person
    page.goto(office.url("sub_job"))
    deck = page.locator(f"#ref-{sub_job_id(2401, 3)}")
    expect(deck.locator(".reason")).to_have_text("sub job 03-1 is the ERP's 03.1 once the delimiter is ignored")
    expect(page.locator(f"#ref-{sub_job_id(2401, 1)} .erp")).to_have_text("01 · Podium")
    screenshot(page, "i22-07-sub-jobs")
    deck.get_by_role("button", name="Confirm").click()
    expect(page.locator(".notice")).to_contain_text("Linked as avery")
    expect(page.locator(f"#ref-{sub_job_id(2401, 3)} .erp")).to_have_text("03.1 · Parking Deck")
    screenshot(page, "i22-08-sub-job-confirmed")


def test_a_project_relinked_on_the_tab_shows_why_its_sub_jobs_links_ended_and_re_matches_them(office, browser):
    from tests.test_reference_sync import add_acumatica_job

    add_acumatica_job(office.store, office.integration, "24-017",
                      {"01": ("Podium", False), "0000": ("Project-level costs", True)})  # no task for Tower
    refresh(office.store, office.integration, by="nightly")
    project = next(p for p in office.sandbox.sandboxes.procore.projects.values() if p.project_number == "2401")

    page = browser.sign_in(office.api, "avery")
    page.goto(office.url("project"))
    page.locator(f"#ref-{project.id}").get_by_role("button", name="Unlink").click()
    expect(page.locator(".notice")).to_contain_text("avery")
    row = page.locator(f"#ref-{project.id}")
    row.get_by_label(f"ERP project for {project.name}").fill("24-017")
    row.get_by_role("button", name="Link").click()
    expect(row.locator(".erp")).to_contain_text("24-017")

    page.goto(office.url("sub_job"))
    podium, tower = page.locator(f"#ref-{sub_job_id(2401, 1)}"), page.locator(f"#ref-{sub_job_id(2401, 2)}")
    expect(podium.locator(".erp")).to_have_text("01 · Podium")
    expect(podium.locator(".reason")).to_contain_text("matched by code: sub job 01 is exactly the ERP's 01 (avery)")
    expect(tower.locator(".erp")).to_have_text("not linked")
    expect(tower.locator(".flag")).to_have_text(
        "Link ended: project 2401 Harbor Point Tower was unlinked from job 2401; its sub jobs are matched again "
        "within the job it is linked to next")
    fits(page, "i22-09-sub-jobs-followed-their-project")  # at 1,280 and 1,440 px
    podium_links = history(office.store, office.integration, ReferenceKind.SUB_JOB, str(sub_job_id(2401, 1)))
    assert [(row["erp_id"], row["ended_by"] or row["started_by"]) for row in podium_links] == [
        ("2401/01", "avery"), ("24-017/01", "avery")]
