"""What the accountant's pages read: her work queue (what waits for her, what failed, what waits for a
reference link), whose wait a BLUE record is in, each decision she filed with what became of its record (waiting for
the decisions run, being exported, GREEN in the ERP, RED with the reason, YELLOW once rejected), and what
an on-demand run she started became. A decision is done when the record is; the page polls until then."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from erp_sync.documents.line_map import LineMap, kept_whole
from erp_sync.models import Colour, ErpKind, RecordType
from erp_sync.jobs.hourly_sync import EXPORT_JOB, REFRESH_JOB
from erp_sync.operations import JobRun, latest_run
from erp_sync.store import Store
from erp_sync.reference.check import REASON_CODE as REFERENCE_UNLINKED
from erp_sync.sync.exporter import PARENT_ON_ITS_WAY
from erp_sync.sync.links import LinkState
from erp_sync.sync.records import ProcoreRecord, project_name

OPEN_DECISION = ("pending", "processing")
BEING_EXPORTED = (LinkState.ACCEPTED, LinkState.EXPORTING, LinkState.EXPORTED)
MAX_POLLED = 100  # decisions a page follows at once (one Accept of a full page of ticks)


@dataclass(frozen=True)
class DecisionOutcome:
    """One decision as the accountant reads it; ``open`` while its record has not reached its end."""

    id: int
    record_type: RecordType
    procore_id: int
    number: str
    decision: str
    reason: str | None
    person: str
    filed_at: datetime
    colour: str
    message: str
    open: bool
    project: str = ""  # "2401 Harbor Point Tower"

    @property
    def verb(self) -> str:
        return "Accepted" if self.decision == "accept" else "Rejected"

    def as_json(self) -> dict:
        return {"id": self.id, "procore_id": self.procore_id, "number": self.number, "colour": self.colour,
                "message": self.message, "open": self.open}


def outcome_of(row: dict, erp: ErpKind, projects: dict[int, ProcoreProject] | None = None) -> DecisionOutcome:
    """A row of ``export_decisions_with_records`` as she reads it, its project named as the reading of Procore's
    projects (``projects``) or the record's snapshot names it."""
    colour, message, still_open = _state(row, erp)
    snapshot = ProcoreRecord.from_snapshot(row["procore_json"]).data if row["procore_json"] else {}
    project_id = row["procore_project_id"]
    project = _project(project_id, projects or {}, project_name(snapshot, project_id)) if project_id else None
    return DecisionOutcome(id=row["id"], record_type=RecordType(row["record_type"]), procore_id=row["procore_id"],
                           number=row["procore_number"] or f"#{row['procore_id']}", decision=row["decision"],
                           reason=row["reason"],
                           person=row["procore_name"] or row["filed_by"] or f"Procore user {row['decided_by']}",
                           filed_at=row["filed_at"], colour=colour, message=message, open=still_open,
                           project=f"{project.number} {project.name}".strip() if project else "")


def _state(row: dict, erp: ErpKind) -> tuple[str, str, bool]:
    verb = "Accepted" if row["decision"] == "accept" else "Rejected"
    if row["status"] in OPEN_DECISION:
        return Colour.BLUE, f"{verb}; waiting for the decisions run to carry it out…", True
    if row["status"] != "done" or row["decision"] != "accept" or row["link_state"] is None:
        return row["colour"] or Colour.BLUE, row["message"] or "", False
    if row["link_state"] in BEING_EXPORTED:
        return Colour.BLUE, f"Accepted; being exported to {erp.display_name}…", True
    if row["link_colour"] == Colour.GREEN:
        reference = f" as {row['erp_ref']}" if row["erp_ref"] else ""
        return Colour.GREEN, f"Exported to {erp.display_name}{reference}.", False
    return row["link_colour"], row["link_message"] or row["message"] or "", False


class DecisionReads:
    """The decisions of one integration (a row of ``integrations``) as its Ready to Export page shows them."""

    def __init__(self, store: Store, integration: dict):
        self.store, self.integration = store, integration
        self.erp = ErpKind(integration["erp_kind"])

    def of_ids(self, ids: list[int]) -> list[DecisionOutcome]:
        """In the order she filed them."""
        if not ids:
            return []
        rows = self._rows(record_type=None, ids=list(ids)[:MAX_POLLED], limit=MAX_POLLED)
        return [outcome_of(row, self.erp) for row in reversed(rows)]

    def history(self, record_type: RecordType, limit: int) -> list[DecisionOutcome]:
        """Newest first."""
        rows = self._rows(record_type=record_type.value, ids=[], limit=limit)
        projects = procore_projects(self.store, self.integration)
        return [outcome_of(row, self.erp, projects) for row in rows]

    def _rows(self, record_type: str | None, ids: list[int], limit: int) -> list[dict]:
        """Newest first: those of ``record_type``, or (``record_type`` None) those of ``ids``."""
        # PostgreSQL cannot compare an id with an empty list (the store binds it as text); NULL matches no id.
        return self.store.rows("export_decisions_with_records", integration=self.integration["name"],
                               record_type=record_type, ids=ids or [None], limit=limit)

    def open_by_record(self, record_type: RecordType) -> dict[int, dict]:
        """Records with a decision filed and not yet carried out: nobody ticks them again meanwhile."""
        return {row["procore_id"]: row for row in self.store.rows(
            "decisions_being_carried_out", integration=self.integration["name"], record_type=record_type.value)}


@dataclass(frozen=True)
class RunOutcome:
    """What an on-demand run became: ``open`` until it finished."""

    colour: str
    message: str
    open: bool

    def as_json(self) -> dict:
        return {"colour": self.colour, "message": self.message, "open": self.open}


def run_outcome(store: Store, integration: dict, job: str, airflow_run_id: str, what: str) -> RunOutcome:
    """``what`` names the run in a sentence ("The payment import")."""
    row = store.one("run_of_airflow_run", integration_id=integration["id"], job=job, airflow_run_id=airflow_run_id)
    if row is None:
        return RunOutcome(Colour.BLUE, f"{what} is queued: it starts within a minute…", True)
    run = JobRun.from_row(row)
    if run.status == "success":
        return RunOutcome(Colour.GREEN, f"{what} finished at {run.finished_at:%H:%M} UTC.", False)
    if run.status == "failed":
        return RunOutcome(Colour.RED, f"{what} failed: {run.sentence or 'see its log'}", False)
    return RunOutcome(Colour.BLUE, f"{what} is running…", True)


@dataclass(frozen=True)
class QueueCounts:
    """What needs a person in one integration's record type."""

    waiting_for_acceptance: int = 0
    failed: int = 0
    waiting_for_link: int = 0

    def __bool__(self) -> bool:
        return bool(self.waiting_for_acceptance or self.failed or self.waiting_for_link)


def work_queue(store: Store) -> dict[int, dict[RecordType, QueueCounts]]:
    """By integration id, then record type (every type present, zeros included)."""
    queue: dict[int, dict[RecordType, QueueCounts]] = {}
    for row in store.rows("work_queue"):
        queue.setdefault(row["integration_id"], {})[RecordType(row["record_type"])] = QueueCounts(
            int(row["waiting_for_acceptance"] or 0), int(row["failed"] or 0), int(row["waiting_for_link"] or 0))
    return {integration: {record_type: counts.get(record_type, QueueCounts()) for record_type in RecordType}
            for integration, counts in queue.items()}


def whose_wait(state: str, reason_code: str | None, message: str | None, erp: ErpKind) -> str:
    """A BLUE record's wait in a few words: whose move it is."""
    if reason_code == REFERENCE_UNLINKED:
        return "Waiting for a reference link"
    if reason_code == PARENT_ON_ITS_WAY:
        return f"Waiting for its commitment to reach {erp.display_name}"
    if state == LinkState.READY:
        return "Waiting for your acceptance"
    if state == LinkState.ACCEPTED:
        return f"Accepted; being exported to {erp.display_name}"
    if state == LinkState.EXPORTING and (message or "").startswith("Queued for"):
        return f"Queued for {erp.display_name}'s import"
    if state == LinkState.EXPORTING:
        return f"Waiting for {erp.display_name}'s answer"
    if state == LinkState.EXPORTED:
        return f"In {erp.display_name}; its reference is being written back to Procore"
    return "Waiting for the next hourly sync"


@dataclass(frozen=True)
class ReadyRow:
    """A record waiting under Ready to Export, with what Procore's own list shows to decide on."""

    procore_id: int
    number: str
    title: str
    project: str
    project_number: str  # Procore's project_number (the ERP's job), once the reference data was read
    vendor: str
    amount: Decimal | None
    changes: str  # a CCO: the commitment it changes
    period: str   # an invoice: its billing period, else its billing date
    retainage: Decimal | None  # an invoice: retainage held this invoice, less retainage released
    message: str
    colour: str
    waiting_since: datetime

    def matches(self, text: str) -> bool:
        wanted = text.strip().lower()
        return any(wanted in field.lower() for field in (self.number, self.title, self.project, self.project_number,
                                                         self.vendor, self.changes))


SORTS = {"number": lambda row: row.number.lower(), "project": lambda row: row.project.lower(),
         "vendor": lambda row: row.vendor.lower(), "title": lambda row: row.title.lower(),
         "amount": lambda row: row.amount or Decimal(0), "waiting": lambda row: row.waiting_since}


@dataclass(frozen=True)
class ProcoreProject:
    number: str
    name: str


def procore_projects(store: Store, integration: dict) -> dict[int, ProcoreProject]:
    """The company's projects as the last reading of Procore's reference data saw them, by id."""
    return {int(row["procore_id"]): ProcoreProject(row["code"] or "", row["name"] or "")
            for row in store.rows("procore_projects_of_integration", integration_id=integration["id"])}


def ready_rows(store: Store, integration: dict, links: list[dict], projects: dict[int, str],
               search: str = "", sort: str = "number", descending: bool = False) -> list[ReadyRow]:
    """``links`` are rows of ``links_in_state``; ``projects`` names projects by id where no reading of Procore's
    projects did. Filtered by ``search`` (number, title, project name or number, vendor or commitment, any case)
    and sorted by one of SORTS."""
    records = {row["procore_id"]: ProcoreRecord.from_snapshot(row["procore_json"]) if row["procore_json"] else None
               for row in links}
    parents = _commitments(store, integration, {record.data.get("contract_id") for record in records.values()
                                               if record and record.data.get("contract_id")})
    read = procore_projects(store, integration)
    retainage = line_retainage(store, links)
    rows = [_ready_row(link, records[link["procore_id"]],
                       _project(link["procore_project_id"], read, projects.get(link["procore_project_id"])), parents,
                       retainage.get(link["id"]))
            for link in links]
    rows = [row for row in rows if row.matches(search)] if search.strip() else rows
    return sorted(rows, key=SORTS.get(sort, SORTS["number"]), reverse=descending)


def _project(project_id: int | None, read: dict[int, ProcoreProject], name: str | None) -> ProcoreProject:
    """The project as the reading of Procore's projects saw it, else by the ``name`` a record gives it."""
    found = read.get(project_id)
    if found and found.name:
        return found
    return ProcoreProject(found.number if found else "", name or f"Project {project_id}")


def line_retainage(store: Store, links: list[dict]) -> dict[int, Decimal]:
    """Each waiting invoice's retainage (held less released this period) from its lines, where Ready to Export has
    read them all: their fields say "this period", which the header's ``summary.total_retainage`` may not."""
    invoices = [link["id"] for link in links if link["record_type"] == RecordType.SUBCONTRACTOR_INVOICE.value
                and kept_whole(link["reason_code"], in_erp=False)]
    return {link_id: sum((mapped.line.net_retainage for mapped in lines), Decimal(0))
            for link_id, lines in LineMap(store).of_links(invoices).items()}


def _commitments(store: Store, integration: dict, ids: set[int]) -> dict[int, ProcoreRecord]:
    if not ids:
        return {}
    rows = store.rows("commitments_of_change_orders", integration_id=integration["id"], ids=sorted(ids))
    return {row["procore_id"]: ProcoreRecord.from_snapshot(row["procore_json"]) for row in rows if row["procore_json"]}


def _ready_row(link: dict, record: ProcoreRecord | None, project: ProcoreProject,
               parents: dict[int, ProcoreRecord], line_retainage: Decimal | None) -> ReadyRow:
    data = record.data if record else {}
    parent = parents.get(data.get("contract_id"))
    vendor = data.get("vendor") or (parent.data.get("vendor") if parent else None) or {}
    changes = ""
    if data.get("contract_id"):
        changes = f"{parent.number} · {parent.data.get('title', '')}" if parent else f"Commitment {data['contract_id']}"
    retainage = (data.get("summary") or {}).get("total_retainage") if line_retainage is None else line_retainage
    return ReadyRow(procore_id=link["procore_id"], number=link["procore_number"] or (record.number if record else ""),
                    title=data.get("title") or "", project=project.name, project_number=project.number,
                    vendor=vendor.get("name") or "", amount=record.amount if record else None, changes=changes,
                    period=billing_period(data), retainage=Decimal(str(retainage)) if retainage is not None else None,
                    message=link["message"] or "", colour=link["colour"], waiting_since=link["updated_at"])


def billing_period(invoice: dict) -> str:
    """"Jun 1–24, 2026" from Procore's ``requisition_start`` and ``requisition_end``; else the billing date."""
    try:
        start, end = (date.fromisoformat(str(invoice[key])[:10]) for key in ("requisition_start", "requisition_end"))
    except (KeyError, TypeError, ValueError):
        return str(invoice.get("billing_date") or "")
    if (start.year, start.month) == (end.year, end.month):
        return f"{start:%b} {start.day}–{end.day}, {end.year}"
    return f"{start:%b} {start.day}, {start.year} – {end:%b} {end.day}, {end.year}"


def last_sync(store: Store, integration: dict) -> JobRun | None:
    """The newest run of the hourly sync's export or refresh: when, its result, the vendor's error."""
    runs = [run for run in (latest_run(store, integration, job) for job in (EXPORT_JOB, REFRESH_JOB)) if run]
    return max(runs, key=lambda run: run.started_at, default=None)


def rejected_by(state: str | None) -> str:
    """Accounting's own rejections and the ERP's are told apart."""
    return "Rejected by accounting" if state == LinkState.RETURNED else "Rejected in the ERP"
