"""What Sage 300 CRE and Sage 100 Contractor share as sync targets.

Records go in as import files that Sage imports on its own schedule, so an export is not answered
at once: ``create`` drops the file and the link stays BLUE ("queued for Sage's import"); a later
sync finds the imported record by the pipeline's mark and links it. While the file is still waiting
in the import folder, it is not written again; once Sage imported it, the mark finds the record, so
a retried task never queues a second one. A file Sage's import refused turns the link RED with
the reason from the import's report.

The refresh reads the tables (only what changed since the last read where Sage keeps change dates)
and compares each linked row with what the link holds from the last read: a row that reads the same
is "unchanged" and costs no write. A row Sage holds but that cannot be read (an empty column, text in
a number column, a vendor that is not in the vendor table) is reported on its link and in the run
summary, and stops nothing else.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from pydantic import BaseModel

from erp_connectors.base import VendorApiError
from erp_connectors.sage_sql import SageSqlHook, SageTable
from erp_sync.documents.line_map import MappedLine
from erp_sync.documents.model import CodedDocument, CodedLine
from erp_sync.erps.base import BillsSeen, ErpAdapter, ErpBill, ErpDocument, ErpRefusal, reads_bills, reference
from erp_sync.models import RecordType
from erp_sync.reference.model import ErpItem, ReferenceKind
from erp_sync.sync.links import ErpView, Link
from erp_sync.sync.records import ProcoreRecord


MARK = re.compile(r"PC-(?:CMT|CCO|REQ)-\d+-L\d+")


@dataclass(frozen=True)
class ReferenceTable:
    """Where a Sage system keeps one kind of reference data: its key, name and status columns."""

    name: str
    key: str
    label: str
    status: str | None = None  # none: every row is active
    active: Callable[[Any], bool] = bool
    job: str | None = None  # a sub job's (extra's, phase's) job: its key is unique only within the job


class SageAdapter(ErpAdapter):
    hook: SageSqlHook
    tables: ClassVar[dict[RecordType, SageTable]]
    labels: ClassVar[dict[RecordType, str]]
    reference_tables: ClassVar[dict[ReferenceKind, ReferenceTable]]

    def __init__(self, hook: SageSqlHook):
        super().__init__(hook)
        self._marked: dict[RecordType, dict[str, tuple[str, BaseModel]]] = {}

    def reference_items(self, kind: ReferenceKind, since: datetime | None = None) -> list[ErpItem]:
        """The kind's rows, each key once (Sage 300 keeps a job's cost codes and categories per job); a job's
        extras or phases each under their job. Only the rows changed since ``since`` where the tables keep change
        dates (Sage 100 Contractor's ``upddte``); Sage 300 CRE's ODBC tables keep none: all rows, on premises and
        outside any vendor's budget."""
        table = self.reference_tables.get(kind)
        if table is None:
            return []
        rows = self.hook.select(table.name, [column for column in (table.job, table.key, table.label, table.status)
                                             if column], changed_since=since if self.hook.change_column else None)
        items: dict[str, ErpItem] = {}
        for row in rows:
            if row[table.key] is None:
                continue
            key, name = str(row[table.key]).strip(), str(row[table.label] or "").strip()
            active = table.active(row[table.status]) if table.status else True
            item = ErpItem.sub_job(str(row[table.job]).strip(), key, name, active) if table.job else ErpItem(
                kind, key, key, name, active=active)
            items.setdefault(item.erp_id, item)
        return list(items.values())

    @abstractmethod
    def import_records(self, document: CodedDocument, mark: str, vendor_id: str | None,
                       parent: Link | None) -> list[list[Any]]:
        """The import file's records for this Procore record: a header and one record per line."""

    def line_keys(self, document: CodedDocument) -> dict[str, str]:
        """A commitment's items are numbered in the import file 1, 2, ...; a CCO line or an invoice line names
        the item of the commitment line it changes or bills."""
        if document.record.record_type is RecordType.COMMITMENT:
            return {coded.line.procore_id: str(item) for item, coded in enumerate(document.lines, start=1)}
        return {coded.line.procore_id: document.commitment_line(coded) or "" for coded in document.lines}

    @abstractmethod
    def view(self, record_type: RecordType, ref: str, row: Any) -> ErpView:
        ...

    @abstractmethod
    def bill(self, ref: str, row: Any) -> ErpBill:
        """An AP invoice row as a bill, with the commitment it names."""

    @abstractmethod
    def number(self, record_type: RecordType, row: Any) -> str:
        """The document number an accountant sees in Sage."""

    def document(self, record_type: RecordType, ref: str, row: BaseModel) -> ErpDocument:
        table = self.tables[record_type]
        key = {name: getattr(row, name) for name in table.key}
        return ErpDocument(ref=ref, key={"table": table.name, **key},
                           label=f"{self.name} {self.labels[record_type]} {self.number(record_type, row)}")

    def find(self, record: ProcoreRecord, link: Link, parent: Link | None) -> ErpDocument | None:
        found = self.marked(record.record_type).get(reference(record, link))
        return self.document(record.record_type, *found) if found else None

    def marked(self, record_type: RecordType) -> dict[str, tuple[str, BaseModel]]:
        """The table's records by the pipeline's mark, read once per run: one read however many
        queued records Sage has imported since the last run."""
        if record_type not in self._marked:
            table = self.tables[record_type]
            self._marked[record_type] = {
                match.group(0): (ref, row) for ref, row in self.hook.documents(table).items()
                if (match := MARK.search(getattr(row, table.mark_column) or ""))}
        return self._marked[record_type]

    def create(self, document: CodedDocument, link: Link, vendor_id: str | None,
               parent: Link | None) -> ErpDocument | None:
        """Queue the record for Sage's import; the document exists only once Sage has imported it."""
        record = document.record
        mark = reference(record, link)
        self.check_import(record, link)
        if not self.hook.awaiting_import(mark):
            self.hook.drop_import(mark, self.import_records(document, mark, vendor_id, parent))
        return None

    def check_import(self, record: ProcoreRecord, link: Link) -> None:
        refusal = self.hook.import_refusal(reference(record, link))
        if refusal is not None:
            raise ErpRefusal("erp_validation", f"{self.name}'s import refused the {record.record_type.words}: "
                                               f"{refusal}. Fix the cause, then edit the record in Procore: the "
                                               "next hourly sync exports it again.")

    def awaiting_import(self, record: ProcoreRecord, link: Link) -> bool:
        return self.hook.awaiting_import(reference(record, link))

    def update(self, document: CodedDocument, link: Link, vendor_id: str | None, parent: Link | None,
               mapped: list[MappedLine]) -> ErpDocument:
        """Sage's imports add records; they change none. The sentence names the lines to change by hand."""
        record = document.record.record_type.words
        before = {entry.line.procore_id: entry.line for entry in mapped}
        now = {line.procore_id: line for line in document.document.lines}
        changes = [f"remove {line.label()}" for key, line in before.items() if key not in now]
        changes += [f"add {line.label()}" for key, line in now.items() if key not in before]
        changes += [f"change {line.label()} to {line.amount:.2f}" for key, line in now.items()
                    if key in before and before[key].fingerprint() != line.fingerprint()]
        what = f" ({'; '.join(changes)})" if changes else ""
        raise ErpRefusal("locked", f"{self.name} takes changes to an exported {record} only in {self.name} itself: "
                                   f"make the change there{what}, or unlink the {record} and export it again.")

    def is_locked(self, error: VendorApiError) -> bool:
        return False

    # Refresh -------------------------------------------------------------------------------
    def refresh(self, links: dict[RecordType, list[Link]],
                since: datetime | None) -> tuple[list[tuple[Link, ErpView]], list[Link]]:
        changed_views: list[tuple[Link, ErpView]] = []
        unchanged: list[Link] = []
        incremental = self.hook.change_column is not None and since is not None
        for record_type, table in self.tables.items():
            linked = [link for link in links.get(record_type, []) if link.in_erp]
            bills = record_type is RecordType.SUBCONTRACTOR_INVOICE and reads_bills(links)
            if not linked and not bills:
                continue
            first_bad = len(self.hook.bad_rows)
            rows = self.hook.documents(table, since if incremental else None)
            unreadable = {bad.key: bad.reason for bad in self.hook.bad_rows[first_bad:]}
            present = self.hook.refs(table) if incremental else set(rows) | set(unreadable)
            if bills:
                self.bills_seen = BillsSeen([self.bill(ref, row) for ref, row in rows.items()], present)
            for link in linked:
                if link.erp_ref in unreadable:
                    view = ErpView(link.erp_ref, present=True, status=link.erp_status, condition="unreadable",
                                   amount=link.erp_amount, balance=link.erp_balance, retainage=link.erp_retainage,
                                   problem=unreadable[link.erp_ref])
                elif link.erp_ref in rows:
                    view = self.view(record_type, link.erp_ref, rows[link.erp_ref])
                elif link.erp_ref not in present:
                    view = ErpView(link.erp_ref, present=False, condition="deleted")
                else:
                    unchanged.append(link)
                    continue
                if _same(view, link):
                    unchanged.append(link)
                else:
                    changed_views.append((link, view))
        return changed_views, unchanged

    def still_in_erp(self, link: Link) -> bool:
        table = self.tables[link.record_type]
        key = {name: link.erp_key[name] for name in table.key}
        return bool(self.hook.select(table.name, table.key, equals=key))


def _same(view: ErpView, link: Link) -> bool:
    """The row reads as it did at the last refresh: the snapshot comparison."""
    return (view.present, view.status, view.condition, view.amount, view.balance, view.retainage) == (
        link.erp_present, link.erp_status, link.erp_condition, link.erp_amount, link.erp_balance, link.erp_retainage)


def job_costing(coded: CodedLine) -> tuple[str, str, str, str]:
    """A line's job, extra or phase (blank where Procore names no sub job: the job's own costs, as Procore's
    connectors send a line without a Sub Job #), cost code, and category or cost type."""
    return (coded.project.erp_id, coded.task.code if coded.task else "", coded.cost_code.erp_id,
            coded.cost_type.erp_id)


def as_date(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None
