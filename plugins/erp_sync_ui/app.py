"""The FastAPI app behind ERP Sync's pages: one router per page, all behind Airflow's sign-in."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import import_module
from pathlib import Path
from typing import Annotated

from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
from airflow.api_fastapi.core_api.security import requires_access_view
from fastapi import Depends, FastAPI
from fastapi.templating import Jinja2Templates

from erp_sync.store import Store

URL_PREFIX = "/erp-sync"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def status_store() -> Iterator[Store]:
    store = Store.from_connection()
    try:
        yield store
    finally:
        store.engine.dispose()


StoreDep = Annotated[Store, Depends(status_store)]


def create_app() -> FastAPI:
    from erp_sync_ui.identity import router as identity
    from erp_sync_ui.integrations import router as integrations
    from erp_sync_ui.operations import router as operations

    # Signed in and allowed to see the Airflow website: checked before any route runs.
    app = FastAPI(title="ERP Sync", dependencies=[Depends(requires_access_view(AccessView.WEBSITE))])
    app.include_router(identity, prefix="/identity")
    app.include_router(integrations, prefix="/integrations")
    app.include_router(import_module("erp_sync_ui.acceptance").router, prefix="/integrations")
    app.include_router(import_module("erp_sync_ui.reconciliation").router, prefix="/integrations")
    app.include_router(operations, prefix="/operations")
    return app
