"""Export: approved Procore records without a link go to the ERP; changed linked records are pushed
as updates; the ERP reference is written back to Procore.

The order of steps is what makes a retry safe. The link is opened (``exporting``) before anything is
sent; a link found in that state on a later attempt means the ERP may hold the document already, so
the adapter looks for it by the pipeline's reference before it creates anything. The reference is
written back to Procore only after the link has recorded it (``exported``), and the link turns
GREEN only after Procore took it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property

import requests

from erp_connectors.base import BudgetSpent, RetryableResponse, VendorApiError, VendorUnavailable
from erp_connectors.procore import ProcoreHook
from erp_sync.documents.coding import coded
from erp_sync.documents.line_map import LineMap, MappedLine
from erp_sync.documents.model import CodedDocument, Document, DocumentLine
from erp_sync.documents.procore import (
    COMMITMENT_LINES_UNKNOWN,
    LINE_NOT_ON_COMMITMENT,
    LINE_UNCODED,
    LineProblem,
    project_ref,
    read_document,
)
from erp_sync.erps.base import RELEASE_MADE_IN_ERP, RETAINAGE_TO_RELEASE, ErpAdapter, ErpDocument, ErpRefusal
from erp_sync.models import Colour, ExportMode, RecordType
from erp_sync.reference.check import REASON_CODE as REFERENCE_UNLINKED
from erp_sync.reference.check import EXPORTED_NEXT, READY_NEXT, check
from erp_sync.reference.links import confirmed_links
from erp_sync.reference.model import ProcoreRef, ReferenceKind, ReferenceLinks
from erp_sync.runs import NEW_RED
from erp_sync.store import Store, utcnow
from erp_sync.sync.links import AWAITING_ACCOUNTING, WAITING_FOR_ACCEPTANCE, Link, LinkBook, LinkState
from erp_sync.sync.procore_check import DELETED_IN_PROCORE, NotSendable, check_still_approved, named, orphaned_in_erp
from erp_sync.sync.reading import READ_AHEAD_SHARE, ReadingPlan, Resume, StreamState, as_time
from erp_sync.sync.records import STREAMS, ProcoreRecord, ProcoreStream
from erp_sync.sync.waiting import commitment_lines_unknown, kept_lines, not_on_commitment, read_again_since

log = logging.getLogger(__name__)
TRANSIENT = (RetryableResponse, VendorUnavailable, requests.RequestException)
CLOCK_SKEW = timedelta(minutes=5)
CLAIM_LEASE = timedelta(minutes=10)
NEEDS_VENDOR = {RecordType.COMMITMENT, RecordType.SUBCONTRACTOR_INVOICE}
PROCESSING_FAILED = "processing_failed"  # a defect met by one record: tried again at every run
ZERO_TOTAL = "zero_total"
PARENT_ON_ITS_WAY = "parent_on_its_way"
# Waiting records every run looks at again, though Procore did not change them
WAITS_FOR_SOMETHING = (REFERENCE_UNLINKED, PARENT_ON_ITS_WAY, COMMITMENT_LINES_UNKNOWN, LINE_NOT_ON_COMMITMENT)


class Unlinked(Exception):
    """The record names reference data that is not linked to the ERP's; the message is the sentence."""


class ParentOnItsWay(Exception):
    """The change order's or invoice's commitment is on its way to the ERP (waiting for acceptance, a link or
    the ERP's import): the record waits, BLUE, and goes at the first run after it is there."""


@dataclass
class Exporter:
    store: Store
    integration: dict
    procore: ProcoreHook
    adapter: ErpAdapter
    book: LinkBook
    counts: Counter[str]
    clock: Callable[[], datetime] = utcnow
    deferred: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped early: its share of Procore's budget is spent
    exporting_accepted: bool = False  # this is the decisions run, exporting what accounting accepted
    # Records whose state in Procore this run has read (in a list, or asked for when accepted): sent without
    # asking Procore again. Any other record is sent from an older snapshot and is asked for first.
    confirmed: set[tuple[RecordType, int]] = field(default_factory=set)
    project_list: list[dict] | None = None  # the company's projects as this run listed them (reference data reuses it)
    _changes_of: dict[int, list[Link]] | None = None  # commitment id -> its CCOs' links
    notices: dict[int, str] = field(default_factory=dict)  # link id -> what is left to do in the ERP
    _read: dict[tuple[RecordType, int], Document] = field(default_factory=dict)  # read, and about to be updated
    # Waiting commitments whose lines this run read again: their waiting CCOs and invoices are checked again
    _lines_read_again: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.line_map = LineMap(self.store)

    @cached_property
    def references(self) -> ReferenceLinks:
        """The integration's reference-data links, loaded once a run."""
        return confirmed_links(self.store, self.integration)

    @property
    def acceptance(self) -> bool:
        """Approved records wait for accounting acceptance instead of going to the ERP."""
        return self.integration["export_mode"] == ExportMode.ACCEPTANCE

    def run(self) -> None:
        """Read what is due, stop where the budget share ends, then retry what earlier attempts left."""
        seen: dict[ProcoreStream, set[int]] = {stream: set() for stream in STREAMS}
        try:
            self.project_list = self.procore.projects()
        except BudgetSpent as spent:
            self.stop(spent)
        projects = [project["id"] for project in self.project_list or []]
        self.counts["projects"] = len(projects)
        plan = ReadingPlan(self.store, self.integration, self.clock())
        try:
            self.read_due(plan, projects, seen)
        finally:
            plan.save()
        for stream in STREAMS:  # commitments first: CCOs and invoices follow their commitment
            self.retry_pending(stream, seen[stream])
        if self.stopped:
            self.counts["stopped_for_budget"] = 1

    def read_due(self, plan: ReadingPlan, projects: list[int], seen: dict[ProcoreStream, set[int]]) -> None:
        """What is due, then what spare budget allows, until the budget share ends."""
        due, ahead = plan.due(projects)
        self.counts["streams_due"] = len(due)
        self.check_staleness(plan, len(projects))
        for index, state in enumerate(due):
            if not self.read(plan, state, seen[state.stream]):
                self.counts["streams_left_for_later"] = len(due) - index
                return
            self.counts["streams_read"] += 1
        for state in ahead:
            if self.stopped or not self.spare_budget() or not self.read(plan, state, seen[state.stream]):
                return
            self.counts["streams_read_ahead"] += 1

    def read(self, plan: ReadingPlan, state: StreamState, seen: set[int]) -> bool:
        """One project-stream from its bookmark (or where a stopped read left it); False if the budget
        stopped it, with its position kept."""
        resume = state.resume or Resume(since=_iso(state.bookmark), until=(utcnow() + CLOCK_SKEW).isoformat(),
                                        started=utcnow().isoformat())
        changed = False
        # A resumed read starts one page early: records that left the list meanwhile shift the pages
        # forward, and the ids already handled are skipped, so none is missed and none handled twice.
        pages = state.stream.pages(self.procore, state.project_id, as_time(resume.since), as_time(resume.until),
                                   max(1, resume.page - 1))
        try:
            for page, records in pages:
                for record in records:
                    if record.id <= resume.after_id:
                        continue
                    seen.add(record.id)
                    self.confirmed.add((record.record_type, record.id))
                    changed = changed or self.changed_since(record, state.bookmark)
                    self.handle(record)
                    self.counts[f"read_{record.record_type.value}"] += 1  # handled: not read again on resuming
                    resume.after_id = record.id
                resume.page = page + 1
        except BudgetSpent as spent:
            plan.stopped(state, resume)
            self.stop(spent)
            return False
        plan.finished(state, resume, changed)
        return True

    def check_staleness(self, plan: ReadingPlan, projects: int) -> None:
        """Says once a run when the budget cannot read every project-stream within the staleness: each
        read costs at least a call, and each run first lists the projects (one window an hour)."""
        window = self.procore.meter.window()
        if window is None or not projects:
            return
        share = int(self.procore.meter.share * window["rate_limit"])
        reads = share - -(-projects // self.procore.per_page)
        feasible = plan.feasible_staleness(len(STREAMS) * projects, reads)
        if feasible is None:
            return
        self.counts["feasible_staleness_hours"] = feasible
        advice = (f"raise max_staleness_hours to {feasible} or ask Procore for a larger budget" if feasible <= 24
                  else "ask Procore for a larger budget (a day is the longest staleness allowed)")
        log.warning("Procore's budget cannot keep %s project-streams within the %s h staleness configured: the "
                    "sync's share of %s calls a window reads at most %s of them an hour after the project list, so "
                    "the staleness this budget can keep is %s h; %s", len(STREAMS) * projects,
                    self.integration["max_staleness_hours"], share, max(0, reads), feasible, advice)

    def spare_budget(self) -> bool:
        window = self.procore.meter.window()
        return window is None or window["sync_calls"] < READ_AHEAD_SHARE * window["rate_limit"]

    def changed_since(self, record: ProcoreRecord, bookmark: datetime | None) -> bool:
        """Changed in Procore since the last read (our own write-back of the ERP reference aside).
        Procore's times have whole seconds: a change in the second the last read started counts."""
        if bookmark is None or record.updated_at < bookmark.replace(microsecond=0):
            return False
        link = self.book.get(record.record_type, record.id)
        return link is None or link.procore_updated_at != record.updated_at

    def retry_pending(self, stream: ProcoreStream, seen: set[int]) -> None:
        for link in self.book.of_type(stream.record_type):
            if link.procore_id in seen or not (self.awaits_retry(link) or self.coded_through_lines_read_again(link)):
                continue  # checked before the snapshot is parsed: most links await nothing
            pending = link.record
            if pending is not None and pending.stream is stream:
                self.counts["retried"] += 1
                try:
                    self.handle(pending)
                except BudgetSpent as spent:  # the link still awaits its retry
                    self.stop(spent)

    def stop(self, spent: BudgetSpent) -> None:
        if self.stopped is None:
            self.stopped = str(spent)
            log.info("Stopping the sync for this window: %s", spent)

    def awaits_retry(self, link: Link) -> bool:
        """Links to act on though Procore did not change the record: unfinished exports, and (with
        direct export) records that waited for acceptance before the integration turned it off."""
        return link.state in (LinkState.EXPORTING, LinkState.EXPORTED) or (
            link.state == LinkState.FAILED and not link.in_erp) or (
            link.state == LinkState.READY and not self.acceptance) or link.reason_code in WAITS_FOR_SOMETHING

    def coded_through_lines_read_again(self, link: Link) -> bool:
        """A waiting CCO or invoice whose commitment's lines this run read again: its coding may have changed."""
        if not self._lines_read_again or link.state != LinkState.READY or link.record_type is RecordType.COMMITMENT:
            return False
        record = link.record
        return record is not None and record.parent_id in self._lines_read_again

    # One record ----------------------------------------------------------------------------
    def handle(self, record: ProcoreRecord) -> None:
        link = self.book.get(record.record_type, record.id)
        if link is not None and self.in_flight_elsewhere(link):
            self.counts["accepted_in_flight"] += 1
            return
        try:
            if link is None and not record.exportable:
                self.counts["not_approved"] += 1
            elif link is None and self.acceptance:
                self.ready(record, None)
            elif link is not None and link.state in AWAITING_ACCOUNTING:
                self.awaiting_accounting(record, link)
            elif link is None or not link.in_erp:
                self.export(record, link)
            elif link.state == LinkState.EXPORTED:
                self.write_back(record, link)
            elif record.fingerprint != link.fingerprint:
                self.update(record, link)
            else:
                self.unchanged(record, link)
        except VendorUnavailable:  # nothing else would get through either: the run stops and says so
            raise
        except NotSendable as gone:
            self.withdraw(record, gone)
        except LineProblem as problem:
            self.line_problem(record, problem)
        except Unlinked as unlinked:
            self.wait(record, self.book.get(record.record_type, record.id), str(unlinked), REFERENCE_UNLINKED)
        except ParentOnItsWay as waiting:
            self.wait(record, self.book.get(record.record_type, record.id), str(waiting), PARENT_ON_ITS_WAY)
        except ErpRefusal as refusal:
            self.fail(record, self.book.get(record.record_type, record.id), refusal)
        except VendorApiError as error:
            if error.refuses_access:
                raise
            refusal = self.adapter.refusal(error, record, updating=link is not None and link.in_erp)
            self.fail(record, self.book.get(record.record_type, record.id), refusal)
        except BudgetSpent as spent:
            current = self.book.get(record.record_type, record.id)
            if current is None or not self.awaits_retry(current):
                raise  # spent before anything of it was kept (its lines): the stream's read stops before it
            self.counts["write_backs_left_for_later"] += 1  # its link waits; the next run retries it
            self.stop(spent)
        except TRANSIENT as error:
            self.counts["deferred"] += 1
            self.deferred.append(f"{record.record_type.value} {record.id}: {error}")
            log.warning("Deferred %s %s to the next attempt: %s", record.record_type.value, record.id, error)
        except Exception as error:  # noqa: BLE001 - one record's defect must not stop the others
            log.exception("%s %s could not be processed", record.record_type.value, record.id)
            self.defect(record, error)

    # Accounting acceptance --------------------------------------------------------------------
    def ready(self, record: ProcoreRecord, link: Link | None) -> None:
        """Ready to Export: the record waits, BLUE, with what Procore says now; nothing is sent. Its lines are read
        once per change in Procore and kept (the page shows them), so its sentence names every link its lines
        need before anyone accepts it; a CCO's or an invoice's once its commitment's lines are known."""
        self.counts["ready"] += 1
        _missing, unlinked = check(self.references_of(record), self.references, READY_NEXT)
        message, reason_code, read = (unlinked, REFERENCE_UNLINKED, None) if unlinked else self.checked(record, link)
        if link is None:
            link = self.book.open(record, LinkState.READY, Colour.BLUE, message, reason_code,
                                  fingerprint=record.fingerprint)
        elif read is not None or (link.state, link.fingerprint, link.procore_updated_at, link.message) != (
                LinkState.READY, record.fingerprint, record.updated_at, message):
            link = self.book.save(link, state=LinkState.READY, colour=Colour.BLUE, message=message,
                                  reason_code=reason_code, fingerprint=record.fingerprint,
                                  procore_json=record.snapshot(), procore_number=record.number,
                                  procore_updated_at=record.updated_at)
            self.counts["ready_updated"] += 1
        if read is not None:
            self.line_map.record(link.id, [MappedLine(line, None) for line in read.lines])
            if record.record_type is RecordType.COMMITMENT:
                self._lines_read_again.add(record.id)
            elif record.record_type is RecordType.COMMITMENT_CHANGE_ORDER:
                self._changes_of = None  # the invoices of its commitment may bill its lines

    def checked(self, record: ProcoreRecord, link: Link | None) -> tuple[str, str | None, Document | None]:
        """A waiting record's sentence and reason, and its lines when they were read now (None: the kept ones
        stand). A CCO's or an invoice's lines are coded through the kept lines of its commitment (and the
        commitment's change orders), so they are read only once those are known, and again only when Procore
        changed the record or the lines they were coded through were read again since."""
        if record.record_type is RecordType.COMMITMENT:
            kept = kept_lines(self.line_map, record, link)
            lines = Document(record, tuple(m.line for m in kept)) if kept else self.read_lines(record, None)
            return *self.line_check(lines), None if kept else lines
        parent = self.book.get(RecordType.COMMITMENT, record.parent_id)
        known = self.known_mapped(record, parent, waiting=True)
        if parent is None or parent.id not in known:
            return commitment_lines_unknown(record, parent), COMMITMENT_LINES_UNKNOWN, None
        kept = kept_lines(self.line_map, record, link)
        if kept is not None and not read_again_since(link, kept, known):
            if link.reason_code == LINE_NOT_ON_COMMITMENT:
                return link.message, LINE_NOT_ON_COMMITMENT, None
            return *self.line_check(Document(record, tuple(m.line for m in kept))), None
        try:
            lines = self.read_lines(record, parent, waiting=True)
        except LineProblem as problem:
            if problem.reason_code != LINE_UNCODED:
                raise
            return not_on_commitment(record, parent, problem), LINE_NOT_ON_COMMITMENT, problem.coded_part
        return *self.line_check(lines), lines

    def line_check(self, lines: Document) -> tuple[str, str | None]:
        """The sentence naming every link a waiting record's lines need, or that it waits for acceptance."""
        try:
            self.coded(lines, READY_NEXT)
        except LineProblem as problem:
            return problem.message, REFERENCE_UNLINKED
        return WAITING_FOR_ACCEPTANCE, None

    def awaiting_accounting(self, record: ProcoreRecord, link: Link) -> None:
        """A record before accounting, or sent back by it, follows Procore: withdrawn when no longer
        approved, ready again (or, with direct export, exported) once a rejected one has changed."""
        if link.state == LinkState.ACCEPTED:
            self.counts["accepted_exporting"] += 1  # the acceptance's own task exports it
        elif not record.exportable:
            self.book.end(link, "no longer approved in Procore")
            self.counts["withdrawn"] += 1
        elif link.state == LinkState.RETURNED and record.fingerprint == link.fingerprint:
            self.counts["rejected_unchanged"] += 1
        elif self.acceptance:
            self.ready(record, link)
        else:
            self.export(record, link)

    def in_flight_elsewhere(self, link: Link) -> bool:
        """An accepted export that a decisions run is carrying out is left to it (or to its retry); after
        CLAIM_LEASE without progress the hourly sync finishes it, finding the ERP record before creating."""
        return (not self.exporting_accepted and link.export_claimed_by is not None
                and link.state in (LinkState.EXPORTING, LinkState.EXPORTED)
                and link.updated_at is not None and link.updated_at > utcnow() - CLAIM_LEASE)

    def export_accepted(self) -> None:
        """Export what accounting accepted; a retry of the same run finishes what its crashed attempt left
        half done (found in the ERP by the pipeline's reference before anything is created again)."""
        self.exporting_accepted = True
        for link in list(self.book.links.values()):
            if link.state in (LinkState.ACCEPTED, LinkState.EXPORTING, LinkState.EXPORTED) and \
                    link.record is not None and self.book.claim_accepted_export(link):
                self.counts["accepted_sent"] += 1
                deferred = len(self.deferred)
                self.handle(link.record)
                if len(self.deferred) == deferred:  # a deferred record stays this run's, for its retry
                    self.book.release_accepted_export(link)

    def export(self, record: ProcoreRecord, link: Link | None) -> None:
        if link is not None and link.state == LinkState.FAILED and not self.retry_helps(record, link):
            self.counts["still_red"] += 1
            return
        if link is not None and link.reason_code == RELEASE_MADE_IN_ERP and record.fingerprint == link.fingerprint:
            self.counts["unchanged"] += 1  # released in the ERP, which holds no document of it
            return
        if link is not None and link.reason_code == REFERENCE_UNLINKED and not self.codes_now(record, link):
            self.counts[f"waiting_{REFERENCE_UNLINKED}"] += 1
            return
        parent, vendor_id = self.prerequisites(record)
        resuming = link is not None and link.state == LinkState.EXPORTING
        found = self.adapter.find(record, link, parent) if resuming else None
        if found is None and resuming and self.adapter.awaiting_import(record, link):
            self.adapter.check_import(record, link)
            self.queued(link)
            return
        if found is None:
            self.check_procore(record, link)
        document = self.found_document(record, parent) if found is not None else self.document(record, parent)
        if document is not None and document.document.zero_total and found is None:
            self.not_sent_zero_total(record, link)
            return
        waiting = f"Sent to {self.adapter.name}; waiting for its answer"
        if link is None:
            link = self.book.open(record, LinkState.EXPORTING, Colour.BLUE, waiting)
        elif not resuming:
            link = self.book.save(link, state=LinkState.EXPORTING, colour=Colour.BLUE, message=waiting,
                                  reason_code=None, procore_json=record.snapshot())
        if found is not None:
            self.counts["found_in_erp"] += 1
        else:
            found = self.create(document, link, vendor_id, parent)
            if found is None:
                self.map_lines(link, document, {})
                self.queued(link)
                return
            self.counts[f"created_{record.record_type.value}"] += 1
        if document is not None:
            self.map_lines(link, document, found.lines)
        if found.notice:
            self.notices[link.id] = found.notice
        self.book.save(link, erp_ref=found.ref, erp_key=found.key | {"label": found.label},
                       state=LinkState.EXPORTED, colour=Colour.BLUE, exported_at=utcnow(),
                       fingerprint=record.fingerprint, procore_json=record.snapshot(),
                       message=f"In {self.adapter.name} as {found.label}; writing the reference back to Procore")
        self.write_back(record, link)

    def create(self, document: CodedDocument, link: Link, vendor_id: str | None,
               parent: Link | None) -> ErpDocument | None:
        """The ERP's new document. An invoice the ERP refuses keeps the lines it was refused with: the Lines page
        shows them, and a release the ERP makes later is compared with what they release. A change order's are not
        kept, since invoice lines would be coded through them."""
        try:
            return self.adapter.create(document, link, vendor_id, parent)
        except ErpRefusal:
            if link.record_type is RecordType.SUBCONTRACTOR_INVOICE:
                self.line_map.record(link.id, [MappedLine(line, None) for line in document.document.lines])
            raise

    # Lines -----------------------------------------------------------------------------------
    def coded(self, lines: Document, then: str = EXPORTED_NEXT) -> CodedDocument:
        """The lines coded through the integration's links and taken by the ERP (its ``check_lines``), else the
        ``LineProblem`` saying what they wait for; ``then`` ends its sentence."""
        document = coded(lines, self.references, self.adapter.name, self.adapter.required_kinds, then)
        self.adapter.check_lines(document)
        return document

    def document(self, record: ProcoreRecord, parent: Link | None) -> CodedDocument:
        """The record with its lines (one Procore call), each coded through the integration's links; a CCO
        line or an invoice line takes the coding of the commitment line it changes or bills."""
        read = self.read_lines(record, parent)
        try:
            document = self.coded(read)
        except LineProblem as problem:
            problem.document = read
            raise
        if parent is None:
            return document
        return replace(document, commitment_lines={mapped.line.procore_id: mapped.erp_line
                                                   for mapped in self.line_map.of_link(parent.id)})

    def found_document(self, record: ProcoreRecord, parent: Link | None) -> CodedDocument | None:
        """The lines of a record whose document an earlier attempt created: None if Procore no longer has the
        record (the write-back then says what to do with the document in the ERP)."""
        try:
            return self.document(record, parent)
        except VendorApiError as error:
            if error.status != 404:
                raise
            return None

    def known_lines(self, record: ProcoreRecord, parent: Link | None,
                    waiting: bool = False) -> dict[str, DocumentLine]:
        """The lines of the record's commitment and of the commitment's change orders, by Procore line id."""
        return {mapped.line.procore_id: mapped.line
                for mapped_lines in self.known_mapped(record, parent, waiting).values() for mapped in mapped_lines}

    def known_mapped(self, record: ProcoreRecord, parent: Link | None,
                     waiting: bool = False) -> dict[int, list[MappedLine]]:
        """The line map of the record's commitment and of the commitment's other change orders, by link. An export
        codes through what is on its way to the ERP or in it; a record ``waiting`` for acceptance is checked
        against the lines kept while they wait too."""
        if record.record_type is RecordType.COMMITMENT or parent is None:
            return {}
        changes = [link.id for link in self.change_orders_of(parent.procore_id)
                   if (link.record_type, link.procore_id) != (record.record_type, record.id)
                   and (waiting or link.state not in AWAITING_ACCOUNTING)]
        return self.line_map.of_links([parent.id, *changes])

    def change_orders_of(self, commitment_id: int) -> list[Link]:
        if self._changes_of is None:
            self._changes_of = {}
            for link in self.book.of_type(RecordType.COMMITMENT_CHANGE_ORDER):
                change = link.record
                if change is not None and change.parent_id is not None:
                    self._changes_of.setdefault(change.parent_id, []).append(link)
        return self._changes_of.get(commitment_id, [])

    def map_lines(self, link: Link, document: CodedDocument, erp_lines: dict[str, str]) -> None:
        keys = erp_lines or self.adapter.line_keys(document)
        self.line_map.record(link.id, [MappedLine(line, keys.get(line.procore_id)) for line in document.document.lines])
        if link.record_type is RecordType.COMMITMENT_CHANGE_ORDER:
            self._changes_of = None

    def lines_changed(self, record: ProcoreRecord, link: Link) -> bool:
        """Procore moved the record but not its header: compare its lines with the line map (one call)."""
        mapped = {m.line.procore_id: m.line.fingerprint() for m in self.line_map.of_link(link.id)}
        if not mapped:
            return False
        read = self.read_lines(record, self.book.get(RecordType.COMMITMENT, record.parent_id))
        changed = {line.procore_id: line.fingerprint() for line in read.lines} != mapped
        if changed:  # the update that follows codes these lines without reading them again
            self._read[(record.record_type, record.id)] = read
        return changed

    def read_lines(self, record: ProcoreRecord, parent: Link | None, waiting: bool = False) -> Document:
        kept = self._read.pop((record.record_type, record.id), None)
        if kept is not None and kept.record.updated_at == record.updated_at:
            return kept
        self.counts["procore_line_reads"] += 1
        return read_document(self.procore, record, self.known_lines(record, parent, waiting))

    def line_problem(self, record: ProcoreRecord, problem: LineProblem) -> None:
        """A line not linked yet waits, BLUE, like any unlinked reference; a line that cannot be coded is RED.
        The lines read are kept (the page shows them, and the next run checks the links against them)."""
        link = self.book.get(record.record_type, record.id)
        if problem.reason_code == REFERENCE_UNLINKED:
            self.wait(record, link, problem.message, REFERENCE_UNLINKED)
        else:
            self.fail(record, link, ErpRefusal(problem.reason_code, problem.message))
        link = self.book.get(record.record_type, record.id)
        if problem.document is not None and link is not None and not link.in_erp:
            self.line_map.record(link.id, [MappedLine(line, None) for line in problem.document.lines])

    def not_sent_zero_total(self, record: ProcoreRecord, link: Link | None) -> None:
        """Procore's rule: an invoice that bills nothing and moves no retainage is not sent."""
        if link is not None:
            self.book.end(link, "not sent: the invoice totals zero")
        self.counts[f"not_sent_{ZERO_TOTAL}"] += 1

    def check_procore(self, record: ProcoreRecord, link: Link | None) -> None:
        """Nothing is created for a record Procore deleted or stopped approving: one call asks Procore for a
        record this run has not read (it waited for acceptance, or is retried from its link's snapshot)."""
        key, current = (record.record_type, record.id), record
        if key not in self.confirmed:
            current = record.stream.current(self.procore, record)
            self.counts["procore_checked"] += 1
        waited = self.exporting_accepted or (link is not None and link.state in AWAITING_ACCOUNTING)
        check_still_approved(current, lambda: named(self.store, self.integration["id"], record),
                             "after it was sent for acceptance" if waited else "before it was exported")
        self.confirmed.add(key)

    def withdraw(self, record: ProcoreRecord, gone: NotSendable) -> None:
        """Deleted in Procore, or no longer approved: the link ends with the sentence (kept for audit)."""
        link = self.book.get(record.record_type, record.id)
        if link is not None:
            self.book.end(link, gone.message)
        self.counts[f"not_sent_{gone.reason_code}"] += 1
        log.warning("Not sent: %s", gone.message)

    def queued(self, link: Link) -> None:
        """The ERP imports records on its own schedule: the link waits, BLUE, and a later run adopts the
        record once the ERP holds it."""
        waiting = (f"Queued for {self.adapter.name}'s import; the next hourly sync links it once "
                   f"{self.adapter.name} has imported it")
        if link.message != waiting:
            self.book.save(link, message=waiting)
        self.counts["queued_for_import"] += 1

    def retry_helps(self, record: ProcoreRecord, link: Link) -> bool:
        """A RED export is tried again when Procore changed the record or what stopped it is gone."""
        if record.fingerprint != link.fingerprint or link.reason_code == PROCESSING_FAILED:
            return True
        if link.reason_code == "parent_missing":
            parent = self.book.get(RecordType.COMMITMENT, record.parent_id)
            return parent is not None and parent.in_erp
        if link.reason_code == LINE_UNCODED:
            parent = self.book.get(RecordType.COMMITMENT, record.parent_id)
            return parent is not None and parent.updated_at is not None and link.updated_at is not None and \
                parent.updated_at > link.updated_at
        return False

    def codes_now(self, record: ProcoreRecord, link: Link) -> bool:
        """The lines an export that waits for links read are all linked now (no Procore call to find out)."""
        lines = tuple(mapped.line for mapped in self.line_map.of_link(link.id))
        if not lines:
            return True
        try:
            self.coded(Document(record, lines))
        except LineProblem:
            return False
        return True

    def prerequisites(self, record: ProcoreRecord) -> tuple[Link | None, str | None]:
        parent = self.book.get(RecordType.COMMITMENT, record.parent_id)
        if record.record_type is not RecordType.COMMITMENT and (parent is None or not parent.in_erp):
            number = parent.procore_number if parent else f"#{record.parent_id}"
            what = record.record_type.words
            if parent is not None and parent.colour == Colour.BLUE:
                where = ("waits for accounting acceptance under Ready to Export" if parent.state == LinkState.READY
                         else f"is on its way to {self.adapter.name}")
                raise ParentOnItsWay(f"The {what} waits for its commitment {number}, which {where}; it is exported "
                                     "at the first sync after the commitment is there.")
            raise ErpRefusal("parent_missing", f"The {what} belongs to commitment {number}, which is not in "
                                               f"{self.adapter.name} yet. It is exported once the commitment is.")
        refs = self.references_of(record)
        _missing, unlinked = check(refs, self.references)
        if unlinked:
            raise Unlinked(unlinked)
        vendor = next((ref for ref in refs if ref.kind is ReferenceKind.VENDOR), None)
        return parent, self.references.erp_item(vendor).erp_id if vendor else None

    def references_of(self, record: ProcoreRecord) -> list[ProcoreRef]:
        """What the record's header names of the reference data (its vendor, and its project where the ERP
        job-costs and the reading has met it: before, it may yet link by its number), each of which must be linked
        before it is sent; its lines name the rest."""
        project = [ref for ref in (project_ref(record),)
                   if ReferenceKind.PROJECT in self.adapter.required_kinds and self.references.seen(ref)]
        if record.record_type not in NEEDS_VENDOR:
            return project
        vendor = self.vendor_of(record)
        if not vendor:
            raise ErpRefusal("vendor_missing", f"The {record.record_type.words} names no vendor in Procore. Choose "
                                               "its vendor there; the next hourly sync exports it.")
        return [ProcoreRef(ReferenceKind.VENDOR, str(vendor["id"]), "", vendor.get("name") or f"#{vendor['id']}"),
                *project]

    def wait(self, record: ProcoreRecord, link: Link | None, sentence: str, reason_code: str) -> None:
        """Not sent: the record waits, BLUE, with the sentence saying for what (every missing link, or its
        commitment on its way); every run looks again, and it goes out once nothing holds it. A link caught in
        the middle of an export keeps its state, so the retry still looks for the document in the ERP before it
        creates one."""
        self.counts[f"waiting_{reason_code}"] += 1
        if link is None:
            self.book.open(record, LinkState.WAITING, Colour.BLUE, sentence, reason_code)
        elif (link.colour, link.message, link.reason_code) != (Colour.BLUE, sentence, reason_code):
            keeps_state = link.in_erp or link.state in (LinkState.EXPORTING, LinkState.EXPORTED)
            self.book.save(link, state=link.state if keeps_state else LinkState.WAITING, colour=Colour.BLUE,
                           message=sentence, reason_code=reason_code, procore_json=record.snapshot())
        else:
            return
        log.info("Waiting: %s %s (Procore id %s): %s", record.record_type.words, record.number, record.id, sentence)

    def vendor_of(self, record: ProcoreRecord) -> dict | None:
        if record.vendor:
            return record.vendor
        parent = self.book.get(RecordType.COMMITMENT, record.parent_id)
        return parent.record.vendor if parent and parent.record else None

    def write_back(self, record: ProcoreRecord, link: Link) -> None:
        try:
            updated_at = record.stream.write_back(self.procore, record, link.erp_ref, link.erp_key.get("label"))
        except VendorApiError as error:
            if error.status != 404:
                raise
            document = (link.erp_key.get("label") or link.erp_ref or "").removeprefix(f"{self.adapter.name} ")
            raise ErpRefusal(DELETED_IN_PROCORE, orphaned_in_erp(
                named(self.store, self.integration["id"], record), document, self.adapter.name)) from error
        notice = self.notices.pop(link.id, None)
        self.book.save(link, state=LinkState.SYNCED, colour=Colour.GREEN, message=notice,
                       reason_code=RETAINAGE_TO_RELEASE if notice else None, procore_updated_at=updated_at)
        self.counts["synced"] += 1

    def update(self, record: ProcoreRecord, link: Link) -> None:
        """The ERP document follows Procore line by line: the line map names the ERP line each Procore line
        became, so a changed line is changed there, a new one added once, and a removed one removed."""
        parent, vendor_id = self.prerequisites(record)
        document = self.document(record, parent)
        updated: ErpDocument = self.adapter.update(document, link, vendor_id, parent, self.line_map.of_link(link.id))
        self.map_lines(link, document, updated.lines)
        self.book.save(link, state=LinkState.SYNCED, colour=Colour.GREEN, message=updated.notice,
                       reason_code=RETAINAGE_TO_RELEASE if updated.notice else None,
                       erp_ref=updated.ref, fingerprint=record.fingerprint, procore_json=record.snapshot(),
                       procore_updated_at=record.updated_at)
        self.counts[f"updated_{record.record_type.value}"] += 1

    def unchanged(self, record: ProcoreRecord, link: Link) -> None:
        if record.updated_at != link.procore_updated_at and self.lines_changed(record, link):
            self.update(record, link)
            return
        if record.updated_at != link.procore_updated_at:  # e.g. our own write-back of origin_id
            self.book.save(link, procore_updated_at=record.updated_at, procore_json=record.snapshot())
        self.counts["unchanged"] += 1

    def defect(self, record: ProcoreRecord, error: Exception) -> None:
        """RED with the reason, tried again by the next run. A link caught in the middle of an export keeps
        that state, so the retry looks for the document in the ERP before it creates one."""
        message = (f"The {record.record_type.words} could not be processed ({type(error).__name__}: {error}); the "
                   "next hourly sync tries again, and an engineer should look at the run logs.")
        link = self.book.get(record.record_type, record.id)
        if link is not None and link.state == LinkState.EXPORTING:
            self.book.save(link, colour=Colour.RED, message=message)
            self.counts[f"red_{PROCESSING_FAILED}"] += 1
        else:
            self.fail(record, link, ErpRefusal(PROCESSING_FAILED, message))

    def fail(self, record: ProcoreRecord, link: Link | None, refusal: ErpRefusal) -> Link:
        turns_red = link is None or link.colour != Colour.RED
        if link is None:
            link = self.book.open(record, LinkState.FAILED, Colour.RED, refusal.message, refusal.reason_code)
        self.book.save(link, state=LinkState.FAILED, colour=Colour.RED, message=refusal.message,
                       reason_code=refusal.reason_code, fingerprint=record.fingerprint,
                       procore_json=record.snapshot(), procore_updated_at=record.updated_at)
        self.counts[f"red_{refusal.reason_code}"] += 1
        if turns_red:
            self.counts[NEW_RED] += 1
            self.counts[f"{NEW_RED}_{refusal.reason_code}"] += 1
            log.warning("New RED: %s %s (Procore id %s): %s", record.record_type.words, record.number, record.id,
                        refusal.message)
        return link


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None

