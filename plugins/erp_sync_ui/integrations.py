"""The ERP Integrations page: per integration, its export mode (the whole integration's switch), the tabs
Commitments / Commitment Change Orders / Subcontractor Invoices with the views Synced, Waiting, Failed, Rejected
and Unlinked; Unlink on synced rows; Sync Payments for Synced Invoices. Every action is taken as the signed-in
person; every page-changing form answers with a redirect, so a reload repeats nothing."""

from __future__ import annotations

from typing import Annotated

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from erp_sync.acceptance import change_export_mode
from erp_sync.identity import CONNECT_PAGE, NotConnected, ProcoreAccounts
from erp_sync.accountant import (
    QueueCounts,
    RunOutcome,
    last_sync,
    rejected_by,
    run_outcome,
    whose_wait,
    work_queue,
)
from erp_sync.jobs.payment_import import JOB as PAYMENT_IMPORT_JOB
from erp_sync.jobs.payment_import import payment_sync_refusal
from erp_sync.models import Colour, ErpKind, ExportMode, RecordType
from erp_sync.operations import latest_run
from erp_sync.page import ERP_NAMES, TAB_TITLES, IntegrationPage, View
from erp_sync.store import ROW_ID_MAX
from erp_sync.unlink import MAX_ID, Refused, file_request, shown
from erp_sync_ui.airflow_api import TriggerRefused, airflow_base_path, trigger_dag
from erp_sync_ui.app import StoreDep, templates
from erp_sync_ui.words import export_mode as mode_words

router = APIRouter()
UNLINK_QUEUE_DAG = "erp_unlink_queue"
PAYMENT_IMPORT_DAG = "erp_payment_import"
STILL_OPEN = ("pending", "processing", "waiting")


def find_integration(store, name: str) -> dict:
    integration = store.one("integration_by_name", name=name)
    if integration is None or not integration["enabled"]:
        raise HTTPException(404, f"There is no enabled integration named '{shown(name)}'.")
    return integration


@router.get("/", name="integrations_list", response_class=HTMLResponse)
def integrations(request: Request, user: GetUserDep, store: StoreDep) -> HTMLResponse:
    rows = [(row, {record_type: IntegrationPage(store, row).counts(record_type) for record_type in RecordType})
            for row in store.integrations()]
    return templates.TemplateResponse(request, "integrations.html", context={
        "user": user.get_name(), "integrations": rows, "tabs": TAB_TITLES, "View": View, "erp_names": ERP_NAMES,
        "queue": work_queue(store), "airflow": airflow_base_path(),
        "syncs": {row["id"]: last_sync(store, row) for row, _ in rows}})


@router.get("/{name}", response_class=HTMLResponse)
def integration(request: Request, name: str, user: GetUserDep, store: StoreDep,
                record_type: RecordType = RecordType.COMMITMENT, view: View = View.SYNCED,
                project: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
                number: Annotated[str | None, Query(max_length=100)] = None,
                page: Annotated[int, Query(ge=1)] = 1,
                payment_run: Annotated[str | None, Query(max_length=250)] = None,
                mode_changed: bool = False) -> HTMLResponse:
    person, integration = user.get_name(), find_integration(store, name)
    started = run_outcome(store, integration, PAYMENT_IMPORT_JOB, payment_run, "The payment import you started") \
        if payment_run else None
    notice = None
    if mode_changed:  # said from the mode as it is now, so a stale address never tells an old story
        mode, erp = integration["export_mode"], ERP_NAMES[integration["erp_kind"]]
        notice = f"Export mode is now {mode_words(mode, 'title').lower()}: {mode_words(mode, 'now', erp=erp)}."
    return _render(request, store, person, integration, record_type, view, project, number, page, started=started,
                   notice=notice)


def _render(request: Request, store, user: str, integration: dict, record_type: RecordType, view: View,
            project: int | None = None, number: str | None = None, page: int = 1, started: RunOutcome | None = None,
            problem: str | None = None, status: int = 200, notice: str | None = None) -> HTMLResponse:
    reads = IntegrationPage(store, integration)
    links = reads.links(record_type, view, project, number, page)
    ids = [row.procore_id for row in links.rows]
    invoices = record_type is RecordType.SUBCONTRACTOR_INVOICE
    payments = reads.payments(ids) if invoices else {}
    erp = ErpKind(integration["erp_kind"])
    waits = {row.procore_id: whose_wait(row.state, row.reason_code, row.reason, erp)
             for row in links.rows if row.colour == Colour.BLUE and not row.ended_at}
    return templates.TemplateResponse(request, "integration.html", status_code=status, context={
        "user": user, "integration": integration, "erp_names": ERP_NAMES, "record_type": record_type, "view": view, "views": list(View),
        "tabs": TAB_TITLES, "counts": reads.counts(record_type), "links": links, "projects": reads.projects,
        "project": project, "number": number or "", "payments": payments,
        "unlinks": reads.unlink_states(record_type, ids) if view is View.SYNCED else {},
        "connected": _connected(store, user, integration), "connect_page": CONNECT_PAGE, "airflow": airflow_base_path(),
        "started": started, "problem": problem, "notice": notice, "waits": waits, "rejected_by": rejected_by,
        "last_sync": last_sync(store, integration),
        "queue": work_queue(store).get(integration["id"], {}).get(record_type, QueueCounts()), "still_open": STILL_OPEN,
        "payment_import": latest_run(store, integration, PAYMENT_IMPORT_JOB) if invoices else None})


def _connected(store, user: str, integration: dict) -> bool:
    """Whether the person connected a Procore account for the integration (Procore confirms it when they act)."""
    return any(account["procore_conn_id"] == integration["procore_conn_id"]
               for account in ProcoreAccounts(store).of_user(user))


@router.post("/{name}/unlink")
def unlink(request: Request, name: str, record_type: Annotated[str, Form()], procore_id: Annotated[str, Form()],
           user: GetUserDep, store: StoreDep) -> JSONResponse:
    """File the request through the form's own validation, as the signed-in person, and start the queue."""
    integration = find_integration(store, name)
    fields = {"integration": integration["name"], "record_type": record_type, "procore_id": procore_id}
    try:
        request_id = file_request(store, fields, user.get_name(), ask_procore_first=True)
    except NotConnected as refusal:
        return JSONResponse({"colour": "RED", "message": str(refusal)}, status_code=409)
    except Refused as refusal:
        return JSONResponse({"colour": "RED", "message": str(refusal)}, status_code=400)
    answer = {"request_id": request_id, "status": "pending", "colour": "BLUE",
              "message": "Unlink requested: waiting for the unlink queue…",
              "poll": str(request.url_for("unlink_request", name=name, request_id=request_id))}
    try:
        answer["queue_run"] = trigger_dag(request, UNLINK_QUEUE_DAG, {})
    except TriggerRefused as refused:
        answer["message"] = f"Unlink requested; the queue takes it at its next five-minute tick. {refused}."
    return JSONResponse(answer, status_code=202)


@router.get("/{name}/unlink-requests/{request_id}", name="unlink_request")
def unlink_request(name: str, request_id: Annotated[int, Path(gt=0, le=ROW_ID_MAX)], user: GetUserDep,
                   store: StoreDep) -> JSONResponse:
    row = store.one("unlink_request", id=request_id)
    if row is None or row["integration"] != find_integration(store, name)["name"]:
        raise HTTPException(404, f"There is no unlink request {request_id} for {shown(name)}.")
    return JSONResponse({"request_id": row["id"], "status": row["status"], "colour": row["colour"] or "BLUE",
                         "message": row["message"] or "Waiting for the unlink queue…",
                         "open": row["status"] in STILL_OPEN})


@router.post("/{name}/payments/sync", response_class=HTMLResponse, response_model=None)
def sync_payments(request: Request, name: str, user: GetUserDep, store: StoreDep) -> HTMLResponse | RedirectResponse:
    """Sync Payments for Synced Invoices: the on-demand payment import, started as the signed-in person once
    Procore says now that they may (a refusal starts nothing, so it is never a failed run)."""
    integration, person = find_integration(store, name), user.get_name()
    show = (request, store, person, integration, RecordType.SUBCONTRACTOR_INVOICE, View.SYNCED)
    try:
        refusal = payment_sync_refusal(store, integration, person)
    except NotConnected as not_connected:
        return _render(*show, problem=str(not_connected), status=409)
    if refusal:
        return _render(*show, problem=refusal, status=403)
    try:
        run_id = trigger_dag(request, PAYMENT_IMPORT_DAG, {"integration": integration["name"]})
    except TriggerRefused as refused:
        return _render(*show, problem=f"{refused}.", status=403)
    # Back to the page by GET, so that reloading it does not start another import.
    page = request.url_for("integration", name=integration["name"]).include_query_params(
        record_type=RecordType.SUBCONTRACTOR_INVOICE.value, view=View.SYNCED.value, payment_run=run_id)
    return RedirectResponse(str(page), status_code=303)


@router.get("/{name}/payments/imports", name="payment_import_outcome")
def payment_import_outcome(name: str, user: GetUserDep, store: StoreDep,
                           run: Annotated[str, Query(min_length=1, max_length=250)]) -> JSONResponse:
    """What the payment import a person started became, for the page to follow without a reload."""
    return JSONResponse(run_outcome(store, find_integration(store, name), PAYMENT_IMPORT_JOB, run,
                                    "The payment import").as_json())


@router.post("/{name}/export-mode", name="export_mode", response_class=HTMLResponse, response_model=None)
def export_mode(request: Request, name: str, user: GetUserDep, store: StoreDep, mode: Annotated[ExportMode, Form()],
                record_type: Annotated[RecordType, Form()] = RecordType.COMMITMENT) -> HTMLResponse | RedirectResponse:
    """The whole integration's switch between accounting acceptance and direct export, for accounting approvers
    as Procore confirms them now; refused before anything changes."""
    integration, person = find_integration(store, name), user.get_name()
    try:
        change_export_mode(store, integration["name"], mode, person)
    except (ValueError, NotConnected, Refused) as problem:
        return _render(request, store, person, integration, record_type, View.SYNCED, problem=str(problem), status=400)
    page = request.url_for("integration", name=integration["name"]).include_query_params(
        record_type=record_type.value, mode_changed="true")
    return RedirectResponse(str(page), status_code=303)
