"""The Ready to Export page, served by Airflow's own API server app over HTTP: accept and reject as the
signed-in person (Procore confirms who they are and their permissions when they click), the run it
starts, the decision history, the daily summary and the export mode."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from erp_sync.models import ExportMode, RecordType
from browser import screenshot
from playwright.sync_api import expect
from conftest import TEST_INTEGRATIONS, AirflowApi, connect_person, export_integration, page_token
from seed_links import link_sandbox_references

pytestmark = pytest.mark.airflow
pytest_plugins = ["browser"]  # the browser fixtures
NAME = "summit-acumatica"


@pytest.fixture(scope="module")
def decisions_dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(Path(__file__).resolve().parents[1] / "dags" / "erp_export_decisions.py")).dags[
        "erp_export_decisions"]


class Office:
    """The accountants' browsers on the page of an integration whose approved records wait."""

    def __init__(self, api: AirflowApi, sandbox, store):
        self.api, self.sandbox, self.store = api, sandbox, store
        for integration in TEST_INTEGRATIONS:
            store.save_integration(integration.model_copy(update={"export_mode": ExportMode.ACCEPTANCE}))
        link_sandbox_references(store, sandbox)
        self.integration = next(row for row in store.integrations() if row["name"] == NAME)
        for integration in store.integrations():
            export_integration(store, integration, "sync")
        for airflow_user, procore_user in (("avery", 101), ("blake", 102), ("casey", 103)):
            connect_person(sandbox, store, airflow_user, procore_user)

    def url(self, path: str = "ready") -> str:
        return f"{self.api.url}/erp-sync/integrations/{NAME}/{path}"

    def ready(self, record_type: RecordType) -> list[dict]:
        return [row for row in self.store.rows("active_links", integration_id=self.integration["id"])
                if row["record_type"] == record_type.value and row["state"] == "ready"]

    def browser(self, person: str) -> requests.Session:
        """A person signed in to Airflow with the role that may trigger DAGs, as accountants have."""
        return self.api.browser(person, role="user")

    def post(self, person: str, path: str = "ready", **form) -> requests.Response:
        """Press a button of the page, as ``person``, with the page's form token."""
        browser = self.browser(person)
        token = page_token(browser, self.url() + f"?record_type={form.get('record_type', 'commitment')}")
        return browser.post(self.url(path), data={**form, "csrf_token": token}, timeout=60)

    def link(self, link_id: int) -> dict:
        return next(row for row in self.store.rows("active_links", integration_id=self.integration["id"])
                    if row["id"] == link_id)


@pytest.fixture
def office(airflow_api, sandbox, airflow_sqlite_store) -> Office:
    return Office(airflow_api, sandbox, airflow_sqlite_store)


def test_nothing_answers_without_airflows_sign_in(office):
    assert requests.get(office.url(), timeout=30).status_code == 401
    assert requests.post(office.url(), data={"record_type": "commitment", "decision": "accept"},
                         timeout=30).status_code == 401


def test_the_page_lists_what_waits_with_a_checkbox_each(office):
    page = office.browser("avery").get(office.url(), params={"record_type": "subcontractor_invoice"}, timeout=30)

    assert page.status_code == 200
    boxes = re.findall(r'name="procore_id" value="(\d+)"', page.text)
    assert sorted(map(int, boxes)) == sorted(row["procore_id"] for row in office.ready(RecordType.SUBCONTRACTOR_INVOICE))
    assert len(boxes) == 6 and "Waiting for accounting acceptance" in page.text
    assert f"ERP Sync daily summary for {NAME}: 15 waiting for accounting acceptance, 0 failed, 0 rejected" in page.text
    assert office.browser("avery").get(office.url(), params={"record_type": "nonsense"}, timeout=30).status_code == 422


def test_accepting_several_files_them_as_the_person_and_starts_the_export_run(office, decisions_dag):
    from airflow.models import DagRun

    decisions_dag.test()  # the DAG is parsed into Airflow's database, as the scheduler does
    commitments = office.ready(RecordType.COMMITMENT)[:2]

    answer = office.post("avery", record_type="commitment", decision="accept",
                         procore_id=[row["procore_id"] for row in commitments])

    assert [step.status_code for step in answer.history] == [303] and answer.status_code == 200
    assert answer.request.method == "GET"  # reloading the page it landed on repeats nothing
    assert "Accepted 2 records as Avery Admin:" in answer.text
    assert answer.text.count("waiting for the decisions run to carry it out") >= 2
    run_id = parse_qs(urlsplit(answer.url).query)["started"][0]
    (started,) = DagRun.find(dag_id="erp_export_decisions", run_id=run_id)
    assert started.triggering_user_name == "avery"

    assert decisions_dag.test().state == "success"  # what the started run does

    for row in commitments:
        assert office.link(row["id"])["colour"] == "GREEN"
    followed = office.browser("avery").get(answer.url.replace("/ready?", "/decisions?").replace("decided=", "ids="),
                                           timeout=30).json()
    assert followed["open"] is False and [each["colour"] for each in followed["decisions"]] == ["GREEN", "GREEN"]
    assert all(each["message"].startswith("Exported to Acumatica Cloud ERP as ") for each in followed["decisions"])
    history = office.browser("blake").get(office.url(), timeout=30).text
    assert history.count("<td>Avery Admin</td>") == 2 and "(Procore user" not in history
    assert history.count("Exported to Acumatica Cloud ERP as ") == 2


def test_a_rejection_needs_a_reason_and_then_leaves_the_list_yellow(office, decisions_dag):
    invoice = office.ready(RecordType.SUBCONTRACTOR_INVOICE)[0]

    no_reason = office.post("blake", record_type="subcontractor_invoice", decision="reject",
                            procore_id=[invoice["procore_id"]])
    assert no_reason.status_code == 400 and "a rejection needs a reason" in no_reason.text
    assert office.store.rows("export_decisions_of_integration", integration=NAME, record_type=None, limit=5) == []

    answer = office.post("blake", record_type="subcontractor_invoice", decision="reject",
                         procore_id=[invoice["procore_id"]], reason="Retention is 5%, not 10%")
    assert answer.history[0].status_code == 303 and "Rejected 1 record as Blake Standard:" in answer.text
    decisions_dag.test()

    row = office.link(invoice["id"])
    assert (row["state"], row["colour"]) == ("returned", "YELLOW") and "Retention is 5%, not 10%" in row["message"]
    page = office.browser("blake").get(office.url(), params={"record_type": "subcontractor_invoice"}, timeout=30)
    assert f'value="{invoice["procore_id"]}"' not in page.text
    assert "Retention is 5%, not 10%" in page.text and "<td>Blake Standard</td>" in page.text


def test_a_person_without_the_privilege_or_without_a_procore_account_is_refused_on_the_page(office):
    commitment = office.ready(RecordType.COMMITMENT)[0]

    casey = office.post("casey", record_type="commitment", decision="accept", procore_id=[commitment["procore_id"]])
    stranger = office.post("dana", record_type="commitment", decision="accept", procore_id=[commitment["procore_id"]])

    assert casey.status_code == 400
    assert ("Casey Nopush (Procore user 103) may not accept or reject exports: missing the "
            "&#39;Can Push to Accounting&#39; "
            "privilege in the Company Directory.") in casey.text
    assert stranger.status_code == 400 and "Airflow user dana has no Procore account connected." in stranger.text
    assert office.store.rows("export_decisions_of_integration", integration=NAME, record_type=None, limit=5) == []
    assert office.link(commitment["id"])["state"] == "ready"


def test_an_approver_changes_the_export_mode_and_it_is_audited(office):
    refused = office.post("casey", "export-mode", mode="direct")
    assert refused.status_code == 400 and ("Casey Nopush (Procore user 103) may not change whether approved records "
                                           "wait for accounting acceptance: missing the &#39;Can Push") in refused.text
    assert 'data-mode="acceptance">Accounting acceptance</strong>' in refused.text  # nothing changed

    answer = office.post("avery", "export-mode", mode="direct")

    assert answer.history[0].status_code == 303
    assert answer.url.startswith(office.url("").rstrip("/") + "?")  # back to the integration's page
    assert 'data-mode="direct">Direct export</strong>' in answer.text
    assert ("Export mode is now direct export: approved records go straight to Acumatica Cloud ERP at the next "
            "hourly sync.") in answer.text
    trail = office.store.rows("audit_trail", entity="integration", entity_id=NAME)
    assert [(row["action"], row["new_state"], row["actor"]) for row in trail if row["action"] == "export_mode"] == [
        ("export_mode", "direct", "avery (Procore user 101)")]


def test_the_demos_accountant_accepts_some_rejects_one_and_the_outcome_is_printed(office, decisions_dag, capsys):
    from erp_sync.demo import REJECTION_REASON, decide_as_accountant, print_decisions

    decisions_dag.test()
    avery = requests.Session()
    avery.headers["Authorization"] = f"Bearer {office.api.token('avery', role='user')}"
    capsys.readouterr()

    def ready(integration: dict, record_type: str) -> int:
        return len(office.store.rows("links_in_state", integration_id=integration["id"], state="ready",
                                     record_type=record_type))

    # every commitment and invoice, and one change order per integration (the others stay for the reconciliation)
    waiting = sum(ready(integration, "commitment") + ready(integration, "subcontractor_invoice")
                  + min(1, ready(integration, "commitment_change_order")) for integration in office.store.integrations())

    # No scheduler runs here: the decisions wait until erp_export_decisions runs, and she stops waiting at once.
    assert decide_as_accountant(avery, office.api.url, office.store, timeout=0) == {"pending": waiting}
    assert decisions_dag.test().state == "success"
    assert Counter(row["status"] for integration in office.store.integrations()
                   for row in office.store.rows("export_decisions_of_integration", integration=integration["name"],
                                                record_type=None, limit=1000)) == {"done": waiting}
    links = office.store.rows("active_links", integration_id=office.integration["id"])
    colours = Counter((row["record_type"], row["colour"]) for row in links)
    assert colours == Counter({("commitment", "GREEN"): 6, ("subcontractor_invoice", "GREEN"): 5,
                               ("subcontractor_invoice", "YELLOW"): 1, ("commitment_change_order", "GREEN"): 1,
                               ("commitment_change_order", "BLUE"): 2})
    print_decisions(office.store)
    printed = capsys.readouterr().out
    assert printed.count("Accepted ") == 6 and "Rejected 1 record as Avery Admin:" in printed  # 3 kinds, 2 companies
    assert f"was rejected: {REJECTION_REASON}" in printed
    assert "summit-acumatica     2 record(s) waiting under Ready to Export" in printed  # the change orders she left
    assert "harbor-quickbooks    2 record(s) waiting under Ready to Export" in printed


def test_the_daily_summary_dag_sends_each_integrations_summary_through_the_configured_notifier(
        office, tmp_path, monkeypatch):
    """The notifier that tells operations (here the log notifier writing to a file, as the demo's does)."""
    from airflow.dag_processing.dagbag import DagBag

    sent = tmp_path / "operations.log"
    monkeypatch.setenv("AIRFLOW__ERP_SYNC__NOTIFIER", "erp_sync.notify.LogNotifier")
    monkeypatch.setenv("AIRFLOW__ERP_SYNC__NOTIFIER_KWARGS", json.dumps({"path": str(sent)}))
    dag = DagBag(dag_folder=str(Path(__file__).resolve().parents[1] / "dags" / "erp_daily_summary.py")).dags[
        "erp_daily_summary"]

    assert dag.test().state == "success"

    notices = sent.read_text()
    for name in ("summit-acumatica", "harbor-quickbooks"):
        assert (f"ERP Sync daily summary: {name}\nERP Sync daily summary for {name}: 15 waiting for accounting "
                "acceptance, 0 failed, 0 rejected") in notices


# In a browser: Debian's Chromium, signed in to Airflow as the accountant --------------------------

def test_an_accountant_ticks_two_commitments_and_accepts_them_in_the_browser(office, decisions_dag, browser):
    decisions_dag.test()  # the DAG is parsed into Airflow's database, as the scheduler does
    ticked = office.ready(RecordType.COMMITMENT)[:2]
    page = browser.sign_in(office.api, "avery")
    page.goto(office.url() + "?record_type=commitment")
    assert page.locator("#ready input[type=checkbox]").count() == 6
    screenshot(page, "acceptance-01-ready-to-export")

    for row in ticked:
        page.check(f"#record-{row['procore_id']}")
    page.once("dialog", lambda dialog: dialog.accept())  # accepting several asks first
    page.click("button[value=accept]")

    assert page.text_content("#decided .notice") == "Accepted 2 records as Avery Admin:"
    assert page.locator("#ready input[type=checkbox]").count() == 4  # the accepted ones are no longer tickable
    screenshot(page, "acceptance-02-accepted")
    assert decisions_dag.test().state == "success"
    expect(page.locator("#decided")).to_have_attribute("data-done", "true", timeout=30_000)  # no reload
    expect(page.locator("#decided .outcome.GREEN")).to_have_count(2)
    for row in ticked:
        assert page.locator(f"#ready-{row['procore_id']}").count() == 0
        assert office.link(row["id"])["colour"] == "GREEN"
    page.reload()  # repeats nothing: the same two decisions, no new one
    assert len(office.store.rows("export_decisions_of_integration", integration=NAME, record_type=None, limit=9)) == 2
    history = page.text_content("#history")
    assert history.count("Avery Admin") == 2 and history.count("Exported to Acumatica Cloud ERP as") == 2
    screenshot(page, "acceptance-03-exported-and-history")


def test_an_accountant_rejects_an_invoice_with_a_reason_in_the_browser(office, decisions_dag, browser):
    decisions_dag.test()
    invoice = office.ready(RecordType.SUBCONTRACTOR_INVOICE)[0]
    page = browser.sign_in(office.api, "blake")
    page.goto(office.url() + "?record_type=subcontractor_invoice")

    page.check(f"#record-{invoice['procore_id']}")
    page.click("button[value=reject]")
    assert "a rejection needs a reason" in page.text_content(".problem")
    screenshot(page, "acceptance-04-reject-needs-a-reason")

    assert page.is_checked(f"#record-{invoice['procore_id']}")  # the tick survives the refusal
    page.fill("input[name=reason]", "Retention is 5%, not 10%")
    page.click("button[value=reject]")
    assert page.text_content("#decided .notice") == "Rejected 1 record as Blake Standard:"
    assert decisions_dag.test().state == "success"
    page.goto(office.url() + "?record_type=subcontractor_invoice")

    assert page.locator(f"#record-{invoice['procore_id']}").count() == 0
    assert "Retention is 5%, not 10%" in page.text_content("#history")
    assert "1 rejected by accounting" in page.text_content("#summary")
    row = office.link(invoice["id"])
    assert (row["state"], row["colour"]) == ("returned", "YELLOW")
    screenshot(page, "acceptance-05-rejected-with-reason")
