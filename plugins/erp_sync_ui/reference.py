"""The Reference data tab of an integration: Projects, Vendors, Cost codes, Cost types (and Sub jobs where the
ERP has them), each Procore item with its link or suggestion and the reason, and how many waiting records it
blocks; Link (by search), Confirm, Confirm all shown, Unlink, taken as the signed-in person."""

from __future__ import annotations

from typing import Annotated

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from erp_sync.identity import NotConnected
from erp_sync.models import ErpKind
from erp_sync.page import ERP_NAMES
from erp_sync.reference.links import ReferenceRefused
from erp_sync.reference.model import ReferenceKind
from erp_sync.reference.page import TabAction, act, said
from erp_sync.reference.tab import erp_choices, owners, tab_rows
from erp_sync.unlink import Refused
from erp_sync_ui.airflow_api import airflow_base_path
from erp_sync_ui.app import StoreDep, templates
from erp_sync_ui.integrations import find_integration

router = APIRouter()
KIND_TITLES = {ReferenceKind.PROJECT: "Projects", ReferenceKind.VENDOR: "Vendors",
               ReferenceKind.COST_CODE: "Cost codes", ReferenceKind.COST_TYPE: "Cost types",
               ReferenceKind.SUB_JOB: "Sub jobs"}
WITHOUT_SUB_JOBS = {ErpKind.QUICKBOOKS_ONLINE}  # QuickBooks Online has nothing a sub job maps to
CHOICES = 200


def kinds_of(integration: dict) -> dict[ReferenceKind, str]:
    return {kind: title for kind, title in KIND_TITLES.items()
            if kind is not ReferenceKind.SUB_JOB or ErpKind(integration["erp_kind"]) not in WITHOUT_SUB_JOBS}


def _page(request: Request, store, user: str, name: str, kind: ReferenceKind, search: str = "",
          notice: str | None = None, problem: str | None = None, status: int = 200) -> HTMLResponse:
    integration = find_integration(store, name)
    rows = tab_rows(store, integration, kind)
    return templates.TemplateResponse(request, "reference.html", status_code=status, context={
        "user": user, "integration": integration, "erp_names": ERP_NAMES, "kinds": kinds_of(integration),
        "kind": kind, "rows": rows, "owners": owners(store, integration, rows),
        "choices": erp_choices(store, integration, kind, search, CHOICES),
        "search": search, "confirmable": [row.ref.procore_id for row in rows if row.suggestion and row.suggestion.item],
        "notice": notice, "problem": problem, "airflow": airflow_base_path()})


@router.get("/{name}/reference", name="reference_data", response_class=HTMLResponse)
def reference_data(request: Request, name: str, user: GetUserDep, store: StoreDep,
                   kind: ReferenceKind = ReferenceKind.VENDOR, search: Annotated[str, Query(max_length=200)] = "",
                   done: TabAction | None = None, count: Annotated[int, Query(ge=0, le=100_000)] = 0) -> HTMLResponse:
    person = user.get_name()
    notice = said(done, kind, count, person) if done else None
    return _page(request, store, person, name, kind, search, notice=notice)


@router.post("/{name}/reference", response_class=HTMLResponse, response_model=None)
def reference_action(request: Request, name: str, user: GetUserDep, store: StoreDep,
                     kind: Annotated[ReferenceKind, Form()], action: Annotated[TabAction, Form()],
                     procore_id: Annotated[list[str], Form()] = (), erp_id: Annotated[str, Form()] = "",
                     search: Annotated[str, Form(max_length=200)] = "") -> HTMLResponse | RedirectResponse:
    """Post/redirect/get: a reload of the page that follows repeats nothing."""
    person = user.get_name()
    try:
        count = act(store, name, person, kind, action, list(procore_id), erp_id)
    except (ValueError, NotConnected, Refused, ReferenceRefused) as problem:
        return _page(request, store, person, name, kind, search, problem=str(problem), status=400)
    page = request.url_for("reference_data", name=name).include_query_params(
        kind=kind.value, search=search, done=action.value, count=count)
    return RedirectResponse(str(page), status_code=303)
