"""Reconciliation: per integration, Procore and the ERP side by side per commitment (totals per project,
differing commitments first, filters by project, differences only and cause; each row opens to its figures,
documents and the history of its differences), with the same rows as CSV or XLSX. Read-only: nothing here
changes state, so there is no form to protect; the figures come from the ``erp_reconciliation`` DAG."""

from __future__ import annotations

from typing import Annotated

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from erp_sync.page import ERP_NAMES
from erp_sync.reconcile.export import as_csv, as_xlsx
from erp_sync.reconcile.model import Cause
from erp_sync.reconcile.view import PAGE_SIZE, BadFilter, Filters, Page, ReconciliationView, page_number
from erp_sync.unlink import MAX_ID
from erp_sync_ui.airflow_api import airflow_base_path
from erp_sync_ui.app import StoreDep, templates
from erp_sync_ui.integrations import find_integration

router = APIRouter()
Text = Annotated[str | None, Query()]  # checked by Filters.parse: a wrong value gets a sentence, not a 422
RECONCILE_DAG = "erp_reconciliation"


@router.get("/{name}/reconciliation", name="reconciliation", response_class=HTMLResponse)
def reconciliation(request: Request, name: str, user: GetUserDep, store: StoreDep, project: Text = None,
                   only_differences: Text = None, cause: Text = None, page: Text = None) -> HTMLResponse:
    integration = find_integration(store, name)
    view = ReconciliationView(store, integration)
    problem, filters = None, Filters()
    try:
        filters = Filters.parse(project, only_differences, cause)
    except BadFilter as bad:
        problem = str(bad)
    shown = view.page(filters, page_number(page))
    return templates.TemplateResponse(request, "reconciliation.html", status_code=400 if problem else 200, context={
        "user": user.get_name(), "integration": integration, "erp_names": ERP_NAMES, "totals": view.totals(),
        "projects": view.projects(), "causes": view.causes(), "all_causes": list(Cause), "filters": filters,
        "page": shown, "page_size": PAGE_SIZE, "problem": problem, "dag": RECONCILE_DAG,
        "pages": _page_links(request, filters, shown), "airflow": airflow_base_path()})


@router.get("/{name}/reconciliation/{commitment_id}", name="reconciliation_row", response_class=HTMLResponse)
def reconciliation_row(request: Request, name: str, commitment_id: Annotated[int, Path(gt=0, le=MAX_ID)],
                       user: GetUserDep, store: StoreDep) -> HTMLResponse:
    row = ReconciliationView(store, find_integration(store, name)).row(commitment_id)
    return templates.TemplateResponse(request, "reconciliation_row.html", {"row": row},
                                      status_code=200 if row else 404)


@router.get("/{name}/reconciliation.{suffix}", name="reconciliation_download", response_model=None)
def download(name: str, suffix: str, user: GetUserDep, store: StoreDep, project: Text = None,
             only_differences: Text = None, cause: Text = None) -> Response:
    integration = find_integration(store, name)
    if suffix not in ("csv", "xlsx"):
        raise HTTPException(404, "The reconciliation downloads as .csv or .xlsx; there is no other kind of file.")
    try:
        filters = Filters.parse(project, only_differences, cause)
    except BadFilter as bad:
        raise HTTPException(400, str(bad)) from None
    rows = ReconciliationView(store, integration).every_row(filters)
    stem = f"reconciliation-{integration['name']}"
    if suffix == "csv":
        return Response(as_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'})
    return Response(as_xlsx(rows, integration["name"]), headers={"Content-Disposition": f'attachment; filename="{stem}.xlsx"'},
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def _page_links(request: Request, filters: Filters, shown: Page) -> dict[str, str | None]:
    def link(number: int) -> str:
        return str(request.url.include_query_params(**filters.query(), page=number))

    return {"previous": link(shown.number - 1) if shown.number > 1 else None,
            "next": link(shown.number + 1) if shown.number < shown.pages else None}
