"""The typed document: a Procore record with its lines, each coded with the Procore items it names."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from erp_sync.reference.model import ErpItem, ProcoreRef, ReferenceKind
from erp_sync.sync.records import ProcoreRecord

ZERO = Decimal(0)


@dataclass(frozen=True)
class Coding:
    """Where a line's cost lands: the project, its sub job (if Procore names one), cost code and cost type."""

    project: ProcoreRef
    cost_code: ProcoreRef
    cost_type: ProcoreRef
    sub_job: ProcoreRef | None = None

    def refs(self) -> list[ProcoreRef]:
        return [ref for ref in (self.project, self.sub_job, self.cost_code, self.cost_type) if ref is not None]

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, saved: dict) -> Coding:
        def ref(value: dict | None) -> ProcoreRef | None:
            return None if value is None else ProcoreRef(**{**value, "kind": ReferenceKind(value["kind"])})
        return cls(project=ref(saved["project"]), cost_code=ref(saved["cost_code"]), cost_type=ref(saved["cost_type"]),
                   sub_job=ref(saved.get("sub_job")))

    def described(self) -> str:
        """How a person recognises the coding: ``03-300.S`` (the budget code)."""
        return f"{self.cost_code.code}.{self.cost_type.code}"


@dataclass(frozen=True)
class InvoiceAmounts:
    """A requisition line's period, as Procore's extended view gives it."""

    work_completed: Decimal = ZERO
    materials_stored: Decimal = ZERO   # newly stored this period (counted in the line's amount)
    retainage_held: Decimal = ZERO     # retained this period, on work and on materials
    retainage_released: Decimal = ZERO  # released this period, on work and on materials


@dataclass(frozen=True)
class DocumentLine:
    procore_id: str
    position: int
    description: str
    coding: Coding
    amount: Decimal                      # a commitment line's value, a CCO line's change, an invoice line's gross
    quantity: Decimal | None = None
    unit_cost: Decimal | None = None
    uom: str | None = None
    changes_line: str | None = None      # the commitment line (Procore id) a CCO line changes or an invoice line bills
    budget_code: str | None = None       # Procore's WBS code, ``03-300.S``
    invoice: InvoiceAmounts | None = None

    @property
    def retainage_held(self) -> Decimal:
        return self.invoice.retainage_held if self.invoice else ZERO

    @property
    def retainage_released(self) -> Decimal:
        return self.invoice.retainage_released if self.invoice else ZERO

    @property
    def net_retainage(self) -> Decimal:
        """Retainage held this period less retainage released: what Procore's connectors call "Retainage"."""
        return self.retainage_held - self.retainage_released

    def label(self) -> str:
        return f"line {self.position} ({self.coding.described()} {self.description})"

    @property
    def mark(self) -> str:
        """What the ERP line's description carries so the line is found again: ``[PL4711]``."""
        return f"[PL{self.procore_id}]"

    def as_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> DocumentLine:
        saved = json.loads(text)
        invoice = saved.pop("invoice")
        decimals = {name: Decimal(saved[name]) if saved[name] is not None else None
                    for name in ("amount", "quantity", "unit_cost")}
        return cls(**{**saved, **decimals, "coding": Coding.from_json(saved["coding"]),
                      "invoice": InvoiceAmounts(**{k: Decimal(v) for k, v in invoice.items()}) if invoice else None})

    def fingerprint(self) -> str:
        return _digest(asdict(self))


@dataclass(frozen=True)
class Document:
    record: ProcoreRecord
    lines: tuple[DocumentLine, ...]
    retainage_percent: Decimal | None = None  # a commitment's default retainage

    @property
    def amount(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def retainage_held(self) -> Decimal:
        return sum((line.retainage_held for line in self.lines), ZERO)

    @property
    def retainage_released(self) -> Decimal:
        return sum((line.retainage_released for line in self.lines), ZERO)

    @property
    def net_retainage(self) -> Decimal:
        return self.retainage_held - self.retainage_released

    @property
    def payment_due(self) -> Decimal:
        """An invoice's current payment due: its lines' gross, less retainage held, plus retainage released."""
        return self.amount - self.net_retainage

    @property
    def zero_total(self) -> bool:
        """Procore does not send an invoice that bills nothing and moves no retainage."""
        return all(not (line.amount or line.retainage_held or line.retainage_released) for line in self.lines)

    def line(self, procore_id: str) -> DocumentLine | None:
        return next((line for line in self.lines if line.procore_id == procore_id), None)


@dataclass(frozen=True)
class CodedLine:
    """A line with the ERP items its coding is linked to (the task is the integration's default where
    Procore names no sub job)."""

    line: DocumentLine
    project: ErpItem
    cost_code: ErpItem
    cost_type: ErpItem
    task: ErpItem | None = None


@dataclass(frozen=True)
class CodedDocument:
    document: Document
    lines: tuple[CodedLine, ...] = field(default_factory=tuple)
    # the ERP line each commitment line became (Procore line id -> ERP line), for a CCO's or an invoice's lines
    commitment_lines: Mapping[str, str | None] = field(default_factory=dict)

    def commitment_line(self, coded: CodedLine) -> str | None:
        """The ERP line of the commitment line this CCO line changes or this invoice line bills."""
        return self.commitment_lines.get(coded.line.changes_line) if coded.line.changes_line else None

    @property
    def record(self) -> ProcoreRecord:
        return self.document.record

    @property
    def project(self) -> ErpItem | None:
        return self.lines[0].project if self.lines else None


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
