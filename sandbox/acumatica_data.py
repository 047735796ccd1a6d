"""Acumatica's records as the sandbox holds them: the endpoint's entities, the business rules of
Acumatica's screens (released bills are locked, voids and reversals are documents of their own),
and the contract-based API's wire format (wrapped values, detail lines by id, ``swagger.json``).

Entity and field names follow Acumatica's ``Default`` endpoint (Bill, Check, Subcontract,
ChangeOrder, Vendor). The HTTP side is in ``sandbox.acumatica``.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from sandbox.common import RateWindow

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
