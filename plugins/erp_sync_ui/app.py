"""The FastAPI app behind ERP Sync's pages: one router per page, all behind Airflow's sign-in, every
action protected against cross-site forgery, and every refusal answered with a sentence."""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus
from importlib import import_module
from pathlib import Path
from typing import Annotated

from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
from airflow.api_fastapi.core_api.security import requires_access_view
from airflow.sdk.exceptions import AirflowNotFoundException
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from starlette.exceptions import HTTPException as StarletteHTTPException

from erp_sync.store import STORE_CONN_ID, Store
from erp_sync_ui.csrf import SAFE_METHODS, csrf_field, protect_actions
from erp_sync_ui.words import FILTERS

URL_PREFIX = "/erp-sync"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.globals["csrf_field"] = pass_context(lambda context: csrf_field(context["request"]))
templates.env.filters.update(FILTERS)
NO_STORE = (f"ERP Sync has no status store yet: define the Airflow connection {STORE_CONN_ID} (for example "
            f"AIRFLOW_CONN_{STORE_CONN_ID.upper()}='postgresql://user:password@host:5432/erp_sync' in the API "
            "server's environment, or Admin → Connections), run `python -m erp_sync upgrade`, then reload this page.")


def status_store() -> Iterator[Store]:
    try:
        store = Store.from_connection()
    except AirflowNotFoundException:
        raise HTTPException(409, NO_STORE) from None
    try:
        yield store
    finally:
        store.engine.dispose()


StoreDep = Annotated[Store, Depends(status_store)]


def refusal(request: Request, status: int, sentence: str, headers: dict[str, str] | None = None) -> Response:
    """A refusal as a page for a browser that asks for one, else as JSON (the page's own scripts)."""
    if "text/html" in request.headers.get("accept", ""):
        return templates.TemplateResponse(request, "refusal.html", status_code=status, headers=headers,
                                          context={"sentence": sentence})
    return JSONResponse({"detail": sentence, "colour": "RED", "message": sentence}, status_code=status,
                        headers=headers)


PLAIN_WORDS = {404: "ERP Sync has no page at this address: open ERP Integrations from Airflow's menu.",
               405: "This address of ERP Sync does not take that kind of request; nothing was changed."}


def _refused(request: Request, error: StarletteHTTPException) -> Response:
    """Starlette's own refusals (no such address) carry only the status's name: say it in words."""
    sentence = PLAIN_WORDS.get(error.status_code, str(error.detail)) if error.detail == HTTPStatus(
        error.status_code).phrase else str(error.detail)
    if error.status_code == 401:
        sentence += ": sign in to Airflow, then open this page again."
    return refusal(request, error.status_code, sentence, error.headers)


def _unreadable_input(request: Request, error: RequestValidationError) -> Response:
    problems = "; ".join(f"{'.'.join(str(part) for part in problem['loc'][1:]) or 'the form'}: "
                         f"{problem['msg'][0].lower()}{problem['msg'][1:]}" for problem in error.errors())
    start = ("ERP Sync cannot show this page" if request.method in SAFE_METHODS
             else "ERP Sync cannot take this request and changed nothing")
    return refusal(request, 422, f"{start}: {problems}.")


async def refuse_nul_characters(request: Request) -> None:
    """No name, number or reason holds a NUL character, and PostgreSQL's text cannot: refused with a
    sentence here rather than failing in the store."""
    values = [*request.path_params.values(), *request.query_params.values()]
    if request.method not in SAFE_METHODS:
        values += [value for value in (await request.form()).values() if isinstance(value, str)]
    if any("\x00" in str(value) for value in values):
        raise HTTPException(400, "ERP Sync cannot take this request and changed nothing: it holds a NUL character "
                                 "(\\0), which no name, number or reason can contain.")


def create_app() -> FastAPI:
    from erp_sync_ui.identity import router as identity
    from erp_sync_ui.integrations import router as integrations
    from erp_sync_ui.operations import router as operations

    # Signed in and allowed to see the Airflow website, then a page's own token for any action: checked
    # in this order before any route runs.
    app = FastAPI(title="ERP Sync", dependencies=[Depends(requires_access_view(AccessView.WEBSITE)),
                                                   Depends(protect_actions), Depends(refuse_nul_characters)])
    app.add_exception_handler(StarletteHTTPException, _refused)
    app.add_exception_handler(RequestValidationError, _unreadable_input)
    app.include_router(identity, prefix="/identity")
    app.include_router(integrations, prefix="/integrations")
    app.include_router(import_module("erp_sync_ui.acceptance").router, prefix="/integrations")
    app.include_router(import_module("erp_sync_ui.reference").router, prefix="/integrations")
    app.include_router(import_module("erp_sync_ui.lines").router, prefix="/integrations")
    app.include_router(import_module("erp_sync_ui.reconciliation").router, prefix="/integrations")
    app.include_router(operations, prefix="/operations")
    return app
