"""What the ERP Integrations page shows: per integration and record type, the views of Procore's own
tool a page at a time (Synced, Waiting, Failed, Rejected in the ERP, Unlinked), each row typed with
what an accountant reads, the Payments Issued each invoice produced, and the Airflow task that last
touched a record."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from math import ceil
from urllib.parse import quote

from erp_sync.models import Colour, ErpKind, RecordType
from erp_sync.store import Store
from erp_sync.sync.payments import numbers_differ
from erp_sync.sync.records import ProcoreRecord, project_name, project_names

PER_PAGE = 50


class View(StrEnum):
    SYNCED = "synced"
    WAITING = "waiting"
    FAILED = "failed"
    REJECTED = "rejected"
    UNLINKED = "unlinked"

    @property
    def colour(self) -> Colour | None:
        """The icon colour of the view's links; the Unlinked history has none of its own."""
        return _VIEW_COLOURS[self]

    @property
    def title(self) -> str:
        return _VIEW_TITLES[self]


_VIEW_COLOURS = {View.SYNCED: Colour.GREEN, View.WAITING: Colour.BLUE, View.FAILED: Colour.RED,
                 View.REJECTED: Colour.YELLOW, View.UNLINKED: None}
_VIEW_TITLES = {View.SYNCED: "Synced", View.WAITING: "Waiting", View.FAILED: "Failed",
                View.REJECTED: "Rejected", View.UNLINKED: "Unlinked"}  # by accounting or in the ERP: each row says
TAB_TITLES = {RecordType.COMMITMENT: "Commitments", RecordType.COMMITMENT_CHANGE_ORDER: "Commitment Change Orders",
              RecordType.SUBCONTRACTOR_INVOICE: "Subcontractor Invoices"}

ERP_NAMES = {kind.value: kind.display_name for kind in ErpKind}


@dataclass(frozen=True)
class AirflowTask:
    """The Airflow task instance that ran a job; ``path`` is its page (with its log) in the Airflow UI."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1

    @property
    def path(self) -> str:
        path = f"{self.run_path}/tasks/{quote(self.task_id, safe='')}"
        return path + (f"/mapped/{self.map_index}" if self.map_index >= 0 else "")

    @property
    def run_path(self) -> str:
        """The DAG run's page in the Airflow UI."""
        return f"/dags/{quote(self.dag_id, safe='')}/runs/{quote(self.run_id, safe='')}"

    @classmethod
    def of_run(cls, row: dict) -> AirflowTask | None:
        """From a ``sync_runs`` row's Airflow columns; None for a job run outside Airflow."""
        if not (row.get("dag_id") and row.get("airflow_run_id") and row.get("task_id")):
            return None
        map_index = row.get("map_index")
        return cls(row["dag_id"], row["airflow_run_id"], row["task_id"], -1 if map_index is None else map_index)


@dataclass(frozen=True)
class LinkRow:
    """One record as a view of the page lists it."""

    procore_id: int
    record_type: RecordType
    project: str
    number: str
    title: str
    vendor: str
    amount: Decimal | None
    erp_ref: str | None
    colour: str
    reason: str | None
    erp_confirmed_at: datetime | None
    last_task: AirflowTask | None
    ended_at: datetime | None = None
    ended_by: str | None = None
    state: str | None = None
    reason_code: str | None = None

    @classmethod
    def from_row(cls, row: dict, projects: dict[int, str]) -> LinkRow:
        record = ProcoreRecord.from_snapshot(row["procore_json"]) if row["procore_json"] else None
        data = record.data if record else {}
        project_id = row["procore_project_id"]
        return cls(procore_id=row["procore_id"], record_type=RecordType(row["record_type"]),
                   project=projects.get(project_id) or project_name(data, project_id),
                   number=row["procore_number"] or (record.number if record else ""),
                   title=data.get("title") or "", vendor=(data.get("vendor") or {}).get("name") or "",
                   amount=record.amount if record else None, erp_ref=row["erp_ref"], colour=row["colour"],
                   reason=row["message"], erp_confirmed_at=row["erp_seen_at"], last_task=AirflowTask.of_run(row),
                   ended_at=row["ended_at"], ended_by=row["ended_by"], state=row.get("state"),
                   reason_code=row.get("reason_code"))


@dataclass(frozen=True)
class LinkPage:
    rows: list[LinkRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / self.per_page))


@dataclass(frozen=True)
class Payment:
    """A Payment Issued in Procore that an ERP bill payment produced."""

    amount: Decimal
    date: str | None
    method: str | None
    check_number: str | None
    invoice_number: str | None
    erp_bill_number: str | None
    status: str
    colour: str
    message: str | None
    voided_at: datetime | None
    history: list[str] = field(default_factory=list)

    @property
    def number_mismatch(self) -> bool:
        return numbers_differ(self.invoice_number, self.erp_bill_number)


@dataclass(frozen=True)
class UnlinkState:
    """The newest unlink request of a record: pending, or the queue's answer."""

    request_id: int
    status: str
    colour: str | None
    message: str | None


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its own % and _ taken literally (escape character !)."""
    escaped = text.strip().lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


class IntegrationPage:
    """The page's reads for one integration (a row of ``integrations``)."""

    def __init__(self, store: Store, integration: dict):
        self.store, self.integration = store, integration

    def counts(self, record_type: RecordType) -> dict[View, int]:
        """How many links each view of a tab holds: the colour counts at the top of the page."""
        by_colour = {row["colour"]: row["links"] for row in self.store.rows(
            "colour_counts", integration_id=self.integration["id"], record_type=record_type.value)}
        counts = {view: by_colour.get(view.colour.value, 0) for view in View if view.colour is not None}
        with self.store.transaction() as tx:
            counts[View.UNLINKED] = tx.scalar("unlinked_links_count", integration_id=self.integration["id"],
                                              record_type=record_type.value, project_id=None, number=None)
        return counts

    def links(self, record_type: RecordType, view: View, project_id: int | None = None, number: str | None = None,
              page: int = 1, per_page: int = PER_PAGE) -> LinkPage:
        query = "links_of_colour" if view.colour else "unlinked_links"
        where = {"integration_id": self.integration["id"], "record_type": record_type.value,
                 "project_id": project_id, "number": like_pattern(number) if number and number.strip() else None}
        if view.colour:
            where["colour"] = view.colour.value
        with self.store.transaction() as tx:
            total = tx.scalar(f"{query}_count", **where)
            page = min(page, max(1, ceil(total / per_page)))  # past the last page: the last page
            rows = tx.rows(query, **where, limit=per_page, offset=(page - 1) * per_page)
        return LinkPage([LinkRow.from_row(row, self.projects) for row in rows], total, page, per_page)

    @cached_property
    def projects(self) -> dict[int, str]:
        """The integration's projects by id, with their names, for the project filter."""
        return dict(sorted(project_names(self.store, self.integration["id"]).items(), key=lambda item: item[1]))

    def payments(self, invoice_ids: list[int]) -> dict[int, list[Payment]]:
        """The Payments Issued of each invoice, with each payment's history (new, changed, voided)."""
        if not invoice_ids:
            return {}
        rows = self.store.rows("payments_of_invoices", integration_id=self.integration["id"],
                               invoice_ids=list(invoice_ids))
        history = self._payment_history([row["origin_id"] for row in rows if row["origin_id"]])
        payments: dict[int, list[Payment]] = defaultdict(list)
        for row in rows:
            payments[row["procore_invoice_id"]].append(Payment(
                amount=row["amount"], date=str(row["payment_date"])[:10] if row["payment_date"] else None,
                method=row["payment_method"], check_number=row["check_number"], invoice_number=row["invoice_number"],
                erp_bill_number=row["erp_bill_number"], status=row["status"], colour=row["colour"],
                message=row["message"], voided_at=row["voided_at"], history=history.get(row["origin_id"], [])))
        return dict(payments)

    def _payment_history(self, origin_ids: list[str]) -> dict[str, list[str]]:
        if not origin_ids:
            return {}
        history: dict[str, list[str]] = defaultdict(list)
        for entry in self.store.rows("payment_history", integration_id=self.integration["id"], origin_ids=origin_ids):
            detail = json.loads(entry["detail_json"] or "{}")
            history[entry["entity_id"]].append(_history_line(entry["at"], entry["action"], detail))
        return dict(history)

    def unlink_states(self, record_type: RecordType, procore_ids: list[int]) -> dict[int, UnlinkState]:
        """The newest unlink request of each record, so a reload still shows it pending or answered."""
        if not procore_ids:
            return {}
        rows = self.store.rows("latest_unlink_request_of_records", integration=self.integration["name"],
                               record_type=record_type.value, procore_ids=list(procore_ids))
        return {row["procore_id"]: UnlinkState(row["id"], row["status"], row["colour"], row["message"]) for row in rows}


def _history_line(at: datetime, action: str, detail: dict) -> str:
    when = at.strftime("%Y-%m-%d %H:%M")
    if action == "voided":
        return f"{when} voided in the ERP (was {detail.get('old_amount')})"
    if action == "changed":
        return f"{when} changed from {detail.get('old_amount')} on {detail.get('old_date')} to {detail.get('amount')}"
    return f"{when} imported: {detail.get('amount')} on {detail.get('date')}"
