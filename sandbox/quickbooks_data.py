"""A QuickBooks Online company as the sandbox holds it: its objects in QuickBooks' own JSON shape,
tombstones for ``cdc``, OAuth tokens, ``requestid`` answers and the rules QuickBooks enforces
(SyncToken, vendor references, payments against bill balances, voids that keep the payment).
The HTTP side is in ``sandbox.quickbooks``.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from sandbox.common import DEMO_JOBS, RateWindow
from sandbox.procore_lines import COST_CODES
from sandbox.qbo_query import QueryError, lookup, parse_query

DEMO_REALM = "9130357766900456"
DEMO_CLIENT_ID = "ABqbo-sandbox-client"
DEMO_CLIENT_SECRET = "qbo-sandbox-secret"
DEMO_REFRESH_TOKEN = "AB11-demo-refresh-token"
RETAINAGE_ITEM_ID = "1"  # the sandbox's first object
ACCESS_TOKEN_SECONDS = 3600
REFRESH_TOKEN_SECONDS = 100 * 24 * 3600
CDC_LOOKBACK = timedelta(days=30)
CDC_MAX_PER_ENTITY = 1000
COMPANY_TZ = timezone(timedelta(hours=-8))  # timestamps carry the company's offset, as QuickBooks sends them
ENTITIES = ("Vendor", "Bill", "BillPayment", "PurchaseOrder", "Account", "Item", "Customer")
VENDORS = ["Apex Concrete", "Brightline Electric", "Cascade Plumbing", "Delta Steel Erectors", "Evergreen Drywall",
           "Star Framing", "Granite Masonry", "Granite Masonry, Inc."]  # the mess of docs/reference-data.md
INACTIVE_VENDORS = ["Summit Roofing"]


class OAuthError(Exception):
    """An answer of Intuit's token endpoint: ``{"error": "invalid_grant"}`` and the like."""

    def __init__(self, status: int, error: str):
        super().__init__(error)
        self.status, self.error = status, error


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
            # The "Invoice Retainage Item" Procore's QuickBooks connector asks for, booked to a liability account;
            # made first, so its Id is the same in every sandbox (the demo's connection names it).
            self.retainage_item_id = self.save("Item", {"Name": "Retainage", "Type": "Service", "Active": True})["Id"]
            for name, account_type in (("Accounts Payable (A/P)", "Accounts Payable"), ("Checking", "Bank"),
                                       ("Company Visa", "Credit Card"), ("Job Materials", "Expense")):
                self.save("Account", {"Name": name, "AccountType": account_type, "Active": True})
            for name in VENDORS:
                self.save("Vendor", {"DisplayName": name, "CompanyName": name, "Active": True})
            for name in INACTIVE_VENDORS:
                self.save("Vendor", {"DisplayName": name, "CompanyName": name, "Active": False})
            self.seed_job_costing()

    def seed_job_costing(self) -> None:
        """The demo's projects (sub-customers with ``Job`` true under the owner, named by job number) and cost
        codes (service items named by code), as a contractor keeping job costs in QuickBooks Online sets them up."""
        owner = self.save("Customer", {"DisplayName": "Summit Owner Group", "Job": False, "Active": True})["Id"]
        for job in DEMO_JOBS:
            self.save("Customer", {"DisplayName": str(job), "FullyQualifiedName": f"Summit Owner Group:{job}",
                                   "Job": True, "ParentRef": {"value": owner}, "Active": True})
        for code in COST_CODES:
            self.save("Item", {"Name": code.full_code, "Description": code.name, "Type": "Service", "Active": True})

    def configure(self, limits: Limits) -> None:
        self.limits = limits
        self.rate.configure(limits.per_minute, 60, 10_000, 1)

    # Tokens ------------------------------------------------------------------------------------
    def refresh(self, refresh_token: str) -> dict[str, Any]:
        with self.lock:
            expires = self.refresh_tokens.get(refresh_token)
            if expires is None or expires < datetime.now(UTC):
                raise OAuthError(400, "invalid_grant")
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
