"""The ERP Integrations page, served by Airflow's own API server with the plugin and driven in Debian's
Chromium, on the demo data: both test integrations synced once by the hourly sync DAG, with a commitment
whose vendor the ERP does not know (RED) and a subcontract rejected in Acumatica (YELLOW).

The page starts DAG runs through Airflow's REST API as the signed-in person; no scheduler runs in the
tests, so ``Desk.run_triggered`` plays its part: it takes the queued run the page started and runs that
DAG with ``dag.test()`` as the run's triggering user, with its conf."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from browser import fits, screenshot
from conftest import SyncedScene, page_token, person, release_only_invoice, run_as
from playwright.sync_api import expect

from sandbox.procore_data import DEMO_COMPANY_ID

pytestmark = pytest.mark.airflow
pytest_plugins = ["browser"]  # the browser fixtures
ACUMATICA = "summit-acumatica"
STILL_IN_ERP = "The requisition is still in Acumatica Cloud ERP. Please delete it before retrying."
UNLINKED = 'Not exported yet: link vendor "Foundry Mechanical" on the Reference data tab; the next sync exports it.'
AVERY, CASEY, EMERY = 101, 103, 105  # the controller; no 'Can Push to Accounting'; no ERP access at all


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    """The DAGs, parsed and saved in Airflow's database as the DAG processor does, so the REST API can
    trigger them."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[1] / "dags"), bundle_name="dags-folder")
    sync_bag_to_db(bag, "dags-folder", None)
    return bag


class Desk(SyncedScene):
    """The demo data as an accountant finds it, and the Airflow API server that serves the page."""

    def __init__(self, sandbox, store, api, dagbag):
        self.api, self.dagbag = api, dagbag
        foundry = next(v for v in sandbox.sandboxes.procore.vendors.values() if v.name == "Foundry Mechanical")
        projects = sandbox.sandboxes.procore.projects
        self.unlinked = next(r for r in sandbox.procore_rows("work_order_contracts") if r["status"] == "Approved"
                             and projects[r["project"]["id"]].company.id == DEMO_COMPANY_ID)
        sandbox.control("PATCH", f"procore/work_order_contracts/{self.unlinked['id']}",
                        json={"vendor": {"id": foundry.id, "name": foundry.name}})
        super().__init__(sandbox, store)
        self.rejected = self.links(ACUMATICA, "commitment", "GREEN")[0]
        sandbox.control("POST", f"acumatica/Subcontract/{self.rejected['erp_ref']}/reject")
        self.sync()

    def sync(self) -> None:
        """The hourly sync DAG, run as the scheduler would (so each link knows the task that touched it)."""
        run_as(self.dagbag.dags["erp_hourly_sync"], None)

    def links(self, name: str, record_type: str, colour: str) -> list[dict]:
        return [row for row in self.store.rows("active_links", integration_id=self.integrations[name]["id"])
                if row["record_type"] == record_type and row["colour"] == colour]

    def url(self, name: str = "", **query) -> str:
        path = f"{self.api.url}/erp-sync/integrations/{name}"
        return f"{path}?{urlencode(query)}" if query else path

    def queued(self, dag_id: str) -> int:
        """How many runs of ``dag_id`` the page queued."""
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from sqlalchemy import func, select

        with create_session() as session:
            return session.scalar(select(func.count()).select_from(DagRun).where(
                DagRun.dag_id == dag_id, DagRun.state == "queued"))

    def run_triggered(self, dag_id: str):
        """Run what the page queued for ``dag_id``, as its triggering user, and return that run's user."""
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            queued = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.state == "queued")).all()
            assert len(queued) == 1, f"the page should have queued one {dag_id} run, found {len(queued)}"
            user, conf, run_id = queued[0].triggering_user_name, dict(queued[0].conf or {}), queued[0].run_id
            session.delete(queued[0])
        run = run_as(self.dagbag.dags[dag_id], user, run_id=run_id, **conf)
        return user, run


@pytest.fixture
def desk(sandbox, airflow_sqlite_store, airflow_api, dagbag) -> Desk:
    return Desk(sandbox, airflow_sqlite_store, airflow_api, dagbag)


def unlink(page, desk: Desk, record: dict, expected: str) -> None:
    """Press Unlink on the record's row, see it pending, let the queue run, see its answer without a reload."""
    row = page.locator(f"#record-{record['procore_id']}")
    page.once("dialog", lambda dialog: dialog.accept())  # the confirmation says what unlinking does
    row.get_by_role("button", name="Unlink").click()
    outcome = row.locator(".outcome")
    expect(outcome).to_contain_text("Unlink requested: waiting for the unlink queue")
    page.evaluate("window.stayedOnThisPage = true")
    desk.run_triggered("erp_unlink_queue")
    expect(outcome).to_have_text(expected, timeout=30_000)
    assert page.evaluate("window.stayedOnThisPage") is True  # no reload happened


def test_an_accountant_sees_each_tab_and_view_with_its_colours_and_reasons(desk, browser):
    avery = person(desk.sandbox, desk.store, AVERY)
    page = browser.sign_in(desk.api, avery)

    page.goto(desk.url())
    expect(page.locator("h1")).to_have_text("ERP Integrations")
    expect(page.get_by_role("link", name=ACUMATICA)).to_be_visible()
    fits(page, "01-integrations")

    page.get_by_role("link", name=ACUMATICA).click()
    expect(page.locator("h2")).to_contain_text("Synced · Commitments")
    synced = page.locator("table.records tbody tr.GREEN")
    expect(synced).to_have_count(len(desk.links(ACUMATICA, "commitment", "GREEN")))
    expect(synced.first.locator("td").nth(9).get_by_role("link")).to_contain_text("log")
    fits(page, "02-commitments-synced")

    page.locator(".views").get_by_role("link", name="Waiting").click()
    waiting = page.locator(f"#record-{desk.unlinked['id']}")
    expect(waiting).to_have_class("BLUE")
    expect(waiting.locator(".reason")).to_have_text(UNLINKED)
    fits(page, "03-commitments-waiting-for-a-link")

    page.locator(".views").get_by_role("link", name="Rejected").click()
    rejected = page.locator(f"#record-{desk.rejected['procore_id']}")
    expect(rejected).to_have_class("YELLOW")
    expect(rejected.locator(".status")).to_contain_text("Rejected in the ERP")
    expect(rejected.locator(".reason")).not_to_be_empty()
    fits(page, "04-commitments-rejected")

    for tab in ("Commitment Change Orders", "Subcontractor Invoices"):  # a tab keeps the view it was opened in
        page.locator(".tabs").get_by_role("link", name=tab).click()
        expect(page.locator("h2")).to_contain_text(tab)
        page.locator(".views").get_by_role("link", name="Synced").click()
        expect(page.locator("h2")).to_contain_text(f"Synced · {tab}")
        expect(page.locator("table.records tbody tr.GREEN").first).to_be_visible()
    expect(page.locator(".views").get_by_role("link", name="Ready to Export")).to_have_attribute(
        "href", desk.url(ACUMATICA) + "/ready?record_type=subcontractor_invoice")


def test_unlink_answers_red_while_the_record_is_in_the_erp_and_green_once_it_is_deleted(desk, browser):
    avery = person(desk.sandbox, desk.store, AVERY)
    invoice = desk.links(ACUMATICA, "subcontractor_invoice", "GREEN")[0]
    page = browser.sign_in(desk.api, avery)
    page.goto(desk.url(ACUMATICA, record_type="subcontractor_invoice", view="synced"))

    unlink(page, desk, invoice, STILL_IN_ERP)
    screenshot(page, "05-unlink-red-still-in-erp")

    desk.remove_from_erp(ACUMATICA, invoice)
    unlink(page, desk, invoice, "Successfully Unlinked")
    expect(page.locator("[data-count=unlinked]")).to_have_text("1")
    expect(page.locator(f"#record-{invoice['procore_id']}").get_by_role("button")).to_be_disabled()
    screenshot(page, "06-unlink-green")
    (request, *_) = desk.store.rows("recent_unlink_requests", limit=1)
    assert (request["filed_by"], request["requested_by"]) == (avery, AVERY)
    page.reload()  # the unlink was the page's own request, not a form: a reload files nothing
    assert len(desk.store.rows("recent_unlink_requests", limit=9)) == 2 and desk.queued("erp_unlink_queue") == 0

    page.goto(desk.url(ACUMATICA, record_type="subcontractor_invoice", view="unlinked"))
    expect(page.locator(f"#record-{invoice['procore_id']}")).to_contain_text(invoice["procore_number"])
    screenshot(page, "07-invoices-unlinked")


def test_an_invoice_that_only_releases_retainage_is_red_until_released_in_acumatica_then_green(
        sandbox, airflow_sqlite_store, airflow_api, dagbag):
    first, later, released = release_only_invoice(sandbox)  # before the first sync: Acumatica makes no bill of it
    desk = Desk(sandbox, airflow_sqlite_store, airflow_api, dagbag)
    avery = desk.api.browser("avery", "viewer")

    def row_in(view: str) -> str:
        page = avery.get(desk.url(ACUMATICA, record_type="subcontractor_invoice", view=view), timeout=30).text
        found = re.search(rf'<tr id="record-{later["id"]}".*?</tr>', page, re.DOTALL)
        return found.group(0) if found else ""

    assert "release it in Acumatica on the bills that hold it" in row_in("failed") and not row_in("synced")
    bill = next(link for link in desk.links(ACUMATICA, "subcontractor_invoice", "GREEN")
                if link["procore_id"] == first["id"])["erp_ref"].split("/")[1]
    made = sandbox.control("POST", f"acumatica/Bill/{bill}/release-retainage", json={"amount": str(released)}).json()
    desk.sync()
    assert not row_in("failed")
    synced = row_in("synced")
    assert (f"Released in Acumatica Cloud ERP: retainage bill {made['ReferenceNbr']['value']} releases "
            f"{released:,.2f} from bill {bill}.") in synced
    assert "no ERP document" in synced and ">Unlink</button>" not in synced  # nothing in the ERP to unlink


def test_a_person_lacking_a_permission_sees_the_red_refusal_naming_it(desk, browser):
    casey = person(desk.sandbox, desk.store, CASEY)
    invoice = desk.links(ACUMATICA, "subcontractor_invoice", "GREEN")[0]
    desk.remove_from_erp(ACUMATICA, invoice)
    page = browser.sign_in(desk.api, casey)
    page.goto(desk.url(ACUMATICA, record_type="subcontractor_invoice", view="synced"))

    row = page.locator(f"#record-{invoice['procore_id']}")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Unlink").click()
    # Procore is asked in the request: the refusal comes before anything is queued
    expect(row.locator(".outcome.RED")).to_contain_text("the 'Can Push to Accounting' privilege")
    assert desk.store.rows("recent_unlink_requests", limit=5) == [] and desk.queued("erp_unlink_queue") == 0
    screenshot(page, "08-unlink-refused-permission")


def test_sync_payments_on_demand_shows_the_payment_under_its_invoice(desk, browser):
    avery = person(desk.sandbox, desk.store, AVERY)
    invoice = desk.links(ACUMATICA, "subcontractor_invoice", "GREEN")[0]
    bill = invoice["erp_ref"].split("/")[-1]
    desk.sandbox.control("POST", "acumatica/payments", json={"bill": bill, "amount": "125.50", "method": "CHECK",
                                                             "check_number": "10042"})
    page = browser.sign_in(desk.api, avery)
    page.goto(desk.url(ACUMATICA, record_type="subcontractor_invoice", view="synced"))

    page.get_by_role("button", name="Sync Payments for Synced Invoices").click()
    expect(page.locator("#notice")).to_contain_text("The payment import you started is queued")
    user, run = desk.run_triggered("erp_payment_import")
    assert (user, run.state) == (avery, "success")

    # the page follows the import and shows its payments once it finished, without a manual reload
    expect(page.locator("#notice.GREEN")).to_contain_text("The payment import you started finished at", timeout=30_000)
    expect(page.locator(f"#record-{invoice['procore_id']}")).to_contain_text("1 · $125.50")
    page.reload()
    assert desk.queued("erp_payment_import") == 0  # reloading started no second import
    payment = page.locator(f"#payments-{invoice['procore_id']} tr.payment")
    expect(payment).to_have_count(1)
    expect(payment).to_contain_text("125.50")
    expect(payment).to_contain_text("10042")
    fits(page, "09-invoices-with-payment")

    page.get_by_role("link", name=f"Operations of {ACUMATICA}").click()
    expect(page.locator("h1")).to_contain_text(f"Operations · {ACUMATICA}")
    expect(page.locator("figure[data-vendor=procore] svg rect").first).to_be_attached()
    expect(page.locator("h3", has_text="payment_import")).to_be_visible()
    expect(page.locator("#connections")).to_contain_text("procore")
    screenshot(page, "10-operations")


def test_a_payment_sync_procore_refuses_shows_why_on_the_invoices_tab(desk, browser):
    emery = person(desk.sandbox, desk.store, EMERY)
    page = browser.sign_in(desk.api, emery)
    page.goto(desk.url(ACUMATICA, record_type="subcontractor_invoice", view="synced"))

    page.get_by_role("button", name="Sync Payments for Synced Invoices").click()

    # Procore is asked in the request: nothing runs, so no failed run and no alert to operations
    expect(page.locator("#problem")).to_contain_text("Emery Field (Procore user 105) may not sync payments on demand")
    assert desk.queued("erp_payment_import") == 0
    assert desk.store.one("latest_run_of_job", integration_id=desk.integrations[ACUMATICA]["id"],
                          job="payment_import") is None
    screenshot(page, "12-payment-sync-refused")


def test_a_person_without_a_procore_account_is_told_how_to_connect(desk):
    signed_in = desk.api.browser("nobody-connected", "user")
    invoice = desk.links(ACUMATICA, "subcontractor_invoice", "GREEN")[0]

    token = page_token(signed_in, desk.url(ACUMATICA, record_type="subcontractor_invoice"))

    answer = signed_in.post(desk.url(ACUMATICA) + "/unlink", timeout=30, data={
        "record_type": "subcontractor_invoice", "procore_id": invoice["procore_id"], "csrf_token": token})
    payments = signed_in.post(desk.url(ACUMATICA) + "/payments/sync", data={"csrf_token": token}, timeout=30)

    assert answer.status_code == 409 and "Connect your Procore account first" in answer.json()["message"]
    assert payments.status_code == 409 and "Connect your Procore account first" in payments.text
    assert desk.store.rows("recent_unlink_requests", limit=5) == []


def test_bad_input_is_refused_with_a_sentence_and_files_nothing(desk):
    avery = desk.api.browser(person(desk.sandbox, desk.store, AVERY), "user")

    token = page_token(avery, desk.url(ACUMATICA))

    answer = avery.post(desk.url(ACUMATICA) + "/unlink", timeout=30,
                        data={"record_type": "invoice", "procore_id": "x", "csrf_token": token})

    assert answer.status_code == 400
    assert answer.json()["message"].startswith("The request cannot be processed: the record type must be")
    assert desk.store.rows("recent_unlink_requests", limit=5) == []


def test_the_views_filter_by_project_and_search_by_number(desk):
    avery = desk.api.browser("avery", "viewer")
    commitments = desk.links(ACUMATICA, "commitment", "GREEN")
    wanted = commitments[-1]

    def shown(**query) -> str:
        return avery.get(desk.url(ACUMATICA, view="synced", **query), timeout=30).text

    def rows(page: str) -> int:
        return page.count('<tr id="record-')

    by_number = shown(number=wanted["procore_number"][1:].lower())  # any part of it, in any case
    both = shown(number=wanted["procore_number"], project=wanted["procore_project_id"])
    by_project = shown(project=wanted["procore_project_id"])
    elsewhere = shown(project=1)

    assert rows(by_number) == sum(wanted["procore_number"] == row["procore_number"] for row in commitments)
    assert rows(both) == 1 and f'id="record-{wanted["procore_id"]}"' in both
    assert rows(by_project) == sum(wanted["procore_project_id"] == row["procore_project_id"] for row in commitments)
    assert rows(elsewhere) == 0 and "Nothing here for this filter" in elsewhere


ROUTES = [("GET", ""), ("GET", ACUMATICA), ("POST", f"{ACUMATICA}/unlink"), ("GET", f"{ACUMATICA}/unlink-requests/1"),
          ("POST", f"{ACUMATICA}/payments/sync")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_an_unsigned_visitor_gets_nothing(desk, method, path):
    answer = requests.request(method, desk.url(path), timeout=30, allow_redirects=False)
    operations = requests.get(f"{desk.api.url}/erp-sync/operations/{ACUMATICA}", timeout=30)

    assert answer.status_code == 401 and operations.status_code == 401
    assert ACUMATICA not in answer.text + operations.text


def test_an_unsigned_visitor_sees_nothing_in_a_browser(desk, browser):
    page = browser.visitor()
    page.goto(desk.url(ACUMATICA))
    expect(page.locator("body")).to_contain_text("Not authenticated")
    expect(page.locator("table")).to_have_count(0)
    screenshot(page, "11-unsigned-visitor")
