"""Procore's side of the hourly sync: the records it exports and the streams it reads them from.

Each stream names its path, its replication key (``updated_at``, read with Procore's
``filters[updated_at]`` range) and its bookmark in the ``watermarks`` table, in the manner of a
Singer stream, so that incremental reading is a property of the stream.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from erp_connectors.base import VendorApiError
from erp_connectors.procore import ProcoreHook
from erp_sync.models import RecordType
from erp_sync.store import Store

# Records written in the same second as the bookmark, or while the last run read, are read again;
# links remember what they exported, so reading a record twice changes nothing.
BOOKMARK_OVERLAP = timedelta(minutes=2)


@dataclass(frozen=True)
class ProcoreStream:
    name: str
    record_type: RecordType
    list_path: str               # "{project_id}" is filled per project
    write_path: str              # where the ERP reference is written; "{id}" and "{package_id}" are filled per record
    show_path: str               # where one record is read as it is now; "{id}" and "{project_id}" are filled
    body_key: str                # Procore wraps a record's changes in this key
    approved: frozenset[str]
    parent_key: str | None = None  # the parent Procore's reference asks for beside the changes
    replication_key: str = "updated_at"

    @property
    def bookmark(self) -> str:
        return f"procore:{self.name}"

    def pages(self, procore: ProcoreHook, project_id: int, since: datetime | None, until: datetime,
              first_page: int = 1) -> Iterator[tuple[int, list[ProcoreRecord]]]:
        """The project's records changed in ``since``..``until`` (all of them without ``since``), page by page."""
        params: dict[str, Any] = {"project_id": project_id}
        if since is not None:
            params["filters[updated_at]"] = f"{_iso(since - BOOKMARK_OVERLAP)}...{_iso(until)}"
        for page, rows in procore.pages(self.list_path.format(project_id=project_id), first_page, **params):
            yield page, [ProcoreRecord(self, data) for data in rows]

    def current(self, procore: ProcoreHook, record: ProcoreRecord) -> ProcoreRecord | None:
        """The record as Procore holds it now, or None if Procore no longer has it (deleted: 404)."""
        path = self.show_path.format(id=record.id, project_id=record.project_id)
        scope = {} if "{project_id}" in self.show_path else {"project_id": record.project_id}
        try:
            return ProcoreRecord(self, procore.get(path, **scope))
        except VendorApiError as error:
            if error.status == 404:
                return None
            raise

    def write_back(self, procore: ProcoreHook, record: ProcoreRecord, origin_id: str | None,
                   origin_data: str | None) -> datetime:
        """Put the ERP reference on the Procore record; returns the record's new ``updated_at``.

        The body is shaped as Procore's REST reference shapes it: ``project_id`` (and the parent
        a requisition names) at the top level, the changes under the record's key."""
        path = self.write_path.format(id=record.id, package_id=record.change_order_package_id)
        body: dict[str, Any] = {"project_id": record.project_id,
                                self.body_key: {"origin_id": origin_id, "origin_data": origin_data}}
        if self.parent_key:
            body[self.parent_key] = record.parent_id
        return _parse(procore.patch(path, body)["updated_at"])


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


COMMITMENT_APPROVED = frozenset({"Approved"})
STREAMS: tuple[ProcoreStream, ...] = (
    ProcoreStream("work_order_contracts", RecordType.COMMITMENT, "work_order_contracts",
                  "work_order_contracts/{id}", "work_order_contracts/{id}", "work_order_contract", COMMITMENT_APPROVED),
    ProcoreStream("purchase_order_contracts", RecordType.COMMITMENT, "purchase_order_contracts",
                  "purchase_order_contracts/{id}", "purchase_order_contracts/{id}", "purchase_order_contract",
                  COMMITMENT_APPROVED),
    # Procore's update of a commitment change order takes no origin (its body, ``change_order``, has no
    # origin_id); the CCO's change order package does: PATCH change_order_packages/{id}.
    ProcoreStream("commitment_change_orders", RecordType.COMMITMENT_CHANGE_ORDER,
                  "projects/{project_id}/commitment_change_orders", "change_order_packages/{package_id}",
                  "projects/{project_id}/commitment_change_orders/{id}", "change_order", frozenset({"approved"}), parent_key="contract_id"),
    ProcoreStream("requisitions", RecordType.SUBCONTRACTOR_INVOICE, "requisitions", "requisitions/{id}",
                  "requisitions/{id}", "requisition", frozenset({"approved", "approved_as_noted"}), parent_key="commitment_id"),
)
STREAM_BY_NAME = {stream.name: stream for stream in STREAMS}

# What the ERP record is made of; a change elsewhere (the write-back of origin_id) exports nothing.
_EXPORTED_FIELDS = ("number", "title", "description", "grand_total", "vendor", "contract_date",
                    "invoice_number", "billing_date", "summary", "contract_id", "commitment_id", "due_date")


@dataclass(frozen=True)
class ProcoreRecord:
    stream: ProcoreStream
    data: dict[str, Any]

    @classmethod
    def from_snapshot(cls, snapshot: str) -> ProcoreRecord:
        saved = json.loads(snapshot)
        return cls(STREAM_BY_NAME[saved["stream"]], saved["data"])

    def snapshot(self) -> str:
        return json.dumps({"stream": self.stream.name, "data": self.data}, sort_keys=True, default=str)

    @property
    def record_type(self) -> RecordType:
        return self.stream.record_type

    @property
    def id(self) -> int:
        return int(self.data["id"])

    @property
    def project_id(self) -> int:
        return int(self.data["project"]["id"] if "project" in self.data else self.data["project_id"])

    @property
    def number(self) -> str:
        if self.record_type is RecordType.SUBCONTRACTOR_INVOICE:
            return str(self.data.get("invoice_number") or f"#{self.data['number']}")
        return str(self.data["number"])

    @property
    def project_name(self) -> str | None:
        """The project's name where the record carries it (commitments do; CCOs and invoices name only its id)."""
        return (self.data.get("project") or {}).get("name")

    @property
    def status(self) -> str | None:
        return self.data.get("status")

    @property
    def title(self) -> str:
        return str(self.data.get("title") or self.number)

    @property
    def updated_at(self) -> datetime:
        return _parse(self.data["updated_at"])

    @property
    def exportable(self) -> bool:
        return self.status in self.stream.approved

    @property
    def change_order_package_id(self) -> int:
        """A commitment change order's package, where Procore keeps its ``origin_id``."""
        return int(self.data.get("legacy_package_id") or self.data["id"])

    @property
    def parent_id(self) -> int | None:
        """The commitment a CCO or an invoice belongs to."""
        parent = self.data.get("contract_id") or self.data.get("commitment_id")
        return int(parent) if parent else None

    @property
    def vendor(self) -> dict[str, Any] | None:
        return self.data.get("vendor")

    @property
    def amount(self) -> Decimal:
        if self.record_type is RecordType.SUBCONTRACTOR_INVOICE:
            return Decimal(self.data["summary"]["current_payment_due"])
        return Decimal(self.data["grand_total"])

    @property
    def date(self) -> str | None:
        return self.data.get("contract_date") or self.data.get("billing_date") or self.data.get("due_date")

    @property
    def fingerprint(self) -> str:
        exported = {key: self.data.get(key) for key in _EXPORTED_FIELDS}
        return hashlib.sha256(json.dumps(exported, sort_keys=True, default=str).encode()).hexdigest()


def project_name(record_data: dict, project_id: int | None) -> str:
    """The project's name as a record's Procore snapshot gives it, else its id."""
    return (record_data.get("project") or {}).get("name") or (f"Project {project_id}" if project_id else "")


def project_names(store: Store, integration_id: int) -> dict[int, str]:
    """The integration's projects by id, named as the oldest snapshot of each (usually a commitment's) names them."""
    return {row["procore_project_id"]: project_name(
        ProcoreRecord.from_snapshot(row["procore_json"]).data if row["procore_json"] else {}, row["procore_project_id"])
        for row in store.rows("projects_of_integration", integration_id=integration_id)}
