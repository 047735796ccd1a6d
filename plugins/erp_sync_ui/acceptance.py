"""Ready to Export: an integration's records waiting for accounting acceptance, per record type, with
Accept and Reject (a reason is required) for the ticked ones, the decision history and the daily summary
(the export mode, which is the whole integration's, is on the integration's page). Decisions are taken as the signed-in person, confirmed by Procore with their
permissions at that moment, filed in ``export_decisions``, and carried out at once by the
``erp_export_decisions`` DAG, which the page starts at once through Airflow's REST API as the person.

Every action answers with a redirect to the page (post/redirect/get): reloading it repeats nothing. The
page then follows what the action became (``/decisions``) until each record reached its end."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import Field

from erp_sync.acceptance import daily_summary, file_decisions
from erp_sync.accountant import MAX_POLLED, DecisionReads, QueueCounts, last_sync, ready_rows, work_queue
from erp_sync.identity import NotConnected
from erp_sync.models import RecordType
from erp_sync.page import ERP_NAMES, TAB_TITLES, IntegrationPage, View
from erp_sync.store import ROW_ID_MAX
from erp_sync.sync.links import LinkState
from erp_sync.unlink import Refused
from erp_sync_ui.airflow_api import TriggerRefused, airflow_base_path, trigger_dag
from erp_sync_ui.app import StoreDep, templates

router = APIRouter()
DECISIONS_DAG = "erp_export_decisions"
HISTORY_ROWS = 50
Sort = Literal["number", "title", "project", "vendor", "amount", "waiting"]
DecisionIds = Annotated[list[Annotated[int, Field(gt=0, le=ROW_ID_MAX)]], Query(max_length=MAX_POLLED)]


def _integration(store, name: str) -> dict:
    integration = store.one("integration_by_name", name=name)
    if integration is None or not integration["enabled"]:
        raise HTTPException(404, f"There is no enabled integration named {name!r}.")
    return integration


@dataclass(frozen=True)
class Listing:
    """How she asked to see the list: a search and a sort."""

    search: str = ""
    sort: str = "number"
    descending: bool = False


def _page(request: Request, store, user: str, name: str, record_type: RecordType, decided: list[int] = (),
          notice: str | None = None, problem: str | None = None, status: int = 200,
          ticked: tuple[list[int], str] = ([], ""), listing: Listing = Listing()) -> HTMLResponse:
    """The page; after a refusal, ``ticked`` keeps the person's ticks and reason so they need not redo them."""
    integration = _integration(store, name)
    decisions, reads = DecisionReads(store, integration), IntegrationPage(store, integration)
    links = store.rows("links_in_state", integration_id=integration["id"], state=LinkState.READY,
                       record_type=record_type.value)
    ready = ready_rows(store, integration, links, reads.projects, listing.search, listing.sort, listing.descending)
    return templates.TemplateResponse(request, "ready.html", status_code=status, context={
        "user": user, "integration": integration, "erp_names": ERP_NAMES, "record_type": record_type,
        "tabs": TAB_TITLES, "view": None, "views": list(View), "listing": listing, "waiting": len(links),
        "counts": reads.counts(record_type), "ready": ready,
        "deciding": decisions.open_by_record(record_type), "decided": decisions.of_ids(list(decided)),
        "history": decisions.history(record_type, HISTORY_ROWS), "summary": daily_summary(store, integration),
        "queue": work_queue(store).get(integration["id"], {}).get(record_type, QueueCounts()),
        "last_sync": last_sync(store, integration), "airflow": airflow_base_path(),
        "notice": notice, "problem": problem, "ticked": set(ticked[0]),
        "reason": ticked[1]})


@router.get("/{name}/ready", name="ready_to_export", response_class=HTMLResponse)
def ready_to_export(request: Request, name: str, user: GetUserDep, store: StoreDep,
                    record_type: RecordType = RecordType.COMMITMENT, decided: DecisionIds = (),
                    started: Annotated[str | None, Query(max_length=250)] = None,
                    search: Annotated[str, Query(max_length=100)] = "", sort: Sort = "number",
                    order: Literal["asc", "desc"] = "asc") -> HTMLResponse:
    notice = None
    if decided and not started:
        notice = "Airflow did not start the decisions run now: its five-minute tick carries them out."
    return _page(request, store, user.get_name(), name, record_type, decided=decided, notice=notice,
                 listing=Listing(search, sort, order == "desc"))


@router.get("/{name}/decisions", name="decision_outcomes")
def decision_outcomes(name: str, user: GetUserDep, store: StoreDep, ids: DecisionIds = ()) -> JSONResponse:
    """What the decisions became, for the page to follow without a reload."""
    outcomes = DecisionReads(store, _integration(store, name)).of_ids(list(ids))
    return JSONResponse({"decisions": [outcome.as_json() for outcome in outcomes],
                         "open": any(outcome.open for outcome in outcomes)})


@router.post("/{name}/ready", response_class=HTMLResponse, response_model=None)
def decide(request: Request, name: str, user: GetUserDep, store: StoreDep,
           record_type: Annotated[RecordType, Form()], decision: Annotated[str, Form()],
           procore_id: Annotated[list[int], Form()] = (), reason: Annotated[str, Form()] = ""
           ) -> HTMLResponse | RedirectResponse:
    person = user.get_name()
    try:
        filed = file_decisions(store, name, record_type.value, list(procore_id), decision, reason or None, person)
    except (ValueError, NotConnected, Refused) as problem:
        return _page(request, store, person, name, record_type, problem=str(problem), status=400,
                     ticked=(list(procore_id), reason))
    page = request.url_for("ready_to_export", name=name).include_query_params(record_type=record_type.value)
    try:  # the run's id tells scripts which run carries them out; without it the DAG's own tick does
        page = page.include_query_params(started=trigger_dag(request, DECISIONS_DAG, {}))
    except TriggerRefused:
        pass
    return RedirectResponse(f"{page}&" + "&".join(f"decided={each}" for each in filed), status_code=303)
