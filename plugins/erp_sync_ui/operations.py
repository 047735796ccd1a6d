"""The operations view of an integration: recent runs of each job, API calls against each vendor's budget,
the RED count over time, and where each vendor connection stands."""

from __future__ import annotations

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from erp_sync.operations import operations as read_operations
from erp_sync.page import ERP_NAMES
from erp_sync_ui.airflow_api import airflow_base_path
from erp_sync_ui.app import StoreDep, templates
from erp_sync_ui.charts import calls_against_budget, count_over_time
from erp_sync_ui.integrations import find_integration

router = APIRouter()


@router.get("/{name}", name="operations", response_class=HTMLResponse)
def operations(request: Request, name: str, user: GetUserDep, store: StoreDep) -> HTMLResponse:
    integration = find_integration(store, name)
    ops = read_operations(store, integration)
    charts = [(hours, calls_against_budget(f"{hours.vendor} API calls per hour", hours.hours, hours.calls,
                                                  hours.budget)) for hours in ops.api_calls]
    return templates.TemplateResponse(request, "operations.html", context={
        "user": user.get_name(), "integration": integration, "erp_names": ERP_NAMES, "ops": ops, "charts": charts,
        "red_chart": count_over_time("RED links after each refresh", ops.red_over_time), "airflow": airflow_base_path()})
