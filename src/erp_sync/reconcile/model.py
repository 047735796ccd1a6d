"""The shapes of a reconciliation: each commitment's figures on both sides, and each difference with its cause."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import Decimal
from enum import StrEnum

CENT = Decimal("0.01")


class Figure(StrEnum):
    """What is compared per commitment. ``revised`` is original plus change orders, so a difference in it is
    explained by the differences in those two."""

    ORIGINAL = "original"
    CHANGE_ORDERS = "change_orders"
    REVISED = "revised"
    INVOICED = "invoiced"
    RETAINAGE = "retainage"
    PAID = "paid"

    @property
    def title(self) -> str:
        return {"original": "Original commitment", "change_orders": "Approved change orders",
                "revised": "Revised commitment", "invoiced": "Invoiced to date", "retainage": "Retainage held",
                "paid": "Paid to date"}[self.value]


EXPLAINED = (Figure.ORIGINAL, Figure.CHANGE_ORDERS, Figure.INVOICED, Figure.RETAINAGE, Figure.PAID)


class Cause(StrEnum):
    """Why a figure differs, from what ERP Sync knows."""

    AWAITING_ACCEPTANCE = "awaiting_acceptance"
    EXPORT_FAILED = "export_failed"
    NOT_EXPORTED = "not_exported"
    ERP_BILL_WITHOUT_INVOICE = "erp_bill_without_invoice"
    PAYMENT_NOT_IMPORTED = "payment_not_imported"
    PAYMENT_VOIDED = "payment_voided"
    CHANGED_IN_ERP = "changed_in_erp"
    RETAINAGE_TO_RELEASE = "retainage_to_release"
    RELEASED_IN_ERP = "released_in_erp"
    GONE_FROM_ERP = "gone_from_erp"
    UNLINKED = "unlinked"
    ROUNDING = "rounding"
    UNKNOWN = "unknown"

    @property
    def title(self) -> str:
        return {
            "awaiting_acceptance": "Waiting for accounting acceptance",
            "export_failed": "Export failed (RED)",
            "not_exported": "Not in the ERP yet",
            "erp_bill_without_invoice": "ERP bill without a Procore invoice",
            "payment_not_imported": "Payment not imported yet",
            "payment_voided": "Payment voided in the ERP since",
            "changed_in_erp": "Changed in the ERP after export",
            "retainage_to_release": "Retainage released in Procore, not in the ERP",
            "released_in_erp": "Retainage released in the ERP, not in Procore",
            "gone_from_erp": "Deleted or reversed in the ERP",
            "unlinked": "Record unlinked",
            "rounding": "Amount rounded",
            "unknown": "Unknown cause",
        }[self.value]


@dataclass
class Side:
    """One side's figures for one commitment; None where that side's figure is not known (not read, or the
    commitment is not in the ERP)."""

    original: Decimal | None = None
    change_orders: Decimal | None = None
    invoiced: Decimal | None = None
    retainage: Decimal | None = None
    paid: Decimal | None = None

    @property
    def revised(self) -> Decimal | None:
        if self.original is None and self.change_orders is None:
            return None
        return (self.original or Decimal(0)) + (self.change_orders or Decimal(0))

    def of(self, figure: Figure) -> Decimal | None:
        return getattr(self, figure.value)

    def as_row(self, prefix: str) -> dict[str, Decimal | None]:
        values = {f.name: getattr(self, f.name) for f in fields(self)} | {"revised": self.revised}
        return {f"{prefix}_{name}_amount": value for name, value in values.items()}


@dataclass(frozen=True)
class Difference:
    """One difference: which figure, why, about which record (``subject``), in one sentence, with both figures
    of that record (an ERP bill without an invoice has no Procore figure: None)."""

    figure: Figure
    cause: Cause
    subject: str
    sentence: str
    procore_amount: Decimal | None
    erp_amount: Decimal | None

    @property
    def gap(self) -> Decimal:
        """What this difference adds to Procore's figure minus the ERP's."""
        return (self.procore_amount or Decimal(0)) - (self.erp_amount or Decimal(0))


@dataclass
class Reconciled:
    """One commitment, both sides and what explains each difference."""

    commitment_id: int
    project_id: int
    project_name: str | None
    number: str
    title: str
    erp_ref: str | None
    procore: Side
    erp: Side
    differences: list[Difference] = field(default_factory=list)

    def gap(self, figure: Figure) -> Decimal | None:
        """Procore's figure minus the ERP's; None where either is not known."""
        procore, erp = self.procore.of(figure), self.erp.of(figure)
        if procore is None or (erp is None and figure is Figure.RETAINAGE):
            return None
        return procore - (erp or Decimal(0))

    @property
    def differs(self) -> bool:
        return bool(self.differences)

    @property
    def difference_amount(self) -> Decimal:
        """How far apart the two sides are, all figures together (each absolute)."""
        return sum((abs(gap) for figure in EXPLAINED if (gap := self.gap(figure))), Decimal(0))
