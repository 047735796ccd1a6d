"""A stand-in for the QuickBooks Online Accounting API v3, served under ``/quickbooks``.

Follows Intuit's documentation for what ERP Sync and common clients use: OAuth 2.0 with a
discovery document (``/.well-known/openid_configuration``, so ``intuitlib`` can be pointed here),
``POST /oauth2/v1/tokens/bearer`` refreshing with HTTP Basic client credentials (access tokens
last an hour; the refresh token rotates and the newest must be kept); entities at
``/v3/company/{realmId}/{entity}`` (create, full or sparse update with ``SyncToken``,
``operation=delete``, BillPayment void with ``operation=update&include=void``); ``query`` by GET
or by POST with the query as text; ``cdc`` with tombstones for deletions, at most 30 days back and
1,000 objects per entity; ``minorversion``; ``requestid`` replays the first answer of a write;
errors as ``{"Fault": {"Error": [...], "type": ...}}``; 429 past 500 requests a minute or 10 at once.
"""


import base64
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, Form, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.quickbooks_data import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_REALM,
    ENTITIES,
    Limits,
    OAuthError,
    QboFault,
    QuickBooksState,
    stamp,
)

def create_quickbooks_app(state: QuickBooksState) -> FastAPI:
    app = FastAPI(title="QuickBooks Online sandbox (Accounting API v3)", docs_url="/sandbox-docs")

    @app.exception_handler(QboFault)
    def fault(_request: Request, error: QboFault) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(OAuthError)
    def oauth_error(_request: Request, error: OAuthError) -> JSONResponse:
        return JSONResponse({"error": error.error}, status_code=error.status)

    @app.middleware("http")
    async def throttle(request: Request, call_next):
        if not request.url.path.startswith(f"{request.scope.get('root_path', '')}/v3/"):
            return await call_next(request)
        allowed, _, _ = state.rate.take("realm")
        if not allowed or state.in_flight >= state.limits.concurrent:
            limit = "minute" if not allowed else "concurrent"
            return JSONResponse(QboFault(429, "3001", "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                                         f"Throttle exceeded: over the {limit} limit for this company",
                                         kind="SERVICE").body(), status_code=429)
        state.in_flight += 1
        try:
            return await call_next(request)
        finally:
            state.in_flight -= 1

    @app.get("/.well-known/openid_configuration")
    def discovery(request: Request) -> dict[str, str]:
        base = str(request.base_url).rstrip("/") + request.scope.get("root_path", "")
        return {"issuer": base, "authorization_endpoint": f"{base}/connect/oauth2",
                "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
                "revocation_endpoint": f"{base}/oauth2/v1/tokens/revoke", "jwks_uri": f"{base}/oauth2/v1/keys",
                "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo"}

    @app.post("/oauth2/v1/tokens/bearer")
    def token(request: Request, grant_type: Annotated[str, Form()],
              refresh_token: Annotated[str | None, Form()] = None) -> dict[str, Any]:
        scheme, _, encoded = (request.headers.get("authorization") or "").partition(" ")
        client = base64.b64decode(encoded or "").decode(errors="replace") if scheme.lower() == "basic" else ""
        if client != f"{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}":
            raise OAuthError(401, "invalid_client")
        if grant_type != "refresh_token" or not refresh_token:
            raise OAuthError(400, "unsupported_grant_type")
        return state.refresh(refresh_token)

    def company(realm: str, authorization: str | None) -> None:
        if not state.authorised(authorization):
            raise QboFault(401, "3200", "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                           "Token expired or invalid", kind="AUTHENTICATION")
        if realm != DEMO_REALM:
            raise QboFault(403, "3100", "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
                           f"The app is not connected to company {realm}", kind="AUTHORIZATION")

    def entity_named(name: str) -> str:
        entity = next((e for e in ENTITIES if e.lower() == name.lower()), None)
        if entity is None:
            raise QboFault(400, "2010", "Request has invalid or unsupported property", f"Unknown entity {name}")
        return entity

    Authorization = Annotated[str | None, Header()]
    MinorVersion = Annotated[int | None, Query(alias="minorversion")]

    @app.api_route("/v3/company/{realm}/query", methods=["GET", "POST"])
    async def query(realm: str, request: Request, authorization: Authorization = None,
                    text: Annotated[str | None, Query(alias="query")] = None,
                    _minor: MinorVersion = None) -> dict[str, Any]:
        company(realm, authorization)
        if request.method == "POST":  # clients may send the query as the body, Content-Type application/text
            text = (await request.body()).decode()
        return state.query(text or "")

    @app.get("/v3/company/{realm}/cdc")
    def cdc(realm: str, entities: str, changedSince: str, authorization: Authorization = None,  # noqa: N803
            _minor: MinorVersion = None) -> dict[str, Any]:
        company(realm, authorization)
        return state.changes(entities, changedSince)

    @app.get("/v3/company/{realm}/{entity}/{object_id}")
    def read(realm: str, entity: str, object_id: str, authorization: Authorization = None,
             _minor: MinorVersion = None) -> dict[str, Any]:
        company(realm, authorization)
        name = entity_named(entity)
        with state.lock:
            return {name: state.get(name, object_id), "time": stamp()}

    @app.post("/v3/company/{realm}/{entity}")
    def write(realm: str, entity: str, body: Annotated[dict[str, Any], Body()], authorization: Authorization = None,
              operation: str | None = None, include: str | None = None, requestid: str | None = None,
              _minor: MinorVersion = None) -> JSONResponse:
        company(realm, authorization)
        name = entity_named(entity)
        with state.lock:
            if requestid and requestid in state.replies:
                status, reply = state.replies[requestid]
                return JSONResponse(reply, status_code=status)
            try:
                status, reply = 200, {name: state.write(name, body, operation, include), "time": stamp()}
            except QboFault as error:
                status, reply = error.status, error.body()
            if requestid:
                state.replies[requestid] = (status, reply)
        return JSONResponse(reply, status_code=status)

    return app


def control_router(state: QuickBooksState) -> APIRouter:
    """Acts as a QuickBooks user: pay bills by check or card, void, correct, delete; not Intuit's API."""
    router = APIRouter(tags=["control: quickbooks"])

    class Payment(BaseModel):
        bills: dict[str, Decimal] = Field(description="Bill Id -> amount paid on it")
        pay_type: str = Field(default="Check", pattern="^(Check|CreditCard)$")
        doc_number: str | None = None
        txn_date: str | None = None

    @router.post("/reset")
    def reset() -> dict[str, int]:
        state.reset()
        state.configure(Limits())
        return {name: len(rows) for name, rows in state.objects.items()}

    @router.put("/limits")
    def limits(settings: Limits) -> Limits:
        state.configure(settings)
        return settings

    @router.get("/{entity}")
    def dump(entity: str) -> list[dict[str, Any]]:
        with state.lock:
            return list(state.objects[control_entity(entity)].values())

    @router.post("/payments")
    def pay(payment: Payment) -> dict[str, Any]:
        with state.lock:
            bills = [state.get("Bill", bill_id) for bill_id in payment.bills]
            vendors = {bill["VendorRef"]["value"] for bill in bills}
            if len(vendors) != 1:
                raise HTTPException(422, "one payment pays bills of one vendor")
            account = "Checking" if payment.pay_type == "Check" else "Company Visa"
            account_id = next(a["Id"] for a in state.objects["Account"].values() if a["Name"] == account)
            detail = ({"CheckPayment": {"BankAccountRef": {"value": account_id}, "PrintStatus": "NotSet"}}
                      if payment.pay_type == "Check" else {"CreditCardPayment": {"CCAccountRef": {"value": account_id}}})
            return state.write("BillPayment", {
                "VendorRef": {"value": vendors.pop()}, "PayType": payment.pay_type, **detail,
                "DocNumber": payment.doc_number, "TxnDate": payment.txn_date or stamp()[:10],
                "Line": [{"Amount": float(amount), "LinkedTxn": [{"TxnId": bill_id, "TxnType": "Bill"}]}
                         for bill_id, amount in payment.bills.items()]}, None, None)

    @router.post("/payments/bulk")
    def pay_many(payments: list[Payment]) -> dict[str, list[str]]:
        """Many payments at once (benchmarks): their Ids, in order."""
        return {"ids": [pay(payment)["Id"] for payment in payments]}

    @router.post("/payments/void/bulk")
    def void_many(payment_ids: list[str]) -> dict[str, int]:
        for payment_id in payment_ids:
            void(payment_id)
        return {"voided": len(payment_ids)}

    @router.post("/payments/{payment_id}/void")
    def void(payment_id: str) -> dict[str, Any]:
        with state.lock:
            payment = state.get("BillPayment", payment_id)
            return state.write("BillPayment", {"Id": payment_id, "SyncToken": payment["SyncToken"], "sparse": True},
                               "update", "void")

    @router.post("/{entity}")
    def enter(entity: str, document: dict[str, Any]) -> dict[str, Any]:
        """A document a QuickBooks user enters, e.g. a bill keyed in against a purchase order (its line's
        ``LinkedTxn`` names the order), not by ERP Sync."""
        return state.write(control_entity(entity), document, None, None)

    @router.patch("/{entity}/{object_id}")
    def change(entity: str, object_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """A user's edit in QuickBooks, e.g. a payment's amount or date corrected after the sync."""
        name = control_entity(entity)
        with state.lock:
            current = state.get(name, object_id)
            return state.write(name, {**changes, "Id": object_id, "SyncToken": current["SyncToken"], "sparse": True},
                               None, None)

    @router.delete("/{entity}/{object_id}")
    def delete(entity: str, object_id: str) -> dict[str, Any]:
        name = control_entity(entity)
        with state.lock:
            current = state.get(name, object_id)
            return state.write(name, {"Id": object_id, "SyncToken": current["SyncToken"]}, "delete", None)

    return router


def control_entity(name: str) -> str:
    entity = next((e for e in ENTITIES if e.lower() == name.lower()), None)
    if entity is None:
        raise HTTPException(404, f"unknown entity {name}; known: {', '.join(ENTITIES)}")
    return entity
