"""A stand-in for Acumatica Cloud ERP's contract-based REST API, served under ``/acumatica``.

Follows Acumatica's Integration Development Guide for what ERP Sync and common clients use:
``GET /entity`` lists the endpoints; ``POST /entity/auth/login`` (``name``, ``password``,
``tenant`` or ``company``) answers 204 and sets the session cookies, each session holding one
license seat until ``POST /entity/auth/logout``; entities live at ``/entity/Default/{version}/{Entity}``
with every field wrapped as ``{"value": ...}``, ``id``, ``rowNumber``, ``note``, ``custom`` and
``_links``; ``$filter``, ``$expand`` (details only when expanded), ``$select``, ``$top``,
``$skip``; records by key (``/Bill/Bill/000123`` or ``Bill|000123``) or by id; PUT creates or
updates by key; DELETE by key or id; actions answer 202 with a ``Location`` to poll, which
answers 204 when done; ``swagger.json`` describes the endpoint; past the license's request
rate: 429. Validation errors come back as 422 with the entity and an ``error`` on each field.
"""


import itertools
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.common import RateWindow
from sandbox.odata import FilterError, parse_filter

ENDPOINT, VERSION = "Default", "24.200.001"
DEMO_USER, DEMO_PASSWORD, DEMO_TENANT = "erp-sync", "sandbox-secret", "Summit"
SESSION_COOKIE = ".ASPXAUTH"
S, D, B, T, I = "StringValue", "DecimalValue", "BooleanValue", "DateTimeValue", "IntValue"
EDITABLE_BILL = {"On Hold", "Balanced"}
CLOSED_SUBCONTRACT = {"Closed", "Completed", "Canceled"}
CLOSED_CHANGE_ORDER = {"Closed", "Rejected"}


@dataclass(frozen=True)
class EntitySpec:
    keys: tuple[str, ...]
    fields: dict[str, str]
    details: dict[str, dict[str, str]] = field(default_factory=dict)
    numbered: str | None = None  # the key field Acumatica numbers itself
    actions: tuple[str, ...] = ()


ENTITIES: dict[str, EntitySpec] = {
    "Vendor": EntitySpec(("VendorID",), {"VendorID": S, "VendorName": S, "Status": S, "LastModifiedDateTime": T}),
    "Subcontract": EntitySpec(
        ("SubcontractNbr",),
        {"SubcontractNbr": S, "Vendor": S, "VendorRef": S, "Description": S, "Date": T, "Status": S,
         "Hold": B, "SubcontractTotal": D, "LastModifiedDateTime": T},
        {"Details": {"LineNbr": I, "LineDescription": S, "ExtCost": D}}, numbered="SubcontractNbr"),
    "ChangeOrder": EntitySpec(
        ("RefNbr",),
        {"RefNbr": S, "Description": S, "ExternalRefNbr": S, "Status": S, "Hold": B, "ReverseStatus": S,
         "OrigCORefNbr": S, "ChangeDate": T, "CommitmentsChangeTotal": D, "LastModifiedDateTime": T},
        {"Commitments": {"PONumber": S, "Description": S, "Amount": D}}, numbered="RefNbr",
        actions=("ReverseChangeOrder",)),
    "Bill": EntitySpec(
        ("Type", "ReferenceNbr"),
        {"Type": S, "ReferenceNbr": S, "Vendor": S, "VendorRef": S, "Description": S, "Date": T, "Amount": D,
         "Balance": D, "Status": S, "Hold": B, "LastModifiedDateTime": T},
        {"Details": {"TransactionDescription": S, "Amount": D}}, numbered="ReferenceNbr"),
    "Check": EntitySpec(
        ("Type", "ReferenceNbr"),
        {"Type": S, "ReferenceNbr": S, "Vendor": S, "PaymentMethod": S, "PaymentRef": S, "PaymentAmount": D,
         "ApplicationDate": T, "Status": S, "Description": S, "Hold": B, "LastModifiedDateTime": T},
        {"Details": {"DocType": S, "ReferenceNbr": S, "AmountPaid": D}}, numbered="ReferenceNbr",
        actions=("VoidCheck",)),
}
DEFAULTS = {"Bill": {"Type": "Bill"}, "Check": {"Type": "Payment", "PaymentMethod": "CHECK"}}
VENDORS = {"APEXCON": "Apex Concrete", "BRIGHTEL": "Brightline Electric", "CASCPLUM": "Cascade Plumbing",
           "DELTASTL": "Delta Steel Erectors", "EVERDRY": "Evergreen Drywall"}


class AcumaticaError(Exception):
    def __init__(self, status: int, message: str, entity: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.entity = status, message, entity


class LicenseSettings(BaseModel):
    seats: int = Field(default=3, ge=1, le=100, description="concurrent API sessions the license allows")
    requests_per_minute: int = Field(default=600, ge=1, le=10**8)


def now() -> datetime:
    return datetime.now(UTC)


class AcumaticaState:
    """One tenant's records (plain values, keyed by entity id) and its API sessions."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.license = LicenseSettings()
        self.rate = RateWindow(self.license.requests_per_minute, 60, 10_000, 1)
        self.sessions: dict[str, str] = {}
        self.pending_actions: set[str] = set()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in ENTITIES}
            self.index: dict[str, dict[tuple[str, ...], str]] = {name: {} for name in ENTITIES}
            self.numbers = itertools.count(1)
            for vendor_id, name in VENDORS.items():
                self.insert("Vendor", {"VendorID": vendor_id, "VendorName": name, "Status": "Active"})

    def license_settings(self, settings: LicenseSettings) -> None:
        self.license = settings
        self.rate.configure(settings.requests_per_minute, 60, 10_000, 1)

    # Records --------------------------------------------------------------------------------
    def insert(self, entity: str, values: dict[str, Any]) -> dict[str, Any]:
        spec = ENTITIES[entity]
        record = {**DEFAULTS.get(entity, {}), **values, "id": str(uuid.uuid4())}
        for detail in spec.details:
            record[detail] = [{**line, "id": str(uuid.uuid4())} for line in record.get(detail) or []]
        if spec.numbered and not record.get(spec.numbered):
            record[spec.numbered] = f"{next(self.numbers):06d}"
        if self.by_key(entity, [record[k] for k in spec.keys]) is not None:
            raise AcumaticaError(422, f"{entity} {' '.join(map(str, (record[k] for k in spec.keys)))} already exists.")
        record["LastModifiedDateTime"] = now()
        self.records[entity][record["id"]] = record
        self.index[entity][_key(spec, record)] = record["id"]
        return record

    def touch(self, record: dict[str, Any], **changes: Any) -> dict[str, Any]:
        record.update(changes)
        record["LastModifiedDateTime"] = now()
        return record

    def by_key(self, entity: str, key: list[Any]) -> dict[str, Any] | None:
        keys = ENTITIES[entity].keys
        if len(key) == 1 and key[0] in self.records[entity]:
            return self.records[entity][key[0]]
        if len(key) != len(keys):
            return None
        record_id = self.index[entity].get(tuple(str(part).lower() for part in key))
        return self.records[entity].get(record_id) if record_id else None

    def found(self, entity: str, key: list[Any]) -> dict[str, Any]:
        record = self.by_key(entity, key)
        if record is None:
            raise AcumaticaError(404, "No entity satisfies the condition.")
        return record

    # Business rules (what Acumatica's screens enforce) ---------------------------------------
    def put(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        spec = ENTITIES[entity]
        values = unwrap_entity(spec, body)
        with self.lock:
            existing = None
            if body.get("id"):
                existing = self.records[entity].get(str(body["id"]))
            elif all(values.get(k) for k in spec.keys):
                existing = self.by_key(entity, [values[k] for k in spec.keys])
            self.validate(entity, values, body)
            if existing is None:
                return self.create(entity, values)
            self.check_editable(entity, existing)
            for detail in spec.details:
                if detail in values:
                    values[detail] = merge_details(existing.get(detail) or [], values[detail])
            self.touch(existing, **{k: v for k, v in values.items() if k not in spec.keys})
            return self.touch(existing, **derived(entity, existing))

    def validate(self, entity: str, values: dict[str, Any], body: dict[str, Any]) -> None:
        vendor = values.get("Vendor")
        if vendor is not None and self.by_key("Vendor", [vendor]) is None:
            entity_errors = dict(body)
            entity_errors["Vendor"] = {"value": vendor, "error": f"'Vendor' cannot be found in the system. {vendor}"}
            raise AcumaticaError(422, f"Vendor '{vendor}' cannot be found in the system.", entity_errors)

    def create(self, entity: str, values: dict[str, Any]) -> dict[str, Any]:
        hold = bool(values.get("Hold", False))
        status = {"Subcontract": "On Hold" if hold else "Open", "ChangeOrder": "On Hold" if hold else "Open",
                  "Bill": "On Hold" if hold else "Balanced", "Check": "On Hold" if hold else "Closed"}.get(entity)
        record = self.insert(entity, {"Status": status, "Hold": hold, **values})
        self.touch(record, **derived(entity, record))
        if entity == "Check":
            self.apply_payment(record, sign=1)
        return record

    def check_editable(self, entity: str, record: dict[str, Any]) -> None:
        status = record.get("Status")
        if entity == "Bill" and status not in EDITABLE_BILL:
            raise AcumaticaError(422, f"The document {record['ReferenceNbr']} has the {status} status and "
                                      "cannot be edited. Released documents can only be reversed or voided.")
        if entity == "Subcontract" and status in CLOSED_SUBCONTRACT:
            raise AcumaticaError(422, f"The subcontract {record['SubcontractNbr']} is {status} and cannot be edited.")
        if entity == "ChangeOrder" and status in CLOSED_CHANGE_ORDER:
            raise AcumaticaError(422, f"The change order {record['RefNbr']} is {status} and cannot be edited.")
        if entity == "Check" and status == "Voided":
            raise AcumaticaError(422, f"The payment {record['ReferenceNbr']} is voided and cannot be edited.")

    def delete(self, entity: str, key: list[Any]) -> None:
        with self.lock:
            record = self.found(entity, key)
            if entity == "Bill" and record.get("Status") not in EDITABLE_BILL:
                raise AcumaticaError(422, f"The document {record['ReferenceNbr']} is released and cannot be "
                                          "deleted; reverse or void it instead.")
            if entity == "Check" and record.get("Status") != "On Hold":
                raise AcumaticaError(422, "A released payment cannot be deleted; void it instead.")
            del self.records[entity][record["id"]]
            del self.index[entity][_key(ENTITIES[entity], record)]

    def apply_payment(self, check: dict[str, Any], sign: int) -> None:
        for line in check.get("Details") or []:
            bill = self.by_key("Bill", [line.get("DocType", "Bill"), line["ReferenceNbr"]])
            if bill is None:
                raise AcumaticaError(422, f"Bill {line['ReferenceNbr']} cannot be found in the system.")
            balance = Decimal(str(bill["Balance"])) - sign * Decimal(str(line["AmountPaid"]))
            self.touch(bill, Balance=balance, Status="Closed" if balance == 0 else "Open")

    def void_check(self, key: list[Any]) -> dict[str, Any]:
        with self.lock:
            check = self.found("Check", key)
            if check["Type"] != "Payment" or check["Status"] == "Voided":
                raise AcumaticaError(422, f"The payment {check['ReferenceNbr']} cannot be voided.")
            self.apply_payment(check, sign=-1)
            self.touch(check, Status="Voided")
            return self.insert("Check", {**{k: v for k, v in check.items() if k not in ("id",)},
                                         "Type": "Voided Payment", "Status": "Closed",
                                         "PaymentAmount": -Decimal(str(check["PaymentAmount"])),
                                         "ApplicationDate": now()})

    def reverse_change_order(self, key: list[Any]) -> dict[str, Any]:
        with self.lock:
            order = self.found("ChangeOrder", key)
            if order["Status"] != "Closed" or order.get("ReverseStatus") in ("Reversed", "Reversing"):
                raise AcumaticaError(422, f"Only a released change order can be reversed; {order['RefNbr']} is "
                                          f"{order['Status']}.")
            self.touch(order, ReverseStatus="Reversed")
            lines = [{**line, "Amount": -Decimal(str(line.get("Amount", 0)))} for line in order.get("Commitments") or []]
            return self.insert("ChangeOrder", {
                "Description": f"Reversal of {order['RefNbr']}", "Status": "Closed", "Hold": False,
                "ReverseStatus": "Reversing", "OrigCORefNbr": order["RefNbr"], "ChangeDate": now(),
                "ExternalRefNbr": order.get("ExternalRefNbr"), "Commitments": lines,
                "CommitmentsChangeTotal": -Decimal(str(order.get("CommitmentsChangeTotal") or 0))})


def _key(spec: EntitySpec, record: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(record.get(k, "")).lower() for k in spec.keys)


def derived(entity: str, record: dict[str, Any]) -> dict[str, Any]:
    """Totals Acumatica computes from the lines."""
    def total(detail: str, amount: str) -> Decimal | None:
        lines = record.get(detail)
        return sum((Decimal(str(line.get(amount) or 0)) for line in lines), Decimal(0)) if lines else None

    if entity == "Bill":  # only unpaid bills are created or edited, so the balance is the amount
        amount = total("Details", "Amount")
        amount = Decimal(str(record.get("Amount") or 0)) if amount is None else amount
        return {"Amount": amount, "Balance": amount}
    if entity == "Subcontract" and (amount := total("Details", "ExtCost")) is not None:
        return {"SubcontractTotal": amount}
    if entity == "ChangeOrder" and (amount := total("Commitments", "Amount")) is not None:
        return {"CommitmentsChangeTotal": amount}
    if entity == "Check" and (amount := total("Details", "AmountPaid")) is not None:
        return {"PaymentAmount": amount}
    return {}


# Wire format --------------------------------------------------------------------------------

def unwrap_entity(spec: EntitySpec, body: dict[str, Any]) -> dict[str, Any]:
    values = {name: unwrap(body[name], kind) for name, kind in spec.fields.items()
              if name in body and name != "LastModifiedDateTime"}
    for detail, detail_fields in spec.details.items():
        if detail in body:
            values[detail] = [{**{name: unwrap(line[name], kind) for name, kind in detail_fields.items() if name in line},
                               **{k: line[k] for k in ("id", "delete") if k in line}}
                              for line in body[detail] or []]
    return values


def merge_details(current: list[dict[str, Any]], sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Acumatica's rule for detail lines in a PUT: a line with an ``id`` updates (or with ``delete``
    removes) that line, a line without one is added."""
    lines = {line["id"]: dict(line) for line in current}
    for line in sent:
        if line.get("id") in lines:
            if line.get("delete"):
                del lines[line["id"]]
            else:
                lines[line["id"]].update({k: v for k, v in line.items() if k != "delete"})
        elif not line.get("delete"):
            lines[str(uuid.uuid4())] = {**line, "id": None}
    return [{**line, "id": line_id} for line_id, line in lines.items()]


def unwrap(wrapped: Any, kind: str) -> Any:
    value = wrapped.get("value") if isinstance(wrapped, dict) else wrapped
    if value is None:
        return None
    if kind == D:
        return Decimal(str(value))
    if kind == T:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if kind == B:
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if kind == I:
        return int(value)
    return str(value)


def wrap(value: Any) -> dict[str, Any]:
    if isinstance(value, Decimal):
        value = float(value)
    elif isinstance(value, datetime | date):
        value = value.isoformat()
    return {"value": value}


def render(entity: str, record: dict[str, Any], select: set[str] | None, expand: set[str], base: str) -> dict:
    spec = ENTITIES[entity]
    body: dict[str, Any] = {"id": record["id"], "rowNumber": 1, "note": {"value": ""}}
    for name in spec.fields:
        if (select is None or name in select or name in spec.keys) and name in record:
            body[name] = wrap(record[name])
    for detail, detail_fields in spec.details.items():
        if detail in expand:
            body[detail] = [{"id": line["id"], "rowNumber": n + 1, "note": {"value": ""},
                             **{k: wrap(line[k]) for k in detail_fields if k in line}, "custom": {}}
                            for n, line in enumerate(record.get(detail) or [])]
    body["custom"] = {}
    body["_links"] = {"self": f"{base}/{entity}/{record['id']}"}
    return body


def swagger(base_path: str) -> dict[str, Any]:
    """An OpenAPI 3 description of the endpoint, in the shape Acumatica's ``swagger.json`` has."""
    primitive = {S: "string", D: "number", B: "boolean", T: "string", I: "integer"}
    schemas: dict[str, Any] = {kind: {"type": "object", "properties": {"value": {"type": primitive[kind]}}}
                               for kind in primitive}
    schemas["Entity"] = {"type": "object", "properties": {"id": {"type": "string", "format": "uuid"},
                                                          "rowNumber": {"type": "integer"},
                                                          "note": {"$ref": "#/components/schemas/StringValue"}}}
    paths: dict[str, Any] = {}
    for name, spec in ENTITIES.items():
        properties = {f: {"$ref": f"#/components/schemas/{kind}"} for f, kind in spec.fields.items()}
        for detail, detail_fields in spec.details.items():
            schemas[f"{name}{detail}"] = {"allOf": [{"$ref": "#/components/schemas/Entity"}, {
                "type": "object", "properties": {f: {"$ref": f"#/components/schemas/{k}"}
                                                 for f, k in detail_fields.items()}}]}
            properties[detail] = {"type": "array", "items": {"$ref": f"#/components/schemas/{name}{detail}"}}
        schemas[name] = {"allOf": [{"$ref": "#/components/schemas/Entity"}, {"type": "object", "properties": properties}]}
        ref = {"$ref": f"#/components/schemas/{name}"}
        listing = {"content": {"application/json": {"schema": {"type": "array", "items": ref}}}}
        single = {"content": {"application/json": {"schema": ref}}}
        paths[f"/{name}"] = {
            "get": {"tags": [name], "operationId": f"{name}_GetList", "summary": f"Retrieves records of {name}",
                    "responses": {"200": {"description": "Success", **listing}}},
            "put": {"tags": [name], "operationId": f"{name}_PutEntity", "summary": f"Creates or updates a {name}",
                    "requestBody": {"content": {"application/json": {"schema": ref}}},
                    "responses": {"200": {"description": "Success", **single}}},
        }
        paths[f"/{name}/{{id}}"] = {
            "get": {"tags": [name], "operationId": f"{name}_GetById", "summary": f"Retrieves a {name} by ID",
                    "parameters": [{"$ref": "#/components/parameters/id"}],
                    "responses": {"200": {"description": "Success", **single}}},
            "delete": {"tags": [name], "operationId": f"{name}_DeleteById", "summary": f"Deletes a {name} by ID",
                       "parameters": [{"$ref": "#/components/parameters/id"}],
                       "responses": {"204": {"description": "Deleted"}}},
        }
        for action in spec.actions:
            schemas[f"{action}"] = {"type": "object", "properties": {"entity": ref, "parameters": {"type": "object"}}}
            paths[f"/{name}/{action}"] = {"post": {
                "tags": [name], "operationId": f"{name}_InvokeAction_{action}", "summary": f"Invokes {action}",
                "requestBody": {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{action}"}}}},
                "responses": {"202": {"description": "Accepted"}, "204": {"description": "Done"}}}}
    return {"openapi": "3.0.1", "info": {"title": f"{ENDPOINT}/{VERSION}", "version": VERSION},
            "servers": [{"url": base_path}], "paths": paths,
            "components": {"schemas": schemas, "parameters": {"id": {
                "name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}}},
            "tags": [{"name": name} for name in ENTITIES]}


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
        return swagger(base_of(request, version))

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
        target = unwrap_entity(spec, body.get("entity") or {})
        key = [target[k] for k in spec.keys if target.get(k)] or [str((body.get("entity") or {}).get("id"))]
        if action == "VoidCheck":
            state.void_check(key)
        else:
            state.reverse_change_order(key)
        status_id = uuid.uuid4().hex
        state.pending_actions.add(status_id)
        location = f"{base_of(request, version)}/{entity}/{action}/status/{status_id}"
        return Response(status_code=202, headers={"Location": location})

    return app


def split_key(key: str) -> list[str]:
    return [part for part in key.replace("|", "/").split("/") if part]


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
        return {name: len(rows) for name, rows in state.records.items()}

    @router.put("/license")
    def license_settings(settings: LicenseSettings) -> LicenseSettings:
        state.license_settings(settings)
        return settings

    @router.get("/sessions")
    def sessions() -> dict[str, int]:
        return {"open": len(state.sessions), "seats": state.license.seats}

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

    @router.post("/{entity}/{key:path}/reject")
    def reject(entity: str, key: str) -> dict[str, Any]:
        with state.lock:
            return render(entity, state.touch(state.found(entity, split_key(key)), Status="Rejected"), None, set(), "")

    @router.delete("/{entity}/{key:path}")
    def user_delete(entity: str, key: str) -> dict[str, str]:
        state.delete(entity, split_key(key))
        return {"deleted": key}

    @router.patch("/Vendor/{vendor_id}")
    def rename_vendor(vendor_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        with state.lock:
            vendor = state.by_key("Vendor", [vendor_id]) or state.insert("Vendor", {"VendorID": vendor_id})
            return render("Vendor", state.touch(vendor, **changes), None, set(), "")

    return router
