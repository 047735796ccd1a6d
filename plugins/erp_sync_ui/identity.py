"""The Procore account page: a person connects their Procore account (OAuth authorization code), sees
it, and disconnects it. The Airflow user comes from Airflow's sign-in, never from the request."""

from __future__ import annotations

import json
import secrets
from typing import Annotated

from airflow.api_fastapi.core_api.security import GetUserDep
from cryptography.fernet import InvalidToken
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from erp_connectors.base import VendorApiError
from erp_connectors.procore import ProcoreHook
from erp_sync.credentials import seal, unseal
from erp_sync.identity import ProcoreAccounts
from erp_sync_ui.app import StoreDep, templates

router = APIRouter()
SIGN_IN_MINUTES = 10  # as long as Procore's authorization code lives


def _connections(store) -> list[str]:
    return [row["procore_conn_id"] for row in store.rows("procore_conn_ids")]


def _page(request: Request, store, user: str, notice: str | None = None, problem: str | None = None,
          status: int = 200, confirm: str | None = None) -> HTMLResponse:
    """The page; with ``confirm``, it asks whether to disconnect the account on that connection."""
    accounts = {row["procore_conn_id"]: row for row in ProcoreAccounts(store).of_user(user)}
    return templates.TemplateResponse(request, "identity.html", status_code=status, context={
        "user": user, "connections": _connections(store), "accounts": accounts, "notice": notice,
        "problem": problem, "confirm": confirm})


@router.get("/", response_class=HTMLResponse)
def procore_account(request: Request, user: GetUserDep, store: StoreDep) -> HTMLResponse:
    return _page(request, store, user.get_name())


@router.get("/connect")
def connect(request: Request, conn_id: str, user: GetUserDep, store: StoreDep) -> RedirectResponse:
    """Off to Procore's sign-in; ``state`` binds the answer to this person and expires with the code."""
    if conn_id not in _connections(store):
        raise HTTPException(404, f"No enabled integration uses the Procore connection {conn_id!r}.")
    state = seal(json.dumps({"user": user.get_name(), "conn_id": conn_id, "nonce": secrets.token_urlsafe(8)}))
    with ProcoreHook(conn_id) as procore:
        return RedirectResponse(procore.authorization_url(_callback_url(request), state), status_code=302)


@router.get("/callback", name="procore_callback", response_class=HTMLResponse)
def callback(request: Request, user: GetUserDep, store: StoreDep, state: str = "", code: str = "",
             error_description: str = "") -> HTMLResponse:
    """Procore sends the person back here with a code; the code proves nothing until Procore answers ``/me``."""
    name = user.get_name()
    try:
        started = json.loads(unseal(state, ttl=SIGN_IN_MINUTES * 60))
    except (RuntimeError, ValueError, InvalidToken):
        started = {}
    if started.get("user") != name:
        return _page(request, store, name, problem="This sign-in was not started by you here, or it took longer "
                                                   f"than {SIGN_IN_MINUTES} minutes: connect again.", status=400)
    if not code:
        return _page(request, store, name, problem=f"Procore did not connect the account: {error_description or 'no code'}.",
                     status=400)
    try:
        person = ProcoreAccounts(store).connect(name, started["conn_id"], code, _callback_url(request))
    except VendorApiError as error:
        return _page(request, store, name, problem=f"Procore refused the sign-in ({error.message}): connect again.",
                     status=400)
    return _page(request, store, name, notice=f"Connected: on {started['conn_id']} you act as {person.name} "
                                              f"(Procore user {person.procore_user_id}).")


@router.get("/disconnect", response_class=HTMLResponse)
def confirm_disconnect(request: Request, conn_id: str, user: GetUserDep, store: StoreDep) -> HTMLResponse:
    """Disconnect asks first: every action on ERP Sync's pages needs the connected account."""
    name = user.get_name()
    if not any(row["procore_conn_id"] == conn_id for row in ProcoreAccounts(store).of_user(name)):
        return _page(request, store, name, problem=f"No Procore account is connected on {conn_id}.", status=404)
    return _page(request, store, name, confirm=conn_id)


@router.post("/disconnect", response_class=HTMLResponse)
def disconnect(request: Request, conn_id: Annotated[str, Form()], user: GetUserDep, store: StoreDep) -> HTMLResponse:
    name = user.get_name()
    if ProcoreAccounts(store).disconnect(name, conn_id):
        return _page(request, store, name, notice=f"Disconnected from {conn_id}: connect again to act there.")
    return _page(request, store, name, problem=f"No Procore account was connected on {conn_id}.", status=404)


def _callback_url(request: Request) -> str:
    """The redirect URI registered with the Procore app: this API server's own callback address."""
    return str(request.url_for("procore_callback"))
