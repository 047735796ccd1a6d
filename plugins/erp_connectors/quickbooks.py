"""QuickBooks Online Accounting API v3.

Airflow connection (type ``http``): host = API base (``https://quickbooks.api.intuit.com``, or the
sandbox's ``http://127.0.0.1:8700/quickbooks``), login/password = the app's OAuth client id and
secret; extras ``realm_id`` (the company), ``refresh_token`` (from the app's authorisation),
``token_url`` (default Intuit's ``https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer``; the
sandbox sets its own) and ``minorversion`` (75).

Facts relied on (Intuit developer documentation): access tokens last an hour and are renewed with
the refresh token, which rotates: the newest one must be kept, so the hook hands it to a
``RefreshTokenStore``; ``requestid`` makes a write idempotent, so writes carrying one are retried
safely; errors come as a ``Fault``, sometimes inside an HTTP 200; at most 500 requests a minute
and 10 at once per company, then 429; queries page with ``STARTPOSITION``/``MAXRESULTS`` (1,000 at
most); ``cdc`` returns at most 1,000 objects per entity and looks back at most 30 days.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar, Protocol

from erp_connectors.base import BearerToken, VendorApiError, VendorHook

INTUIT_TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
MINOR_VERSION = 75
QUERY_PAGE = 1000


class RefreshTokenStore(Protocol):
    """Where the newest refresh token of a connection is kept between runs."""

    def load(self, conn_id: str) -> str | None: ...

    def save(self, conn_id: str, refresh_token: str) -> None: ...


def quoted(value: str) -> str:
    return "'" + str(value).replace("'", "\\'") + "'"


class QuickBooksHook(VendorHook):
    vendor = "quickbooks"
    conn_type = "http"
    hook_name = "QuickBooks Online"
    settings_extras: ClassVar[tuple[str, ...]] = ("realm_id", "refresh_token", "token_url", "minorversion")
    errors_inside_success = True

    def __init__(self, conn_id: str, token_store: RefreshTokenStore | None = None, **kwargs: Any):
        self.token_store = token_store
        self._token = BearerToken(self._fetch_token)
        super().__init__(conn_id, auth_type=lambda *_credentials: self._token, **kwargs)

    @property
    def realm(self) -> str:
        realm = self.extras.get("realm_id")
        if not realm:
            raise VendorApiError(self.vendor, "-", self.http_conn_id, 400,
                                 f"connection {self.http_conn_id!r} needs the extra 'realm_id' (the QuickBooks company)")
        return str(realm)

    def _fetch_token(self) -> tuple[str, float]:
        refresh_token = (self.token_store.load(self.http_conn_id) if self.token_store else None) \
            or self.extras.get("refresh_token")
        response = self.send_once(
            "POST", self.extras.get("token_url") or INTUIT_TOKEN_URL,
            auth=(self.connection.login, self.connection.password),
            data={"grant_type": "refresh_token", "refresh_token": refresh_token})
        body = response.json()
        if body.get("refresh_token") and body["refresh_token"] != refresh_token:
            if self.token_store:
                self.token_store.save(self.http_conn_id, body["refresh_token"])
            else:
                self.log.warning("QuickBooks rotated the refresh token and no token store is set: keep the new one")
        return body["access_token"], float(body.get("expires_in", 3600))

    def reauthenticate(self) -> bool:
        return self._token.forget()

    def error_message(self, body: dict[str, Any], ok: bool) -> str | None:
        fault = body.get("Fault") or body.get("fault")
        if fault:
            errors = fault.get("Error") or fault.get("error") or []
            return "; ".join(f"{e.get('Message') or e.get('message')}: {e.get('Detail') or e.get('detail')} "
                             f"(code {e.get('code')})" for e in errors) or str(fault)
        return None if ok else str(body)

    def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
              idempotent: bool | None = None) -> dict[str, Any]:
        params = {"minorversion": self.extras.get("minorversion", MINOR_VERSION), **(params or {})}
        return self.request(method, f"v3/company/{self.realm}/{path}", params=params, json=json,
                            idempotent=idempotent).json()

    # Reads ---------------------------------------------------------------------------------
    def query(self, statement: str) -> Iterator[dict[str, Any]]:
        """Every row a ``SELECT`` finds, page by page."""
        entity = statement.split()[3] if statement.lower().startswith("select") else ""
        start = 1
        while True:
            body = self._call("GET", "query", params={
                "query": f"{statement} STARTPOSITION {start} MAXRESULTS {QUERY_PAGE}"})
            rows = next((v for k, v in body.get("QueryResponse", {}).items() if k.lower() == entity.lower()), [])
            yield from rows
            if len(rows) < QUERY_PAGE:
                return
            start += len(rows)

    def read(self, entity: str, object_id: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", f"{entity.lower()}/{object_id}")[entity]
        except VendorApiError as error:
            if "Object Not Found" in error.message:
                return None
            raise

    def changes(self, entities: list[str], since: datetime) -> dict[str, list[dict[str, Any]]]:
        """``cdc``: what changed since a moment, deletions as ``{"Id", "status": "Deleted"}``."""
        body = self._call("GET", "cdc", params={"entities": ",".join(entities), "changedSince": since.isoformat()})
        changed: dict[str, list[dict[str, Any]]] = {entity: [] for entity in entities}
        for response in body.get("CDCResponse", []):
            for block in response.get("QueryResponse", []):
                for entity in entities:
                    changed[entity].extend(block.get(entity, []))
        return changed

    # Writes: each carries a requestid, which makes repeating it harmless -------------------
    def create(self, entity: str, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        return self._call("POST", entity.lower(), params={"requestid": request_id}, json=body, idempotent=True)[entity]

    def update(self, entity: str, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        return self._call("POST", entity.lower(), params={"requestid": request_id},
                          json={**body, "sparse": True}, idempotent=True)[entity]

    def delete(self, entity: str, object_id: str, sync_token: str, request_id: str) -> None:
        self._call("POST", entity.lower(), params={"operation": "delete", "requestid": request_id},
                   json={"Id": object_id, "SyncToken": sync_token}, idempotent=True)

    def check(self) -> dict[str, int]:
        body = self._call("GET", "query", params={"query": "SELECT COUNT(*) FROM Vendor"})
        return {"quickbooks_vendors": int(body.get("QueryResponse", {}).get("totalCount", 0))}

