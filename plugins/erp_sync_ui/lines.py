"""A record's lines, opened from its row on the ERP Integrations page (read-only)."""

from __future__ import annotations

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from erp_sync.documents.page import record_lines
from erp_sync.models import RecordType
from erp_sync.page import ERP_NAMES, TAB_TITLES
from erp_sync_ui.airflow_api import airflow_base_path
from erp_sync_ui.app import StoreDep, templates
from erp_sync_ui.integrations import find_integration

router = APIRouter()


@router.get("/{name}/{record_type}/{procore_id}/lines", name="record_lines", response_class=HTMLResponse)
def lines(request: Request, name: str, record_type: RecordType, procore_id: int, user: GetUserDep,
          store: StoreDep) -> HTMLResponse:
    integration = find_integration(store, name)
    record = record_lines(store, integration["id"], record_type, procore_id)
    if record is None:
        raise HTTPException(404, f"{integration['name']} has no {record_type.words} with Procore id {procore_id}.")
    return templates.TemplateResponse(request, "lines.html", context={
        "user": user.get_name(), "integration": integration, "record": record, "tabs": TAB_TITLES,
        "erp_names": ERP_NAMES, "airflow": airflow_base_path()})
