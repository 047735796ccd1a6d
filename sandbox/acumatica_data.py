"""Acumatica's records as the sandbox holds them: the endpoint's entities, the business rules of
Acumatica's screens (released bills are locked, voids and reversals are documents of their own),
and the contract-based API's wire format (wrapped values, detail lines by id, ``swagger.json``).

Entity and field names follow Acumatica's ``Default`` endpoint (Bill, Check, Subcontract,
ChangeOrder, Vendor). The HTTP side is in ``sandbox.acumatica``.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from sandbox.common import DEMO_JOBS, DEMO_SUB_JOBS, ERP_COST_CODES, RateWindow
from sandbox.procore_lines import COST_TYPES

ENDPOINT, VERSION = "Default", "24.200.001"
DEMO_USER, DEMO_PASSWORD, DEMO_TENANT = "erp-sync", "sandbox-secret", "Summit"
SESSION_COOKIE = ".ASPXAUTH"
D, B, T, I = "DecimalValue", "BooleanValue", "DateTimeValue", "IntValue"
EDITABLE_BILL = {"On Hold", "Balanced"}
CLOSED_SUBCONTRACT = {"Closed", "Completed", "Canceled"}
CLOSED_CHANGE_ORDER = {"Closed", "Rejected"}


CONTRACT_FILE = Path(__file__).parent / "contracts" / f"acumatica_{ENDPOINT.lower()}_{VERSION}.json"
CONTRACT: dict[str, Any] = json.loads(CONTRACT_FILE.read_text())
# The key of each entity (what ``GET /{Entity}/{key}`` and PUT match on) and the key Acumatica
# numbers itself; the published description does not say which fields are keys.
KEYS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "Vendor": (("VendorID",), None),
    "Project": (("ProjectID",), None),
    "ProjectTask": (("ProjectID", "ProjectTaskID"), None),
    "CostCode": (("CostCodeID",), None),
    "AccountGroup": (("AccountGroupID",), None),
    "Subcontract": (("SubcontractNbr",), "SubcontractNbr"),
    "ChangeOrder": (("RefNbr",), "RefNbr"),
    "Bill": (("Type", "ReferenceNbr"), "ReferenceNbr"),
    "Check": (("Type", "ReferenceNbr"), "ReferenceNbr"),
}
# The actions the sandbox carries out; the others the description lists answer 501 here.
SERVED_ACTIONS = {"Subcontract": ("ReleaseFromHold", "PutOnHold"), "ChangeOrder": ("ReverseChangeOrder",),
                  "Check": ("VoidCheck",), "Bill": ("ReleaseRetainage",)}
# A document's vendor: Acumatica's forms refuse a new document without one (``'<Field>' cannot be
# empty.``) and one that is not a vendor of the system.
VENDOR_FIELD = {"Subcontract": "VendorID", "Bill": "Vendor", "Check": "Vendor"}


@dataclass(frozen=True)
class EntitySpec:
    keys: tuple[str, ...]
    fields: dict[str, str]
    details: dict[str, dict[str, str]] = field(default_factory=dict)
    detail_schemas: dict[str, str] = field(default_factory=dict)
    numbered: str | None = None  # the key field Acumatica numbers itself
    actions: tuple[str, ...] = ()
    served_actions: tuple[str, ...] = ()
    vendor_field: str | None = None


def entity_spec(name: str, published: dict[str, Any]) -> EntitySpec:
    keys, numbered = KEYS[name]
    details = published.get("details", {})
    return EntitySpec(keys, published["fields"], {d: spec["fields"] for d, spec in details.items()},
                      {d: spec["schema"] for d, spec in details.items()}, numbered, tuple(published["actions"]),
                      SERVED_ACTIONS.get(name, ()), VENDOR_FIELD.get(name))


ENTITIES: dict[str, EntitySpec] = {name: entity_spec(name, published)
                                   for name, published in CONTRACT["entities"].items()}
RECORD_SYSTEM_FIELDS = {"id", "rowNumber", "note", "custom", "error", "files", "delete", "_links"}
DEFAULTS = {"Bill": {"Type": "Bill"}, "Check": {"Type": "Payment", "PaymentMethod": "CHECK"}}
VENDORS = {"APEXCON": "Apex Concrete", "BRIGHTEL": "Brightline Electric", "CASCPLUM": "Cascade Plumbing",
           "DELTASTL": "Delta Steel Erectors", "EVERDRY": "Evergreen Drywall",
           # what a real vendor list holds beside Procore's (docs/reference-data.md): one spelt differently
           # ("Star Framing, LLC" in Procore), two that both look like Procore's "Granite Masonry"
           "STARFRM": "Star Framing", "GRANITE": "Granite Masonry", "GRANITEINC": "Granite Masonry, Inc."}
INACTIVE_VENDORS = {"SUMROOF": "Summit Roofing"}
EXPENSE_ACCOUNT = "50000"  # the expense account every demo account group posts to
# Each project's task for the costs of no sub job, marked Default as a project template's task is: Procore's lines
# in no sub job go there. Project 2402's is a task of its own, so a test tells a project's Default task from a
# connection's ``default_task``.
DEFAULT_TASK = ("0000", "Project-level costs")
OWN_DEFAULT_TASKS = {2402: ("GENERAL", "General conditions")}
CENT = Decimal("0.01")
# Kept on a bill beside its contract fields, as Acumatica keeps them (CuryRetainageTotal, CuryRetainageUnreleasedAmt)
# where the Default endpoint does not show them: never rendered.
RETAINAGE_HELD, RETAINAGE_UNRELEASED = "_retainage_held", "_retainage_unreleased"


class AcumaticaError(Exception):
    def __init__(self, status: int, message: str, entity: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.entity = status, message, entity


class Preferences(BaseModel):
    hold_subcontracts_on_entry: bool = Field(
        default=False, description="Subcontracts preferences: new subcontracts start on hold until ReleaseFromHold")


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
        self.preferences = Preferences()
        self.rate = RateWindow(self.license.requests_per_minute, 60, 10_000, 1)
        self.sessions: dict[str, str] = {}
        self.pending_actions: set[str] = set()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in ENTITIES}
            self.index: dict[str, dict[tuple[str, ...], str]] = {name: {} for name in ENTITIES}
            self.numbers = itertools.count(1)
            self.ignored: set[str] = set()
            for vendor_id, name in VENDORS.items():
                self.insert("Vendor", {"VendorID": vendor_id, "VendorName": name, "Status": "Active"})
            for vendor_id, name in INACTIVE_VENDORS.items():
                self.insert("Vendor", {"VendorID": vendor_id, "VendorName": name, "Status": "Inactive"})
            self.seed_job_costing()

    def seed_job_costing(self) -> None:
        """The demo's projects with their tasks (Procore's sub jobs), cost codes and account groups (Procore's cost
        types), under the codes the demo's Procore company imported from the ERP, so they link by code (but for
        ``ERP_COST_CODES``' mess)."""
        for job in DEMO_JOBS:
            self.insert("Project", {"ProjectID": str(job), "Description": f"Job {job}", "Status": "Active"})
            task, name = OWN_DEFAULT_TASKS.get(job, DEFAULT_TASK)
            self.insert("ProjectTask", {"ProjectID": str(job), "ProjectTaskID": task, "Description": name,
                                        "Status": "Active", "Default": True})
        for job, sub_jobs in DEMO_SUB_JOBS.items():
            for sub_job in sub_jobs:
                self.insert("ProjectTask", {"ProjectID": str(job), "ProjectTaskID": sub_job.erp_code,
                                            "Description": sub_job.name, "Status": "Active", "Default": False})
        for code in ERP_COST_CODES:
            self.insert("CostCode", {"CostCodeID": code.full_code, "Description": code.name})
        for cost_type in COST_TYPES:
            self.insert("AccountGroup", {"AccountGroupID": cost_type.code, "Description": cost_type.name,
                                         "Type": "Expense", "Expense": True, "DefaultAccountID": EXPENSE_ACCOUNT,
                                         "Active": True})

    def license_settings(self, settings: LicenseSettings) -> None:
        self.license = settings
        self.rate.configure(settings.requests_per_minute, 60, 10_000, 1)

    # Records --------------------------------------------------------------------------------
    def insert(self, entity: str, values: dict[str, Any]) -> dict[str, Any]:
        spec = ENTITIES[entity]
        record = {**DEFAULTS.get(entity, {}), **values, "id": str(uuid.uuid4())}
        for detail in spec.details:
            record[detail] = numbered(spec, detail, [{**line, "id": str(uuid.uuid4())} for line in record.get(detail) or []])
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
            self.ignore_unknown(entity, body)
            self.validate(entity, values, body, creating=existing is None)
            if existing is None:
                record = self.create(entity, values)
            else:
                self.check_editable(entity, existing)
                for detail in spec.details:
                    if detail in values:
                        values[detail] = numbered(spec, detail,
                                                  merge_details(existing.get(detail) or [], values[detail]))
                self.touch(existing, **{k: v for k, v in values.items() if k not in spec.keys})
                record = self.totalled(entity, existing)
            if entity == "ProjectTask" and record.get("Default"):
                self.one_default_task(record)
            return record

    def one_default_task(self, task: dict[str, Any]) -> None:
        """A project has one default task (the Default box on the project's Tasks tab): marking one clears it on
        the project's other tasks."""
        for other in self.records["ProjectTask"].values():
            if other is not task and other.get("Default") and \
                    str(other["ProjectID"]).lower() == str(task["ProjectID"]).lower():
                self.touch(other, Default=False)

    def ignore_unknown(self, entity: str, body: dict[str, Any]) -> None:
        """Acumatica takes only the fields of the endpoint's contract from a record and drops the
        rest without a word; the sandbox does the same and notes what it dropped, for the tests."""
        spec = ENTITIES[entity]
        known = set(spec.fields) | set(spec.details) | RECORD_SYSTEM_FIELDS
        self.ignored |= {f"{entity}.{name}" for name in body if name not in known}
        for detail, detail_fields in spec.details.items():
            for line in body.get(detail) or []:
                self.ignored |= {f"{entity}.{detail}.{name}" for name in line
                                 if name not in detail_fields and name not in RECORD_SYSTEM_FIELDS}

    def validate(self, entity: str, values: dict[str, Any], body: dict[str, Any], creating: bool) -> None:
        """Acumatica answers 422 with the record as sent and an ``error`` on each field at fault."""
        field_name = ENTITIES[entity].vendor_field
        vendor = values.get(field_name) if field_name else None
        if field_name and creating and not vendor:
            error = f"'{field_name}' cannot be empty."
        elif vendor and self.by_key("Vendor", [vendor]) is None:
            error = f"'{field_name}' cannot be found in the system. {vendor}"
        else:
            return
        entity_errors = {**body, field_name: {"value": vendor, "error": error}}
        raise AcumaticaError(422, error, entity_errors)

    def create(self, entity: str, values: dict[str, Any]) -> dict[str, Any]:
        hold = bool(values.get("Hold", False))
        subcontract_status = "On Hold" if self.preferences.hold_subcontracts_on_entry else "Open"
        status = {"Subcontract": subcontract_status, "ChangeOrder": "On Hold" if hold else "Open",
                  "Bill": "On Hold" if hold else "Balanced", "Check": "On Hold" if hold else "Closed"}.get(entity)
        held = {"Hold": hold} if "Hold" in ENTITIES[entity].fields else {}
        record = self.insert(entity, {"Status": status, **held, **values})
        self.totalled(entity, record)
        if entity == "Check":
            self.apply_payment(record, sign=1)
        return record

    def totalled(self, entity: str, record: dict[str, Any]) -> dict[str, Any]:
        """The totals Acumatica computes from the lines; a bill's retainage with them."""
        self.touch(record, **derived(entity, record))
        return self.hold_retainage(record) if entity == "Bill" else record

    def hold_retainage(self, bill: dict[str, Any]) -> dict[str, Any]:
        """A bill line that bills a subcontract line takes that line's retainage (Retainage Support, with
        ``ApplyRetainage`` on the subcontract): the line's amount times its ``RetainagePct``. The bill's ``Amount``
        (CuryOrigDocAmt) and ``Balance`` are then the lines' total less the retainage; the Default endpoint shows
        neither the retainage nor the "Total Amount" that includes it."""
        held = sum((self.retained(line) for line in bill.get("Details") or []), Decimal(0))
        if not held and not bill.get(RETAINAGE_HELD):
            return bill
        payable = Decimal(str(bill["Amount"])) - held
        return self.touch(bill, Amount=payable, Balance=payable, **{RETAINAGE_HELD: held, RETAINAGE_UNRELEASED: held})

    def retained(self, line: dict[str, Any]) -> Decimal:
        subcontract = self.by_key("Subcontract", [line["POOrderNbr"]]) if line.get("POOrderNbr") else None
        if subcontract is None or not subcontract.get("ApplyRetainage") or line.get("POLine") is None:
            return Decimal(0)
        billed = next((row for row in subcontract.get("Details") or [] if row.get("LineNbr") == line["POLine"]), None)
        percent = Decimal(str((billed or {}).get("RetainagePct") or 0))
        return (Decimal(str(line.get("Amount") or 0)) * percent / 100).quantize(CENT, ROUND_HALF_UP)  # away from zero

    def release_retainage(self, key: list[Any], amount: Decimal) -> dict[str, Any]:
        """Bills and Adjustments, Release Retainage: a retainage bill for ``amount`` of the retainage a bill holds,
        as Acumatica makes it: a copy of the original's header (vendor, vendor ref, description) under its own
        number, one line "Retainage for Bill <original>"."""
        with self.lock:
            bill = self.found("Bill", key)
            unreleased = Decimal(str(bill.get(RETAINAGE_UNRELEASED) or 0))
            if amount <= 0 or amount > unreleased:
                raise AcumaticaError(422, f"The retainage amount to release must be greater than zero and cannot "
                                          f"exceed the unreleased retainage of bill {bill['ReferenceNbr']} "
                                          f"({unreleased:.2f}).")
            self.touch(bill, **{RETAINAGE_UNRELEASED: unreleased - amount})
            return self.create("Bill", {
                "Type": "Bill", "Vendor": bill["Vendor"], "VendorRef": bill.get("VendorRef"),
                "Description": bill.get("Description"), "Hold": False, "Date": now(),
                "Details": [{"TransactionDescription": f"Retainage for Bill {bill['ReferenceNbr']}", "Amount": amount}]})

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

    def act(self, entity: str, action: str, key: list[Any], parameters: dict[str, Any]) -> dict[str, Any]:
        """Carry out one of the actions the sandbox serves (``SERVED_ACTIONS``)."""
        if action == "ReleaseRetainage":
            kind = CONTRACT["action_parameters"][action]["AmtToRelease"]
            return self.release_retainage(key, Decimal(str(unwrap(parameters.get("AmtToRelease"), kind) or 0)))
        return {"VoidCheck": self.void_check, "ReverseChangeOrder": self.reverse_change_order,
                "ReleaseFromHold": self.release_subcontract, "PutOnHold": self.hold_subcontract}[action](key)

    def release_subcontract(self, key: list[Any]) -> dict[str, Any]:
        with self.lock:
            subcontract = self.found("Subcontract", key)
            if subcontract["Status"] != "On Hold":
                raise AcumaticaError(422, f"The subcontract {subcontract['SubcontractNbr']} is not on hold.")
            return self.touch(subcontract, Status="Open")

    def hold_subcontract(self, key: list[Any]) -> dict[str, Any]:
        with self.lock:
            subcontract = self.found("Subcontract", key)
            self.check_editable("Subcontract", subcontract)
            return self.touch(subcontract, Status="On Hold")

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
                "ReverseStatus": "Reversing", "OriginalCORefNbr": order["RefNbr"], "ChangeDate": now(),
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
    if entity == "Subcontract" and (amount := total("Details", "ExtendedCost")) is not None:
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


def numbered(spec: EntitySpec, detail: str, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Acumatica numbers a document's lines (``LineNbr``) as they are added, never reusing a number."""
    if "LineNbr" not in spec.details[detail]:
        return lines
    last = max((line.get("LineNbr") or 0 for line in lines), default=0)
    for line in lines:
        if not line.get("LineNbr"):
            last += 1
            line["LineNbr"] = last
    return lines


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


# Where each operation of the published description lives, below ``/{Entity}``.
OPERATION_ROUTES = {
    "GetList": ("get", ""), "PutEntity": ("put", ""), "GetById": ("get", "/{id}"), "DeleteById": ("delete", "/{id}"),
    "GetByKeys": ("get", "/{ids}"), "DeleteByKeys": ("delete", "/{ids}"), "GetAdHocSchema": ("get", "/$adHocSchema"),
    "PutFile": ("put", "/{ids}/files/{filename}"), "InvokeAction_CustomAction": ("post", "/{actionName}"),
}
UNSERVED_OPERATIONS = ("GetAdHocSchema", "PutFile")  # described, answered 501 by the sandbox


def swagger(server_url: str) -> dict[str, Any]:
    """The endpoint's OpenAPI 3 description, built from the published contract: its value types,
    entity and detail schemas (``SubcontractDetail``, ...), operations and actions per entity, and
    an absolute ``servers[0].url`` as an instance gives it."""
    schemas: dict[str, Any] = {kind: {"type": "object", "properties": {"value": shape, "error": {"type": "string"}}}
                               for kind, shape in CONTRACT["value_types"].items()}
    schemas["Entity"] = {"type": "object", "properties": {
        "id": {"type": "string", "format": "uuid"}, "rowNumber": {"type": "integer", "format": "int64"},
        "note": _ref("StringValue"), "custom": {"type": "object"}, "error": {"type": "string"},
        "files": {"type": "array", "items": {"type": "object"}}}}
    paths: dict[str, Any] = {}
    for name, spec in ENTITIES.items():
        properties = {f: _ref(kind) for f, kind in spec.fields.items()}
        for detail, schema in spec.detail_schemas.items():
            schemas[schema] = _entity_schema({f: _ref(k) for f, k in spec.details[detail].items()})
            properties[detail] = {"type": "array", "items": _ref(schema)}
        schemas[name] = _entity_schema(properties)
        for operation in CONTRACT["operations"]:
            method, route = OPERATION_ROUTES[operation]
            paths.setdefault(f"/{name}{route}", {})[method] = _operation(name, operation)
        for action in spec.actions:
            parameters = CONTRACT["action_parameters"].get(action)
            schemas[action] = {"required": ["entity"], "type": "object", "properties": {"entity": _ref(name)} | (
                {"parameters": {"type": "object", "properties": {p: _ref(kind) for p, kind in parameters.items()}}}
                if parameters else {})}
            paths[f"/{name}/{action}"] = {"post": _operation(name, f"InvokeAction_{action}", body=action)}
    return {"openapi": CONTRACT["openapi"], "info": {"title": f"{ENDPOINT}/{VERSION}", "version": "4"},
            "servers": [{"url": server_url}], "paths": paths, "components": {"schemas": schemas},
            "tags": [{"name": name} for name in ENTITIES]}


def _ref(schema: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{schema}"}


def _entity_schema(properties: dict[str, Any]) -> dict[str, Any]:
    return {"allOf": [_ref("Entity"), {"type": "object", "properties": properties}]}


def _operation(entity: str, operation: str, body: str | None = None) -> dict[str, Any]:
    codes = ("202", "204") if operation.startswith("InvokeAction_") else \
        ("204",) if operation in ("DeleteById", "DeleteByKeys", "PutFile") else ("200",)
    described: dict[str, Any] = {"tags": [entity], "operationId": f"{entity}_{operation}",
                                 "responses": {code: {"description": "Success"} for code in codes}}
    if operation == "PutEntity" or body:
        described["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body or entity)}}}
    if operation == "PutEntity" or operation.startswith("InvokeAction_"):
        described["responses"]["422"] = {"description": "The data specified in the request is invalid.",
                                         "content": {"application/json": {"schema": _ref(entity)}}}
    return described
