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
import itertools
import secrets
import threading
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, Form, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.common import RateWindow
from sandbox.qbo_query import QueryError, lookup, parse_query

DEMO_REALM = "9130357766900456"
DEMO_CLIENT_ID = "ABqbo-sandbox-client"
DEMO_CLIENT_SECRET = "qbo-sandbox-secret"
DEMO_REFRESH_TOKEN = "AB11-demo-refresh-token"
ACCESS_TOKEN_SECONDS = 3600
REFRESH_TOKEN_SECONDS = 100 * 24 * 3600
CDC_LOOKBACK = timedelta(days=30)
CDC_MAX_PER_ENTITY = 1000
COMPANY_TZ = timezone(timedelta(hours=-8))  # timestamps carry the company's offset, as QuickBooks sends them
ENTITIES = ("Vendor", "Bill", "BillPayment", "PurchaseOrder", "Account")
VENDORS = ["Apex Concrete", "Brightline Electric", "Cascade Plumbing", "Delta Steel Erectors", "Evergreen Drywall"]


class QboFault(Exception):
    def __init__(self, status: int, code: str, message: str, detail: str, kind: str = "ValidationFault",
                 element: str = ""):
        super().__init__(message)
        self.status, self.code, self.message, self.detail, self.kind, self.element = (
            status, code, message, detail, kind, element)

    def body(self) -> dict[str, Any]:
        return {"Fault": {"Error": [{"Message": self.message, "Detail": self.detail, "code": self.code,
                                     "element": self.element}], "type": self.kind}, "time": stamp()}


def stamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(COMPANY_TZ).isoformat(timespec="seconds")


class Limits(BaseModel):
    per_minute: int = Field(default=500, ge=1, le=10**8)
    concurrent: int = Field(default=10, ge=1, le=10_000)


class QuickBooksState:
    """One company (realm): its objects, tombstones of deleted ones, tokens and ``requestid`` answers."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.limits = Limits()
        self.rate = RateWindow(self.limits.per_minute, 60, 10_000, 1)
        self.in_flight = 0
        self.access_tokens: dict[str, datetime] = {}
        self.refresh_tokens: dict[str, datetime] = {DEMO_REFRESH_TOKEN: datetime.now(UTC) + timedelta(days=100)}
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.objects: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in ENTITIES}
            self.tombstones: dict[str, dict[str, datetime]] = {name: {} for name in ENTITIES}
            self.replies: dict[str, tuple[int, dict[str, Any]]] = {}
            self.ids = itertools.count(1)
            for name, account_type in (("Accounts Payable (A/P)", "Accounts Payable"), ("Checking", "Bank"),
                                       ("Company Visa", "Credit Card"), ("Job Materials", "Expense")):
                self.save("Account", {"Name": name, "AccountType": account_type, "Active": True})
            for name in VENDORS:
                self.save("Vendor", {"DisplayName": name, "CompanyName": name, "Active": True})

    def configure(self, limits: Limits) -> None:
        self.limits = limits
        self.rate.configure(limits.per_minute, 60, 10_000, 1)

    # Tokens ------------------------------------------------------------------------------------
    def refresh(self, refresh_token: str) -> dict[str, Any]:
        with self.lock:
            expires = self.refresh_tokens.get(refresh_token)
            if expires is None or expires < datetime.now(UTC):
                raise HTTPException(400, {"error": "invalid_grant"})
            access = "eyJ" + secrets.token_urlsafe(32)
            self.access_tokens[access] = datetime.now(UTC) + timedelta(seconds=ACCESS_TOKEN_SECONDS)
            rotated = "AB11" + secrets.token_urlsafe(24)  # the old one stays valid for a while, as Intuit's does
            self.refresh_tokens[rotated] = datetime.now(UTC) + timedelta(seconds=REFRESH_TOKEN_SECONDS)
        return {"access_token": access, "token_type": "bearer", "expires_in": ACCESS_TOKEN_SECONDS,
                "refresh_token": rotated, "x_refresh_token_expires_in": REFRESH_TOKEN_SECONDS}

    def authorised(self, authorization: str | None) -> bool:
        token = (authorization or "").removeprefix("Bearer ").strip()
        with self.lock:
            expires = self.access_tokens.get(token)
        return expires is not None and expires > datetime.now(UTC)

    # Objects -----------------------------------------------------------------------------------
    def save(self, entity: str, values: dict[str, Any]) -> dict[str, Any]:
        moment = stamp()
        if values.get("Id"):
            current = self.objects[entity][values["Id"]]
            values = {**values, "SyncToken": str(int(current["SyncToken"]) + 1),
                      "MetaData": {**current["MetaData"], "LastUpdatedTime": moment}}
        else:
            values = {**values, "Id": str(next(self.ids)), "SyncToken": "0",
                      "MetaData": {"CreateTime": moment, "LastUpdatedTime": moment}}
        values["domain"], values["sparse"] = "QBO", False
        self.objects[entity][values["Id"]] = values
        return values

    def get(self, entity: str, object_id: str) -> dict[str, Any]:
        found = self.objects[entity].get(str(object_id))
        if found is None:
            raise QboFault(400, "610", "Object Not Found",
                           f"Object Not Found : Something you're trying to use has been made inactive. Check the "
                           f"fields with accounts, customers, items, vendors or employees. ({entity} {object_id})")
        return found

    def current(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        existing = self.get(entity, str(body.get("Id")))
        if str(body.get("SyncToken")) != existing["SyncToken"]:
            raise QboFault(400, "5010", "Stale Object Error",
                           f"Stale Object Error : You and another user were working on the same thing. "
                           f"(SyncToken {body.get('SyncToken')} is older than {existing['SyncToken']})")
        return existing

    def write(self, entity: str, body: dict[str, Any], operation: str | None, include: str | None) -> dict[str, Any]:
        with self.lock:
            if operation == "delete":
                return self.delete(entity, body)
            if operation == "update" and include == "void":
                return self.void(entity, body)
            if body.get("Id"):
                existing = self.current(entity, body)
                merged = {**existing, **body} if body.get("sparse") else {**body, "MetaData": existing["MetaData"]}
                return self.store(entity, merged, existing)
            return self.store(entity, body, None)

    def store(self, entity: str, values: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        values = {k: v for k, v in values.items() if k not in ("domain", "sparse")}
        if entity in ("Bill", "BillPayment", "PurchaseOrder"):
            self.check_vendor(values)
            if not values.get("Line") and entity != "BillPayment":
                raise QboFault(400, "2020", "Required param missing, need to supply the required value for the API",
                               f"Required parameter Line is missing in the request ({entity})", element="Line")
            values["TotalAmt"] = float(sum(Decimal(str(line.get("Amount", 0))) for line in values.get("Line") or []))
        if entity == "Bill":
            paid = Decimal(str(existing["TotalAmt"])) - Decimal(str(existing["Balance"])) if existing else Decimal(0)
            if Decimal(str(values["TotalAmt"])) < paid:
                raise QboFault(400, "6000", "A business validation error has occurred while processing your request",
                               f"Business Validation Error: The bill total {values['TotalAmt']} is less than the "
                               f"{paid} already paid against it.")
            values["Balance"] = float(Decimal(str(values["TotalAmt"])) - paid)
            values.setdefault("LinkedTxn", existing.get("LinkedTxn", []) if existing else [])
        if entity == "PurchaseOrder":
            values.setdefault("POStatus", "Open")
        if entity in ("Bill", "PurchaseOrder"):
            number_lines(values["Line"])
        if entity == "BillPayment":
            if values.get("PayType") not in ("Check", "CreditCard"):
                raise QboFault(400, "2020", "Required param missing, need to supply the required value for the API",
                               "PayType must be Check or CreditCard", element="PayType")
            if existing:
                self.apply(existing, -1)
            self.apply(values, 1)
        saved = self.save(entity, values)
        if entity == "BillPayment":
            self.link_bills(saved)
        return saved

    def check_vendor(self, values: dict[str, Any]) -> None:
        vendor_id = str((values.get("VendorRef") or {}).get("value", ""))
        vendor = self.objects["Vendor"].get(vendor_id)
        if vendor is None or not vendor.get("Active", True):
            raise QboFault(400, "2500", "Invalid Reference Id",
                           f"Invalid Reference Id : Vendor assigned to this transaction has been deleted. Before you "
                           f"can modify this transaction, you must restore the vendor (Id {vendor_id or 'missing'}).",
                           element="VendorRef")

    def paid_bills(self, payment: dict[str, Any]) -> list[tuple[dict[str, Any], Decimal]]:
        paid = []
        for line in payment.get("Line") or []:
            for linked in line.get("LinkedTxn") or []:
                if linked.get("TxnType") == "Bill":
                    paid.append((self.get("Bill", str(linked["TxnId"])), Decimal(str(line.get("Amount", 0)))))
        return paid

    def apply(self, payment: dict[str, Any], sign: int) -> None:
        for bill, amount in self.paid_bills(payment):
            balance = Decimal(str(bill["Balance"])) - sign * amount
            if balance < 0:
                raise QboFault(400, "6000", "A business validation error has occurred while processing your request",
                               f"Business Validation Error: the payment is more than the open balance of bill {bill['Id']}.")
            bill["Balance"] = float(balance)

    def link_bills(self, payment: dict[str, Any]) -> None:
        txn_type = "BillPaymentCheck" if payment["PayType"] == "Check" else "BillPaymentCreditCard"
        for bill, _amount in self.paid_bills(payment):
            links = [t for t in bill.get("LinkedTxn", []) if t.get("TxnId") != payment["Id"]]
            self.save("Bill", {**bill, "LinkedTxn": [*links, {"TxnId": payment["Id"], "TxnType": txn_type}]})

    def void(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        if entity != "BillPayment":
            raise QboFault(400, "2010", "Request has invalid or unsupported property", f"{entity} cannot be voided here")
        payment = self.current(entity, body)
        self.apply(payment, -1)
        for bill, _amount in self.paid_bills(payment):
            self.save("Bill", {**bill, "LinkedTxn": [t for t in bill.get("LinkedTxn", []) if t.get("TxnId") != payment["Id"]]})
        note = payment.get("PrivateNote") or ""
        return self.save(entity, {**payment, "TotalAmt": 0, "Line": [],
                                  "PrivateNote": f"Voided{' - ' + note if note else ''}"})

    def delete(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        existing = self.current(entity, body)
        if entity == "Bill" and any(t.get("TxnType", "").startswith("BillPayment") for t in existing.get("LinkedTxn", [])):
            raise QboFault(400, "6000", "A business validation error has occurred while processing your request",
                           "Business Validation Error: This bill has payments applied to it; delete or void the "
                           "payments first.")
        if entity == "BillPayment":
            self.apply(existing, -1)
        del self.objects[entity][existing["Id"]]
        self.tombstones[entity][existing["Id"]] = datetime.now(UTC)
        return {"status": "Deleted", "domain": "QBO", "Id": existing["Id"]}

    # Reads -------------------------------------------------------------------------------------
    def query(self, text: str) -> dict[str, Any]:
        try:
            query = parse_query(text)
        except QueryError as error:
            raise QboFault(400, "4000", "Error parsing query", f"QueryParserError: {error}",
                           kind="ValidationFault") from error
        entity = next((name for name in ENTITIES if name.lower() == query.entity.lower()), None)
        if entity is None:
            raise QboFault(400, "4001", "Invalid query", f"QueryValidationError: Invalid entity {query.entity}")
        with self.lock:
            rows = [row for row in self.objects[entity].values() if query.matches(row)]
        if query.count:
            return {"QueryResponse": {"totalCount": len(rows)}, "time": stamp()}
        key = (lambda row: str(lookup(row, query.order) or "")) if query.order else (lambda row: int(row["Id"]))
        rows.sort(key=key, reverse=query.descending)
        page = rows[query.start - 1: query.start - 1 + query.max_results]
        if query.fields:
            page = [{k: v for k, v in row.items() if k in {*query.fields, "Id", "SyncToken", "domain", "sparse"}}
                    for row in page]
        body: dict[str, Any] = {"startPosition": query.start, "maxResults": len(page)} if page else {}
        if page:
            body[entity] = page
        return {"QueryResponse": body, "time": stamp()}

    def changes(self, entities: str, changed_since: str) -> dict[str, Any]:
        try:
            since = datetime.fromisoformat(changed_since.replace("Z", "+00:00"))
        except ValueError as error:
            raise QboFault(400, "2030", "Invalid parameter", f"changedSince is not a date-time: {changed_since}") from error
        since = since if since.tzinfo else since.replace(tzinfo=COMPANY_TZ)
        if since < datetime.now(UTC) - CDC_LOOKBACK:
            raise QboFault(400, "2030", "Invalid parameter",
                           "changedSince must be within the last 30 days; use a query for older changes")
        responses = []
        with self.lock:
            for name in entities.split(","):
                entity = next((e for e in ENTITIES if e.lower() == name.strip().lower()), None)
                if entity is None:
                    raise QboFault(400, "2030", "Invalid parameter", f"cdc does not know the entity {name}")
                rows = [row for row in self.objects[entity].values()
                        if datetime.fromisoformat(row["MetaData"]["LastUpdatedTime"]) > since]
                rows += [{"Id": object_id, "status": "Deleted", "domain": "QBO",
                          "MetaData": {"LastUpdatedTime": stamp(when)}}
                         for object_id, when in self.tombstones[entity].items() if when > since]
                rows.sort(key=lambda row: row["MetaData"]["LastUpdatedTime"])
                rows = rows[:CDC_MAX_PER_ENTITY]
                responses.append({entity: rows, "startPosition": 1, "maxResults": len(rows)} if rows else {})
        return {"CDCResponse": [{"QueryResponse": responses}], "time": stamp()}


def number_lines(lines: list[dict[str, Any]]) -> None:
    """QuickBooks gives each new line the next free line Id; existing lines keep theirs."""
    used = [int(line["Id"]) for line in lines if str(line.get("Id", "")).isdigit()]
    next_id = max(used, default=0)
    for line in lines:
        if not str(line.get("Id", "")).isdigit():
            next_id += 1
            line["Id"] = str(next_id)


def create_quickbooks_app(state: QuickBooksState) -> FastAPI:
    app = FastAPI(title="QuickBooks Online sandbox (Accounting API v3)", docs_url="/sandbox-docs")

    @app.exception_handler(QboFault)
    def fault(_request: Request, error: QboFault) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status)

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
            raise HTTPException(401, {"error": "invalid_client"})
        if grant_type != "refresh_token" or not refresh_token:
            raise HTTPException(400, {"error": "unsupported_grant_type"})
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
