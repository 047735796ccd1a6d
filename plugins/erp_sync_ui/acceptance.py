"""Ready to Export: an integration's records waiting for accounting acceptance, per record type, with
Accept and Reject (a reason is required) for the ticked ones, the decision history, the daily summary
and the export mode. Decisions are taken as the signed-in person, confirmed by Procore with their
permissions at that moment, filed in ``export_decisions``, and carried out at once by the
``erp_export_decisions`` DAG, which the page starts at once through Airflow's REST API as the person."""

from __future__ import annotations

from typing import Annotated

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse

from erp_sync.acceptance import change_export_mode, daily_summary, file_decisions
from erp_sync.identity import NotConnected
from erp_sync.models import ExportMode, RecordType
from erp_sync.page import ERP_NAMES, TAB_TITLES, IntegrationPage, View
from erp_sync.sync.links import LinkState
from erp_sync.unlink import Refused
from erp_sync_ui.airflow_api import TriggerRefused, trigger_dag
from erp_sync_ui.app import StoreDep, templates

router = APIRouter()
DECISIONS_DAG = "erp_export_decisions"
HISTORY_ROWS = 50


def _page(request: Request, store, user: str, name: str, record_type: RecordType, notice: str | None = None,
          problem: str | None = None, status: int = 200, ticked: tuple[list[int], str] = ([], "")) -> HTMLResponse:
    """The page; after a refusal, ``ticked`` keeps the person's ticks and reason so they need not redo them."""
    integration = store.one("integration_by_name", name=name)
    if integration is None or not integration["enabled"]:
        raise HTTPException(404, f"There is no enabled integration named {name!r}.")
    ready = store.rows("links_in_state", integration_id=integration["id"], state=LinkState.READY,
                       record_type=record_type.value)
    history = store.rows("export_decisions_of_integration", integration=name, record_type=record_type.value,
                         limit=HISTORY_ROWS)
    return templates.TemplateResponse(request, "ready.html", status_code=status, context={
        "user": user, "integration": integration, "erp_names": ERP_NAMES, "record_type": record_type,
        "tabs": TAB_TITLES, "view": None, "views": list(View),
        "counts": IntegrationPage(store, integration).counts(record_type), "ready": ready,
        "history": history, "summary": daily_summary(store, integration), "modes": list(ExportMode),
        "notice": notice, "problem": problem, "ticked": set(ticked[0]), "reason": ticked[1]})


@router.get("/{name}/ready", response_class=HTMLResponse)
def ready_to_export(request: Request, name: str, user: GetUserDep, store: StoreDep,
                    record_type: RecordType = RecordType.COMMITMENT) -> HTMLResponse:
    return _page(request, store, user.get_name(), name, record_type)


@router.post("/{name}/ready", response_class=HTMLResponse)
def decide(request: Request, name: str, user: GetUserDep, store: StoreDep,
           record_type: Annotated[RecordType, Form()], decision: Annotated[str, Form()],
           procore_id: Annotated[list[int], Form()] = (), reason: Annotated[str, Form()] = "") -> HTMLResponse:
    person = user.get_name()
    try:
        filed = file_decisions(store, name, record_type.value, list(procore_id), decision, reason or None, person)
    except (ValueError, NotConnected, Refused) as problem:
        return _page(request, store, person, name, record_type, problem=str(problem), status=400,
                     ticked=(list(procore_id), reason))
    verb = "Accepted" if decision == "accept" else "Rejected"
    try:
        started = f"{DECISIONS_DAG} carries them out now (run {trigger_dag(request, DECISIONS_DAG, {})})."
    except TriggerRefused as refused:
        started = f"{DECISIONS_DAG} carries them out at its next five-minute tick. {refused}."
    return _page(request, store, person, name, record_type, notice=f"{verb} {len(filed)} record(s) as {person}. {started}")


@router.post("/{name}/export-mode", response_class=HTMLResponse)
def export_mode(request: Request, name: str, user: GetUserDep, store: StoreDep,
                mode: Annotated[ExportMode, Form()],
                record_type: Annotated[RecordType, Form()] = RecordType.COMMITMENT) -> HTMLResponse:
    person = user.get_name()
    try:
        change_export_mode(store, name, mode, person)
    except (ValueError, NotConnected, Refused) as problem:
        return _page(request, store, person, name, record_type, problem=str(problem), status=400)
    words = ("approved records now wait here for accounting acceptance" if mode is ExportMode.ACCEPTANCE
             else "approved records now go straight to the ERP at the next hourly sync")
    return _page(request, store, person, name, record_type, notice=f"Export mode is {mode.value}: {words}.")
