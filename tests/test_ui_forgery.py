"""Cross-site request forgery: a page on another port of the same host (the same site, so the browser
sends Airflow's SameSite=Lax sign-in cookie with it) makes a signed-in person's Chromium submit each
action of ERP Sync's pages; every one is refused with a sentence and nothing changes. Without the page's
own form token, with another person's, or from another origin, a request is refused the same way; a
script signed in with a Bearer header (the REST API's way, which no browser forges) needs none."""

from __future__ import annotations

import pytest
import requests
from browser import screenshot
from conftest import TEST_INTEGRATIONS, ServedApp, connect_person, export_integration, page_token
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from markupsafe import escape
from playwright.sync_api import expect

from erp_sync.identity import ProcoreAccounts
from erp_sync.models import ExportMode
from seed_links import link_sandbox_references

pytestmark = pytest.mark.airflow
pytest_plugins = ["browser"]  # the browser fixtures
DIRECT, ACCEPTING = (integration.name for integration in TEST_INTEGRATIONS)  # acumatica direct, quickbooks accepts
REFUSED = "ERP Sync refused this request and changed nothing"


class Scene:
    """avery, connected to Procore, with synced records on one integration and records waiting for
    acceptance on the other: every action of the pages would succeed for them."""

    def __init__(self, api, sandbox, store):
        self.api, self.sandbox, self.store = api, sandbox, store
        store.save_integration(TEST_INTEGRATIONS[0])
        store.save_integration(TEST_INTEGRATIONS[1].model_copy(update={"export_mode": ExportMode.ACCEPTANCE}))
        self.integrations = {row["name"]: row for row in store.integrations()}
        link_sandbox_references(store, sandbox)
        for integration in self.integrations.values():
            export_integration(store, integration, "sync")
        connect_person(sandbox, store, "avery", 101)
        self.synced = next(row for row in store.rows("active_links", integration_id=self.integrations[DIRECT]["id"])
                           if row["state"] != "ready")
        self.ready = next(row for row in store.rows("active_links", integration_id=self.integrations[ACCEPTING]["id"])
                          if row["state"] == "ready")

    def url(self, path: str) -> str:
        return f"{self.api.url}/erp-sync/{path}"

    def actions(self) -> dict[str, tuple[str, dict]]:
        """Each action of the pages, as a forger would post it: its address and a form that would do it."""
        return {
            "unlink": (self.url(f"integrations/{DIRECT}/unlink"),
                       {"record_type": self.synced["record_type"], "procore_id": self.synced["procore_id"]}),
            "accept": (self.url(f"integrations/{ACCEPTING}/ready"),
                       {"record_type": self.ready["record_type"], "decision": "accept",
                        "procore_id": self.ready["procore_id"]}),
            "reject": (self.url(f"integrations/{ACCEPTING}/ready"),
                       {"record_type": self.ready["record_type"], "decision": "reject",
                        "procore_id": self.ready["procore_id"], "reason": "forged"}),
            "sync-payments": (self.url(f"integrations/{DIRECT}/payments/sync"), {}),
            "export-mode": (self.url(f"integrations/{ACCEPTING}/export-mode"), {"mode": "direct"}),
            "disconnect": (self.url("identity/disconnect"), {"conn_id": "procore_test"}),
            "reference-link": (self.url(f"integrations/{DIRECT}/reference"),
                               {"kind": "vendor", "action": "link", "procore_id": "500001", "erp_id": "STARFRM"}),
        }

    def state(self) -> dict:
        """Everything an action would change: filed requests and decisions, the export modes, the connected
        account, and the calls made to the vendors (an action asks Procore who the person is first)."""
        return {"unlinks": self.store.rows("recent_unlink_requests", limit=10),
                "decisions": self.store.rows("export_decisions_of_integration", integration=ACCEPTING,
                                             record_type=None, limit=10),
                "modes": {row["name"]: row["export_mode"] for row in self.store.integrations()},
                "accounts": [row["procore_conn_id"] for row in ProcoreAccounts(self.store).of_user("avery")],
                "calls": {vendor: self.sandbox.calls(vendor) for vendor in ("procore", "acumatica", "quickbooks")},
                "runs": _queued_runs(),
                "reference_links": self.store.rows("open_reference_links_of",
                                                   integration_id=self.integrations[DIRECT]["id"])}


def _queued_runs() -> int:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        return session.scalar(select(func.count()).select_from(DagRun))


def forging_site(actions: dict[str, tuple[str, dict]]) -> FastAPI:
    """Another site on this host: each page submits its hidden form as soon as it opens."""
    site = FastAPI()

    @site.get("/{action}", response_class=HTMLResponse)
    def forge(action: str) -> str:
        url, form = actions[action]
        fields = "".join(f'<input type="hidden" name="{escape(key)}" value="{escape(value)}">'
                         for key, value in form.items())
        return (f'<!doctype html><title>You won a prize</title><form method="post" action="{escape(url)}">{fields}'
                '</form><script>document.forms[0].submit()</script>')

    return site


@pytest.fixture
def scene(airflow_api, sandbox, airflow_sqlite_store) -> Scene:
    return Scene(airflow_api, sandbox, airflow_sqlite_store)


@pytest.mark.parametrize("action", ["unlink", "accept", "reject", "sync-payments", "export-mode", "disconnect",
                                    "reference-link"])
def test_a_form_on_another_port_of_the_same_host_cannot_act_for_the_signed_in_person(scene, browser, action):
    forger = ServedApp(forging_site(scene.actions()), "forging site")
    try:
        page = browser.sign_in(scene.api, "avery")
        before = scene.state()

        page.goto(f"{forger.url}/{action}")

        expect(page.locator("#refusal")).to_contain_text(f"{REFUSED}: it was sent by a page of another site or port")
        screenshot(page, f"forgery-{action}-refused")
        assert scene.state() == before
    finally:
        forger.stop()


def test_an_action_without_the_pages_token_or_with_another_persons_is_refused(scene):
    avery, mallory = scene.api.browser("avery", "user"), scene.api.browser("mallory", "user")
    url, form = scene.actions()["export-mode"]
    before = scene.state()
    averys_token = page_token(avery, scene.url(f"integrations/{ACCEPTING}/ready"))

    answers = {"no token": avery.post(url, data=form, timeout=30),
               "a made-up token": avery.post(url, data={**form, "csrf_token": "x" * 40}, timeout=30),
               "another person's token": mallory.post(url, data={**form, "csrf_token": averys_token}, timeout=30),
               "another origin": avery.post(url, data={**form, "csrf_token": averys_token}, timeout=30,
                                            headers={"Origin": "http://127.0.0.1:1"}),
               "another site": avery.post(url, data={**form, "csrf_token": averys_token}, timeout=30,
                                          headers={"Sec-Fetch-Site": "cross-site"})}

    for why, answer in answers.items():
        assert (why, answer.status_code) == (why, 403)
        assert answer.json()["message"].startswith(REFUSED), why
    assert scene.state() == before


def test_the_pages_token_lets_the_person_act_and_a_bearer_script_needs_none(scene):
    avery = scene.api.browser("avery", "user")
    token = page_token(avery, scene.url(f"integrations/{ACCEPTING}/ready"))
    url, form = scene.actions()["export-mode"]

    by_page = avery.post(url, data={**form, "csrf_token": token}, timeout=60,
                         headers={"Origin": scene.api.url, "Sec-Fetch-Site": "same-origin"})
    script = requests.post(url, data={"mode": "acceptance"}, timeout=60,
                           headers={"Authorization": f"Bearer {scene.api.token('avery', 'user')}"})

    assert by_page.status_code == 200 and 'id="export-mode" data-mode="direct"' in by_page.text
    assert script.status_code == 200 and 'id="export-mode" data-mode="acceptance"' in script.text
