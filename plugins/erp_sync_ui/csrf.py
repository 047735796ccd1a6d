"""Cross-site request forgery protection of the page's actions.

Airflow's sign-in cookie is SameSite=Lax, so a form on any page of the same site (another port of the
same host counts as the same site) is sent with the person's sign-in. Every page therefore carries a
token it signed for the person and their sign-in (the JWT's ``jti``), put in each form by
``{{ csrf_field() }}``; a POST, PUT, PATCH or DELETE is refused unless it brings that token back and,
where the browser says where it comes from (``Sec-Fetch-Site``, ``Origin``), it comes from this origin.

A request that signs in with an ``Authorization: Bearer`` header (a script on the REST API) needs no
token: a browser never adds that header to a request another site makes it send.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

import jwt
from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
from airflow.api_fastapi.core_api.security import GetUserDep
from airflow.configuration import conf
from fastapi import HTTPException, Request
from itsdangerous import BadData, URLSafeTimedSerializer
from markupsafe import Markup, escape

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
TOKEN_HOURS = 24
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
REFUSED = ("ERP Sync refused this request and changed nothing: {why}. If you pressed a button on an ERP Sync "
           "page, reload that page and press it again.")


def _serializer() -> URLSafeTimedSerializer:
    # [api] secret_key: the API server's own secret, the same on every API server instance.
    return URLSafeTimedSerializer(conf.get("api", "secret_key"), salt="erp-sync-csrf")


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" and token else None


def _sign_in_id(request: Request) -> str:
    """The ``jti`` of the sign-in the request came with (already verified by Airflow's sign-in check)."""
    token = _bearer(request) or request.cookies.get(COOKIE_NAME_JWT_TOKEN, "")
    try:
        return str(jwt.decode(token, options={"verify_signature": False}).get("jti", ""))
    except jwt.InvalidTokenError:
        return ""


def issue(request: Request, user: str) -> str:
    return _serializer().dumps([user, _sign_in_id(request)])


def _comes_from_elsewhere(request: Request) -> str | None:
    """Why the browser's own account of where the request comes from rules it out, if it does."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site and fetch_site not in ("same-origin", "none"):
        return "it was sent by a page of another site or port, not by an ERP Sync page"
    origin = request.headers.get("origin")
    if origin is None:
        return None
    ours = {request.headers.get("host", "").lower(), urlsplit(conf.get("api", "base_url", fallback="")).netloc.lower()}
    if urlsplit(origin).netloc.lower() not in ours - {""}:
        return f"it was sent from a page at {origin}, not from this server"
    return None


async def protect_actions(request: Request, user: GetUserDep) -> None:
    """App-wide dependency: issues the page's token; refuses a state-changing request without it."""
    name = user.get_name()
    request.state.csrf_token = issue(request, name)
    if request.method in SAFE_METHODS or _bearer(request):
        return
    if why := _comes_from_elsewhere(request):
        raise HTTPException(403, REFUSED.format(why=why))
    sent = request.headers.get(HEADER) or (await request.form()).get(FIELD)
    if not isinstance(sent, str) or not sent:
        raise HTTPException(403, REFUSED.format(why="it carries no form token from an ERP Sync page"))
    try:
        signed = _serializer().loads(sent, max_age=TOKEN_HOURS * 3600)
    except BadData:
        raise HTTPException(403, REFUSED.format(why="its form token is not valid or has expired")) from None
    if not (isinstance(signed, list) and len(signed) == 2 and hmac.compare_digest(str(signed[0]), name)
            and hmac.compare_digest(str(signed[1]), _sign_in_id(request))):
        raise HTTPException(403, REFUSED.format(why="its form token was issued to another sign-in"))


def csrf_field(request: Request) -> Markup:
    """The hidden input that carries the page's token in a form."""
    return Markup(f'<input type="hidden" name="{FIELD}" value="{escape(request.state.csrf_token)}">')
