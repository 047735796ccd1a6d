"""A stand-in for Acumatica Cloud ERP's contract-based REST API, served under ``/acumatica``.

Follows Acumatica's Integration Development Guide for what ERP Sync and common clients use:
``GET /entity`` lists the endpoints; ``POST /entity/auth/login`` (``name``, ``password``,
``tenant`` or ``company``) answers 204 and sets the session cookies, each session holding one
license seat until ``POST /entity/auth/logout``; entities live at ``/entity/Default/{version}/{Entity}``
with every field wrapped as ``{"value": ...}``, ``id``, ``rowNumber``, ``note``, ``custom`` and
``_links``; ``$filter``, ``$expand`` (details only when expanded), ``$select``, ``$top``,
``$skip``; records by key (``/Bill/Bill/000123`` or ``Bill|000123``) or by id; PUT creates or
updates by key; DELETE by key or id; actions answer 202 with a ``Location`` to poll, which
answers 204 when done; past the license's request rate: 429.

The entities, their fields and types, detail schemas and operations are those of the published
Default/24.200.001 description (``sandbox/contracts``), and ``swagger.json`` is built from them.
Acumatica takes only the fields of its contract from a record and drops any other name without an
error (the Integration Development Guide's record representation: fields outside the contract
travel only in ``custom``); the sandbox does the same and lists what it dropped at
``/control/acumatica/ignored-fields``. A document saved without the field its form requires (a
Subcontract's ``VendorID``, a Bill's or Check's ``Vendor``) is refused with 422 and, as the
description's 422 response says, the record as sent with an ``error`` on that field. Actions and
operations the description lists but the sandbox does not carry out answer 501.
"""


import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.acumatica_data import (
    DEFAULTS,
    DEMO_PASSWORD,
    DEMO_TENANT,
    DEMO_USER,
    ENDPOINT,
    ENTITIES,
    SESSION_COOKIE,
    VERSION,
    AcumaticaError,
    AcumaticaState,
    EntitySpec,
    LicenseSettings,
    Preferences,
    now,
    render,
    swagger,
    unwrap_entity,
)
from sandbox.odata import FilterError, parse_filter

# HTTP ----------------------------------------------------------------------------------------

class Login(BaseModel):
    name: str
    password: str
    tenant: str | None = None
    company: str | None = None
    branch: str | None = None
    locale: str | None = None


def create_acumatica_app(state: AcumaticaState) -> FastAPI:
    app = FastAPI(title="Acumatica Cloud ERP sandbox (contract-based REST)", docs_url="/sandbox-docs")

    @app.exception_handler(AcumaticaError)
    def acumatica_error(_request: Request, error: AcumaticaError) -> JSONResponse:
        body = dict(error.entity or {})
        body.update({"message": "An error has occurred.", "exceptionMessage": error.message,
                     "exceptionType": "PX.Data.PXException"} if error.status == 422 else {"message": error.message})
        return JSONResponse(body, status_code=error.status)

    @app.middleware("http")
    async def license_rate(request: Request, call_next):
        allowed, _, reset = state.rate.take(DEMO_TENANT)  # the license counts the whole instance
        if not allowed:
            return JSONResponse({"message": "The request rate of the license has been exceeded."}, status_code=429,
                                headers={"Retry-After": str(max(1, reset - int(now().timestamp())))})
        return await call_next(request)

    def session(request: Request) -> str:
        token = request.cookies.get(SESSION_COOKIE)
        if token is None or token not in state.sessions:
            raise AcumaticaError(401, "You are not logged in.")
        return token

    @app.get("/entity")
    def endpoints(request: Request) -> dict[str, Any]:
        return {"version": {"acumaticaBuildVersion": "24.208.0012", "databaseVersion": "24.208.0012"},
                "endpoints": [{"name": ENDPOINT, "version": VERSION,
                               "href": f"{request.scope.get('root_path', '')}/entity/{ENDPOINT}/{VERSION}/"}]}

    @app.post("/entity/auth/login", status_code=204)
    def login(credentials: Login, response: Response) -> None:
        tenant = credentials.tenant or credentials.company
        if (credentials.name, credentials.password, tenant) != (DEMO_USER, DEMO_PASSWORD, DEMO_TENANT):
            raise AcumaticaError(401, "Invalid credentials. Please try again.")
        with state.lock:
            if len(state.sessions) >= state.license.seats:
                raise AcumaticaError(429, f"API Login Limit: all {state.license.seats} API sessions of the "
                                          "license are in use; log out unused sessions.")
            token = uuid.uuid4().hex
            state.sessions[token] = credentials.name
        response.set_cookie(SESSION_COOKIE, token, httponly=True, path="/")
        response.set_cookie("ASP.NET_SessionId", uuid.uuid4().hex[:24], httponly=True, path="/")
        response.set_cookie("Locale", "Culture=en-US&TimeZone=GMTM0000A", path="/")

    @app.post("/entity/auth/logout", status_code=204)
    def logout(request: Request, response: Response) -> None:
        with state.lock:
            state.sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
        response.delete_cookie(SESSION_COOKIE, path="/")

    prefix = f"/entity/{ENDPOINT}/{{version}}"
    LoggedIn = Annotated[str, Depends(session)]

    def known(entity: str, version: str) -> EntitySpec:
        if version != VERSION:
            raise AcumaticaError(404, f"Endpoint {ENDPOINT}/{version} is not found; this instance has {VERSION}.")
        if entity not in ENTITIES:
            raise AcumaticaError(404, f"Entity {entity} is not defined in the {ENDPOINT}/{VERSION} endpoint.")
        return ENTITIES[entity]

    def base_of(request: Request, version: str) -> str:
        return f"{request.scope.get('root_path', '')}/entity/{ENDPOINT}/{version}"

    @app.get(f"{prefix}/swagger.json")
    def swagger_json(version: str, request: Request, _s: LoggedIn) -> dict[str, Any]:
        known("Bill", version)
        return swagger(f"{request.url.scheme}://{request.url.netloc}{base_of(request, version)}")

    def selection(spec: EntitySpec, select: str | None, expand: str | None) -> tuple[set[str] | None, set[str]]:
        fields = {f.strip() for f in select.split(",")} if select else None
        expanded = {e.strip() for e in expand.split(",")} if expand else set()
        unknown = (fields or set()) - set(spec.fields) - set(spec.details) | expanded - set(spec.details)
        if unknown:
            raise AcumaticaError(400, f"Unknown field(s) in $select/$expand: {', '.join(sorted(unknown))}")
        return fields, expanded | ((fields or set()) & set(spec.details))

    @app.get(f"{prefix}/{{entity}}")
    def get_list(entity: str, version: str, request: Request, _s: LoggedIn,
                 filter_: Annotated[str | None, Query(alias="$filter")] = None,
                 select: Annotated[str | None, Query(alias="$select")] = None,
                 expand: Annotated[str | None, Query(alias="$expand")] = None,
                 top: Annotated[int | None, Query(alias="$top", ge=0)] = None,
                 skip: Annotated[int, Query(alias="$skip", ge=0)] = 0) -> list[dict[str, Any]]:
        spec = known(entity, version)
        fields, expanded = selection(spec, select, expand)
        try:
            predicate = parse_filter(filter_) if filter_ else None
        except FilterError as error:
            raise AcumaticaError(400, f"Invalid $filter: {error}") from error
        with state.lock:
            rows = [r for r in state.records[entity].values() if predicate is None or predicate(r)]
            rows = rows[skip: None if top is None else skip + top]
            return [render(entity, r, fields, expanded, base_of(request, version)) for r in rows]

    @app.get(f"{prefix}/{{entity}}/{{action}}/status/{{status_id}}", status_code=204)
    def action_status(entity: str, action: str, status_id: str, version: str, _s: LoggedIn) -> Response:
        known(entity, version)
        if status_id not in state.pending_actions:
            raise AcumaticaError(404, "No such long-running operation.")
        return Response(status_code=204)

    @app.get(f"{prefix}/{{entity}}/$adHocSchema")
    def ad_hoc_schema(entity: str, version: str, _s: LoggedIn) -> None:
        known(entity, version)
        raise AcumaticaError(501, "The sandbox does not serve GetAdHocSchema.")

    @app.put(f"{prefix}/{{entity}}/{{key:path}}/files/{{filename}}")
    def put_file(entity: str, key: str, filename: str, version: str, _s: LoggedIn) -> None:
        known(entity, version)
        raise AcumaticaError(501, f"The sandbox does not keep files ({filename}).")

    @app.get(f"{prefix}/{{entity}}/{{key:path}}")
    def get_one(entity: str, key: str, version: str, request: Request, _s: LoggedIn,
                select: Annotated[str | None, Query(alias="$select")] = None,
                expand: Annotated[str | None, Query(alias="$expand")] = None) -> dict[str, Any]:
        spec = known(entity, version)
        fields, expanded = selection(spec, select, expand)
        with state.lock:
            return render(entity, state.found(entity, split_key(key)), fields, expanded, base_of(request, version))

    @app.put(f"{prefix}/{{entity}}")
    def put_entity(entity: str, version: str, request: Request, _s: LoggedIn,
                   body: Annotated[dict[str, Any], Body()],
                   expand: Annotated[str | None, Query(alias="$expand")] = None) -> dict[str, Any]:
        spec = known(entity, version)
        record = state.put(entity, body)
        return render(entity, record, None, selection(spec, None, expand)[1], base_of(request, version))

    @app.delete(f"{prefix}/{{entity}}/{{key:path}}", status_code=204)
    def delete_entity(entity: str, key: str, version: str, _s: LoggedIn) -> Response:
        known(entity, version)
        state.delete(entity, split_key(key))
        return Response(status_code=204)

    @app.post(f"{prefix}/{{entity}}/{{action}}", status_code=202)
    def invoke_action(entity: str, action: str, version: str, request: Request, _s: LoggedIn,
                      body: Annotated[dict[str, Any], Body()]) -> Response:
        spec = known(entity, version)
        if action not in spec.actions:
            raise AcumaticaError(404, f"Action {action} is not defined for {entity}.")
        if action not in spec.served_actions:
            raise AcumaticaError(501, f"The sandbox does not carry out {entity}/{action}.")
        target = unwrap_entity(spec, body.get("entity") or {})
        key = [target[k] for k in spec.keys if target.get(k)] or [str((body.get("entity") or {}).get("id"))]
        state.act(entity, action, key, body.get("parameters") or {})
        status_id = uuid.uuid4().hex
        state.pending_actions.add(status_id)
        location = f"{base_of(request, version)}/{entity}/{action}/status/{status_id}"
        return Response(status_code=202, headers={"Location": location})

    return app


def split_key(key: str) -> list[str]:
    return [part for part in key.replace("|", "/").split("/") if part]


# Where a document's amount is, for a user's change to it: its first line's amount field.
AMOUNT_LINE = {"Subcontract": ("Details", "ExtendedCost"), "ChangeOrder": ("Commitments", "Amount"),
               "Bill": ("Details", "Amount")}


def control_key(entity: str, key: str) -> list[str]:
    """A record's key as a person types it into the control API: every key field (``Bill|000011``), or the
    reference alone as the ERP Integrations page shows it (``Bill/000011``: entity, then reference), the
    key fields before it taken from the entity's defaults (a bill's type is ``Bill``)."""
    parts, keys = split_key(key), ENTITIES[entity].keys if entity in ENTITIES else ()
    missing = keys[:len(keys) - len(parts)]
    if parts and missing and all(name in DEFAULTS.get(entity, {}) for name in missing):
        return [DEFAULTS[entity][name] for name in missing] + parts
    return parts


def control_router(state: AcumaticaState) -> APIRouter:
    """Acts as an Acumatica user: pay and void, delete, reverse, reject; not Acumatica's API."""
    router = APIRouter(tags=["control: acumatica"])

    class Payment(BaseModel):
        bill: str = Field(description="the bill's ReferenceNbr")
        amount: Decimal = Field(gt=0)
        method: str = Field(default="CHECK", pattern="^(CHECK|CREDITCARD)$")
        check_number: str | None = None
        date: datetime | None = None

    class MultiPayment(BaseModel):
        bills: dict[str, Decimal]
        method: str = Field(default="CHECK", pattern="^(CHECK|CREDITCARD)$")
        check_number: str | None = None

    @router.post("/reset")
    def reset() -> dict[str, int]:
        state.reset()
        state.sessions.clear()
        state.license_settings(LicenseSettings())
        state.preferences = Preferences()
        return {name: len(rows) for name, rows in state.records.items()}

    @router.put("/license")
    def license_settings(settings: LicenseSettings) -> LicenseSettings:
        state.license_settings(settings)
        return settings

    @router.put("/preferences")
    def preferences(settings: Preferences) -> Preferences:
        state.preferences = settings
        return settings

    @router.get("/sessions")
    def sessions() -> dict[str, int]:
        return {"open": len(state.sessions), "seats": state.license.seats}

    @router.get("/ignored-fields")
    def ignored_fields() -> list[str]:
        """Fields sent since the last reset that the published contract does not have (Acumatica drops them)."""
        return sorted(state.ignored)

    @router.get("/{entity}")
    def dump(entity: str) -> list[dict[str, Any]]:
        if entity not in ENTITIES:
            raise HTTPException(404, f"unknown entity {entity}")
        with state.lock:
            return [render(entity, r, None, set(ENTITIES[entity].details), "") for r in state.records[entity].values()]

    def pay(bills: dict[str, Decimal], method: str, check_number: str | None, when: datetime | None) -> dict:
        with state.lock:
            vendors = {state.found("Bill", ["Bill", ref])["Vendor"] for ref in bills}
            if len(vendors) != 1:
                raise HTTPException(422, "one payment pays bills of one vendor")
            check = state.create("Check", {
                "Vendor": vendors.pop(), "PaymentMethod": method, "Hold": False,
                "PaymentRef": check_number or f"{next(state.numbers):05d}", "ApplicationDate": when or now(),
                "Details": [{"DocType": "Bill", "ReferenceNbr": ref, "AmountPaid": amount} for ref, amount in bills.items()]})
            return render("Check", check, None, {"Details"}, "")

    @router.post("/payments")
    def pay_bill(payment: Payment) -> dict[str, Any]:
        return pay({payment.bill: payment.amount}, payment.method, payment.check_number, payment.date)

    @router.post("/payments/multi")
    def pay_bills(payment: MultiPayment) -> dict[str, Any]:
        return pay(payment.bills, payment.method, payment.check_number, None)

    @router.post("/payments/bulk")
    def pay_many(payments: list[Payment]) -> dict[str, list[str]]:
        """Many single-bill payments at once (benchmarks): their reference numbers, in order."""
        return {"references": [pay({p.bill: p.amount}, p.method, p.check_number, p.date)["ReferenceNbr"]["value"]
                               for p in payments]}

    @router.post("/payments/void/bulk")
    def void_many(references: list[str]) -> dict[str, int]:
        for reference in references:
            state.void_check(["Payment", reference])
        return {"voided": len(references)}

    @router.post("/payments/{reference}/void")
    def void(reference: str) -> dict[str, Any]:
        return render("Check", state.void_check(["Payment", reference]), None, {"Details"}, "")

    @router.patch("/payments/{reference}")
    def change_payment(reference: str, changes: dict[str, Any]) -> dict[str, Any]:
        """A correction made in Acumatica after the fact: a new date or check number on the payment."""
        allowed = {"ApplicationDate", "PaymentRef", "Description"}
        if set(changes) - allowed:
            raise HTTPException(422, f"only {', '.join(sorted(allowed))} can be corrected")
        with state.lock:
            check = state.found("Check", ["Payment", reference])
            values = unwrap_entity(ENTITIES["Check"], {k: {"value": v} for k, v in changes.items()})
            return render("Check", state.touch(check, **values), None, {"Details"}, "")

    @router.post("/ChangeOrder/{reference}/release")
    def release_change_order(reference: str) -> dict[str, Any]:
        with state.lock:
            return render("ChangeOrder", state.touch(state.found("ChangeOrder", [reference]), Status="Closed"),
                          None, set(), "")

    @router.post("/ChangeOrder/{reference}/reverse")
    def reverse(reference: str) -> dict[str, Any]:
        with state.lock:
            order = state.found("ChangeOrder", [reference])
            if order["Status"] != "Closed":
                state.touch(order, Status="Closed")  # a user releases it first, then reverses it
            return render("ChangeOrder", state.reverse_change_order([reference]), None, set(), "")

    class DirectBill(BaseModel):
        vendor: str = Field(description="the VendorID")
        subcontract: str = Field(description="the SubcontractNbr the bill's line names (POOrderNbr)")
        amount: Decimal = Field(gt=0)
        vendor_ref: str = Field(max_length=40)
        subcontract_line: int | None = Field(default=None, description="the subcontract line it bills (POLine): "
                                                                         "the bill holds that line's retainage")

    class NewAmount(BaseModel):
        amount: Decimal

    @router.post("/bills")
    def enter_bill(bill: DirectBill) -> dict[str, Any]:
        """A bill an Acumatica user keys in against a subcontract, not exported by ERP Sync; billing a subcontract
        line, it holds that line's retainage."""
        line = {"TransactionDescription": bill.vendor_ref, "Amount": bill.amount, "POOrderNbr": bill.subcontract,
                "POLine": bill.subcontract_line}
        with state.lock:
            record = state.create("Bill", {"Type": "Bill", "Vendor": bill.vendor, "VendorRef": bill.vendor_ref,
                                           "Description": f"Keyed in Acumatica: {bill.vendor_ref}", "Hold": False,
                                           "Details": [{k: v for k, v in line.items() if v is not None}]})
            return render("Bill", record, None, {"Details"}, "")

    class Release(BaseModel):
        amount: Decimal = Field(gt=0)

    @router.post("/Bill/{reference}/release-retainage")
    def release_retainage(reference: str, release: Release) -> dict[str, Any]:
        """An Acumatica user releases retainage on a bill (Bills and Adjustments, Release Retainage): the
        retainage bill it makes."""
        return render("Bill", state.release_retainage(["Bill", reference], release.amount), None, {"Details"}, "")

    @router.post("/{entity}/{key:path}/amount")
    def change_amount(entity: str, key: str, change: NewAmount) -> dict[str, Any]:
        """An Acumatica user changes a document's amount after ERP Sync exported it: its first line takes the
        change, so the document's total becomes ``amount``."""
        if entity not in AMOUNT_LINE:
            raise HTTPException(404, f"{entity} has no amount to change here")
        detail, amount = AMOUNT_LINE[entity]
        with state.lock:
            record = state.found(entity, split_key(key))
            lines = list(record.get(detail) or [{}])
            total = sum((Decimal(str(line.get(amount) or 0)) for line in lines), Decimal(0))
            lines[0] = {**lines[0], amount: Decimal(str(lines[0].get(amount) or 0)) + change.amount - total}
            state.touch(record, **{detail: lines})
            return render(entity, state.totalled(entity, record), None, {detail}, "")

    @router.post("/{entity}/{key:path}/reject")
    def reject(entity: str, key: str) -> dict[str, Any]:
        with state.lock:
            return render(entity, state.touch(state.found(entity, control_key(entity, key)), Status="Rejected"), None,
                          set(), "")

    @router.delete("/{entity}/{key:path}")
    def user_delete(entity: str, key: str) -> dict[str, str]:
        state.delete(entity, control_key(entity, key))
        return {"deleted": key}

    @router.patch("/Vendor/{vendor_id}")
    def rename_vendor(vendor_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        with state.lock:
            vendor = state.by_key("Vendor", [vendor_id]) or state.insert("Vendor", {"VendorID": vendor_id})
            return render("Vendor", state.touch(vendor, **changes), None, set(), "")

    return router
