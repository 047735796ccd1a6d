"""What the Reconciliation view, its downloads and the command show: read from the store a page at a time.

Every list is paged in SQL (``LIMIT``/``OFFSET`` on ``ix_reconciliation_page``), so a page answers in
milliseconds at tens of thousands of commitments; nothing is computed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from erp_sync.documents.line_map import LineMap
from erp_sync.models import RecordType
from erp_sync.reconcile.model import Cause, Figure
from erp_sync.store import Store
from erp_sync.sync.records import ProcoreRecord

PAGE_SIZE = 50
PROJECT_ROWS = 100
SIDE_BY_SIDE = (Figure.ORIGINAL, Figure.CHANGE_ORDERS, Figure.REVISED, Figure.INVOICED, Figure.RETAINAGE, Figure.PAID)
COLOUR_WORDS = {"GREEN": "synced", "BLUE": "waiting", "YELLOW": "rejected", "RED": "failed"}
DOCUMENT_NOUN = {RecordType.COMMITMENT: "Commitment", RecordType.COMMITMENT_CHANGE_ORDER: "Change order",
                 RecordType.SUBCONTRACTOR_INVOICE: "Invoice"}


class BadFilter(ValueError):
    """A filter typed into the page that means nothing: the sentence says what is expected."""


def page_number(typed: str | None) -> int:
    """The page asked for; anything that is not a page number shows the first (a page past the last, the last)."""
    typed = (typed or "").strip()
    return int(typed) if typed.isascii() and typed.isdigit() and len(typed) <= 9 and int(typed) > 0 else 1


@dataclass(frozen=True)
class Filters:
    project_id: int | None = None
    only_differences: bool = False
    cause: Cause | None = None

    @classmethod
    def parse(cls, project: str | None, only_differences: str | None, cause: str | None) -> Filters:
        project, cause = (project or "").strip(), (cause or "").strip()
        if project and not (project.isascii() and project.isdigit() and len(project) <= 19 and 0 < int(project) < 2**63):
            raise BadFilter(f"The project filter takes a Procore project id (a whole number); “{project[:40]}” is not "
                            "one. Choose a project from the list.")
        if cause and cause not in Cause.__members__.values():
            raise BadFilter(f"There is no cause “{cause[:40]}” in the reconciliation; choose one from the list.")
        return cls(int(project) if project else None, (only_differences or "") in ("1", "on", "true", "yes"),
                   Cause(cause) if cause else None)

    def params(self) -> dict[str, Any]:
        return {"project_id": self.project_id, "only_differences": int(self.only_differences),
                "cause": self.cause.value if self.cause else None}

    def query(self) -> dict[str, str]:
        """As the page's links carry them."""
        return {key: value for key, value in (("project", str(self.project_id or "")),
                                              ("only_differences", "1" if self.only_differences else ""),
                                              ("cause", self.cause.value if self.cause else "")) if value}


@dataclass(frozen=True)
class Document:
    """One document of a commitment, both sides: what a row opens to."""

    kind: str
    number: str
    status: str
    procore_amount: Decimal
    erp_amount: Decimal | None
    erp_ref: str | None


@dataclass
class CostCodeLine:
    """A cost code's lines across the commitment's documents, as exported (``document_lines``): what the
    schedule of values and its change orders commit, what the invoices bill, and how many ERP lines they became."""

    code: str
    committed: Decimal = Decimal(0)
    invoiced: Decimal = Decimal(0)
    erp_lines: int = 0


@dataclass
class CommitmentRow:
    figures: dict[str, Any]
    differences: list[dict] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    cost_codes: list[CostCodeLine] = field(default_factory=list)

    def side_by_side(self) -> list[tuple[Figure, Decimal | None, Decimal | None, Decimal | None]]:
        rows = []
        for figure in SIDE_BY_SIDE:
            procore, erp = self.figures[f"procore_{figure.value}_amount"], self.figures[f"erp_{figure.value}_amount"]
            gap = procore - erp if procore is not None and erp is not None else None
            rows.append((figure, procore, erp, gap))
        return rows

    @property
    def open_differences(self) -> list[dict]:
        return [d for d in self.differences if d["closed_at"] is None]


@dataclass
class Page:
    rows: list[CommitmentRow]
    total: int
    number: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))


class ReconciliationView:
    def __init__(self, store: Store, integration: dict):
        self.store, self.integration = store, integration
        self.integration_id = integration["id"]

    def totals(self) -> dict[str, Any]:
        return self.store.one("reconciliation_totals", integration_id=self.integration_id)

    def projects(self, limit: int = PROJECT_ROWS) -> list[dict]:
        return self.store.rows("reconciliation_projects_of_integration", integration_id=self.integration_id,
                               limit=limit)

    def causes(self) -> dict[Cause, int]:
        return {Cause(row["cause"]): row["commitments"]
                for row in self.store.rows("open_causes_of_integration", integration_id=self.integration_id)}

    def page(self, filters: Filters, number: int = 1) -> Page:
        with self.store.transaction() as tx:
            params = {"integration_id": self.integration_id, **filters.params()}
            total = tx.scalar("reconciliation_page_count", **params)
            number = min(max(1, number), max(1, -(-total // PAGE_SIZE)))
            figures = tx.rows("reconciliation_page", **params, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
        rows = [CommitmentRow(row) for row in figures]
        self.open_rows(rows)
        return Page(rows, total, number)

    def every_row(self, filters: Filters) -> list[dict]:
        """Every commitment the filters show, for a download."""
        return self.store.rows("reconciliation_page", integration_id=self.integration_id, **filters.params(),
                               limit=1_000_000, offset=0)

    def open_rows(self, rows: list[CommitmentRow]) -> None:
        """The differences (open and closed) of a page's rows, in one query."""
        if not rows:
            return
        by_id = {row.figures["procore_commitment_id"]: row for row in rows}
        for difference in self.store.rows("differences_of_commitments", integration_id=self.integration_id,
                                          commitment_ids=list(by_id)):
            by_id[difference["procore_commitment_id"]].differences.append(difference)

    def row(self, commitment_id: int) -> CommitmentRow | None:
        """One commitment opened: its figures, differences and documents (a page loads these as a row opens)."""
        figures = self.store.one("reconciliation_figures_of_commitment", integration_id=self.integration_id,
                                 procore_commitment_id=commitment_id)
        if figures is None:
            return None
        row = CommitmentRow(figures)
        self.open_rows([row])
        found = [(document, link_id) for document, owner, link_id in self.documents([figures["procore_project_id"]])
                 if owner == commitment_id]
        row.documents = [document for document, _link_id in found]
        row.cost_codes = self.cost_codes([(document, link_id) for document, link_id in found if link_id])
        return row

    def cost_codes(self, documents: list[tuple[Document, int]]) -> list[CostCodeLine]:
        """Per cost code, from the lines each document was exported with (none where it had no lines)."""
        kinds = {link_id: document.kind for document, link_id in documents}
        codes: dict[str, CostCodeLine] = {}
        for link_id, lines in LineMap(self.store).of_links(kinds).items():
            for mapped in lines:
                line = mapped.line
                code = codes.setdefault(line.budget_code or line.coding.described(), CostCodeLine(
                    line.budget_code or line.coding.described()))
                if kinds[link_id] == DOCUMENT_NOUN[RecordType.SUBCONTRACTOR_INVOICE]:
                    code.invoiced += line.amount
                else:
                    code.committed += line.amount
                code.erp_lines += mapped.erp_line is not None
        return sorted(codes.values(), key=lambda code: code.code)

    def documents(self, projects: list[int]) -> list[tuple[Document, int, int | None]]:
        """The documents of these projects' commitments: each with its commitment and its link (None: an ERP bill)."""
        found = []
        for link in self.store.rows("links_of_projects_for_reconciliation", integration_id=self.integration_id,
                                    project_ids=projects):
            record = ProcoreRecord.from_snapshot(link["procore_json"])
            owner = record.id if record.record_type is RecordType.COMMITMENT else record.parent_id
            if owner is None:
                continue
            gone = (link["erp_present"] is not None and not link["erp_present"]) or \
                link["erp_condition"] in ("deleted", "reversed")
            status = "not in the ERP" if not link["erp_ref"] else ("gone from the ERP" if gone else
                                                                   COLOUR_WORDS.get(link["colour"], link["colour"]))
            found.append((Document(DOCUMENT_NOUN[record.record_type], record.number, status, record.amount,
                                   None if gone else link["erp_amount"], link["erp_ref"]), owner, link["id"]))
        for bill in self.store.rows("erp_bills_of_projects_for_reconciliation", integration_id=self.integration_id,
                                    project_ids=projects):
            found.append((Document("ERP bill, no Procore invoice", bill["erp_number"] or bill["erp_ref"],
                                   "entered in the ERP", Decimal(0), bill["amount"], bill["erp_ref"]),
                          bill["procore_commitment_id"], None))
        return found + self.retainage_bills({document.erp_ref: (owner, document.number) for document, owner, _link
                                             in found if document.erp_ref})

    def retainage_bills(self, bills: dict[str, tuple[int, str]]) -> list[tuple[Document, int, int | None]]:
        """Acumatica's retainage bills (releases made there) of these bills, under the same commitment."""
        if not bills:
            return []
        return [(Document("Retainage bill", bill["erp_ref"].split("/", 1)[-1],
                          f"releases retainage held on {bills[bill['released_from']][1]}", Decimal(0), bill["amount"],
                          bill["erp_ref"]), bills[bill["released_from"]][0], None)
                for bill in self.store.rows("retainage_bills_for_reconciliation", integration_id=self.integration_id,
                                            bill_refs=list(bills))]
