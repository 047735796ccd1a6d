"""Ready to Export: an integration's records waiting for accounting acceptance, per record type, with
Accept and Reject (a reason is required) for the ticked ones, the decision history, the daily summary
and the export mode. Decisions are taken as the signed-in person, confirmed by Procore with their
permissions at that moment, filed in ``export_decisions``, and carried out at once by the
``erp_export_decisions`` DAG that filing them starts."""

from __future__ import annotations

import uuid
from typing import Annotated

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse

from erp_sync.acceptance import change_export_mode, daily_summary, file_decisions
from erp_sync.identity import NotConnected
from erp_sync.models import ExportMode, RecordType
from erp_sync.store import utcnow
from erp_sync.sync.links import LinkState
from erp_sync.unlink import Refused
from erp_sync_ui.app import StoreDep, templates

router = APIRouter()
DECISIONS_DAG = "erp_export_decisions"
HISTORY_ROWS = 50
TAB_TITLES = {RecordType.COMMITMENT: "Commitments", RecordType.COMMITMENT_CHANGE_ORDER: "Commitment Change Orders",
              RecordType.SUBCONTRACTOR_INVOICE: "Subcontractor Invoices"}


def _page(request: Request, store, name: str, record_type: RecordType, notice: str | None = None,
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
        "integration": integration, "record_type": record_type, "tabs": TAB_TITLES, "ready": ready,
        "history": history, "summary": daily_summary(store, integration), "modes": list(ExportMode),
        "notice": notice, "problem": problem, "ticked": set(ticked[0]), "reason": ticked[1]})


@router.get("/{name}/ready", response_class=HTMLResponse)
def ready_to_export(request: Request, name: str, user: GetUserDep, store: StoreDep,
                    record_type: RecordType = RecordType.COMMITMENT) -> HTMLResponse:
    return _page(request, store, name, record_type)


@router.post("/{name}/ready", response_class=HTMLResponse)
def decide(request: Request, name: str, user: GetUserDep, store: StoreDep,
           record_type: Annotated[RecordType, Form()], decision: Annotated[str, Form()],
           procore_id: Annotated[list[int], Form()] = (), reason: Annotated[str, Form()] = "") -> HTMLResponse:
    person = user.get_name()
    try:
        filed = file_decisions(store, name, record_type.value, list(procore_id), decision, reason or None, person)
    except (ValueError, NotConnected, Refused) as problem:
        return _page(request, store, name, record_type, problem=str(problem), status=400,
                     ticked=(list(procore_id), reason))
    started = start_decisions_run(person)
    verb = "Accepted" if decision == "accept" else "Rejected"
    return _page(request, store, name, record_type, notice=f"{verb} {len(filed)} record(s) as {person}. {started}")


@router.post("/{name}/export-mode", response_class=HTMLResponse)
def export_mode(request: Request, name: str, user: GetUserDep, store: StoreDep,
                mode: Annotated[ExportMode, Form()],
                record_type: Annotated[RecordType, Form()] = RecordType.COMMITMENT) -> HTMLResponse:
    try:
        change_export_mode(store, name, mode, user.get_name())
    except (ValueError, NotConnected, Refused) as problem:
        return _page(request, store, name, record_type, problem=str(problem), status=400)
    words = ("approved records now wait here for accounting acceptance" if mode is ExportMode.ACCEPTANCE
             else "approved records now go straight to the ERP at the next hourly sync")
    return _page(request, store, name, record_type, notice=f"Export mode is {mode.value}: {words}.")


def start_decisions_run(airflow_user: str) -> str:
    """Start the DAG that carries the decisions out, as the person who took them (this is Airflow's API
    server, which creates runs as its own trigger endpoint does). Where the DAG is not parsed yet, its
    five-minute schedule picks the decisions up."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.exceptions import DagNotFound
    from airflow.utils.types import DagRunTriggeredByType

    try:
        run = trigger_dag(DECISIONS_DAG, triggered_by=DagRunTriggeredByType.UI, triggering_user_name=airflow_user,
                          run_id=f"decided__{utcnow():%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:6]}")
    except DagNotFound:
        return f"The {DECISIONS_DAG} DAG is not parsed yet; it carries them out within five minutes of starting."
    return f"{DECISIONS_DAG} carries them out now (run {run.run_id})."
