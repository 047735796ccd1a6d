"""What the sync asks of an ERP, whichever it is: vendors, find, create, update, and what it holds now.

A connector hook (``erp_connectors``) speaks the vendor's protocol; an adapter here maps Procore's
records onto the ERP's documents and translates the ERP's refusals into sentences a project
accountant understands.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from erp_connectors.base import VendorApiError, VendorHook
from erp_sync.documents.coding import LINE_KINDS
from erp_sync.documents.line_map import MappedLine
from erp_sync.documents.model import CodedDocument, DocumentLine
from erp_sync.models import ErpKind, RecordType
from erp_sync.reference.model import ErpItem, ReferenceKind
from erp_sync.sync.links import ErpView, Link
from erp_sync.sync.records import ProcoreRecord


RETAINAGE_TO_RELEASE = "retainage_to_release"  # the reason code of a GREEN link that carries such a notice
# A GREEN invoice that only released retainage and made no ERP document: the ERP has released as much
RELEASE_MADE_IN_ERP = "release_made_in_erp"
LINE_MARK = re.compile(r"\[PL(\d+)\]")


@dataclass(frozen=True)
class ErpDocument:
    ref: str                 # the link's erp_ref, and Procore's origin_id
    key: dict[str, Any]      # what the connector needs to address the document again
    label: str               # Procore's origin_data: which ERP, which document
    lines: dict[str, str] = field(default_factory=dict)  # Procore line id -> the ERP line it became
    notice: str | None = None  # what an accountant must still do in the ERP (kept on the GREEN link)


def marked_line(line: DocumentLine, limit: int) -> str:
    """A line's description with its mark, within the ERP's length."""
    suffix = f" {line.mark}"
    return line.description[: limit - len(suffix)] + suffix


def lines_by_mark(erp_lines: list[dict[str, Any]], description: str, key: str) -> dict[str, dict[str, Any]]:
    """The ERP lines that carry a Procore line's mark, by Procore line id."""
    found = {}
    for erp_line in erp_lines:
        match = LINE_MARK.search(str(erp_line.get(description) or ""))
        if match:
            found[match.group(1)] = erp_line
    return found


def removed_lines(document: CodedDocument, mapped: list[MappedLine]) -> list[DocumentLine]:
    """Lines the ERP holds that Procore no longer has."""
    present = {line.procore_id for line in document.document.lines}
    return [entry.line for entry in mapped if entry.line.procore_id not in present]


@dataclass(frozen=True)
class ErpPayment:
    """One ERP payment as applied to one bill: what becomes one Procore contract payment."""

    key: str                  # the payment document: "Payment/000123", "BillPayment/45"
    bill_ref: str             # the paid bill's erp_ref, as its link holds it
    amount: Decimal
    date: str                 # YYYY-MM-DD
    method: str               # "check" or "credit_card"
    check_number: str | None
    voided: bool = False
    voided_on: str | None = None
    modified_at: datetime | None = None


@dataclass(frozen=True)
class ErpBill:
    """A bill as the ERP's list shows it, with the commitment (subcontract, purchase order) it names where the
    list says so: bills entered in the ERP directly, not by ERP Sync, are known this way."""

    ref: str                      # as an invoice link's erp_ref would name it
    commitment_ref: str | None    # the named commitment, as its link's erp_ref names it
    number: str | None
    amount: Decimal | None
    balance: Decimal | None
    modified_at: datetime | None = None
    gone: bool = False            # deleted in the ERP (QuickBooks' change data capture says so)
    retainage: Decimal | None = None  # the retainage it holds, read as its ERP's linked bills' (None: not read)
    releases: str | None = None   # a retainage bill (Acumatica's release): the bill whose retainage it releases


@dataclass
class BillsSeen:
    """The bills one refresh read (no read of their own: the rows the refresh reads anyway), and, where the
    refresh knows it (a whole list, or the key list it reads to see deletions), every bill still in the ERP."""

    bills: list[ErpBill]
    present: set[str] | None = None


@dataclass
class PaymentChanges:
    """What the ERP reports since a moment: payments as applied to bills, and payments that were voided
    or deleted in a way that no longer shows which bills they paid (QuickBooks clears a void's lines)."""

    applications: list[ErpPayment]
    voided: dict[str, str | None]  # payment key -> when (YYYY-MM-DD), if known


class ErpRefusal(Exception):
    """The ERP will not take this record as it is; ``reason_code`` says which kind of problem."""

    def __init__(self, reason_code: str, message: str):
        super().__init__(message)
        self.reason_code, self.message = reason_code, message


def reference(record: ProcoreRecord, link: Link) -> str:
    """The mark the pipeline leaves on the ERP document, so it can find it again before creating.

    It names the link as well as the record: a record exported again after an unlink makes a new
    document, which must not be mistaken for the old one (a reversed change order stays in the ERP).
    """
    short = {RecordType.COMMITMENT: "CMT", RecordType.COMMITMENT_CHANGE_ORDER: "CCO",
             RecordType.SUBCONTRACTOR_INVOICE: "REQ"}[record.record_type]
    return f"PC-{short}-{record.id}-L{link.id}"


def described(record: ProcoreRecord, mark: str, limit: int) -> str:
    suffix = f" [{mark}]"
    return record.title[: limit - len(suffix)] + suffix


def reads_bills(links: dict[RecordType, list[Link]]) -> bool:
    """The refresh reads the ERP's bills while any invoice or commitment is in the ERP: bills entered there
    against a linked commitment are then seen as well."""
    return any(link.in_erp for kind in (RecordType.SUBCONTRACTOR_INVOICE, RecordType.COMMITMENT)
               for link in links.get(kind, []))


def condition_of_bill(amount: Decimal | None, balance: Decimal | None) -> str:
    if amount is None or balance is None or balance >= amount:
        return "open"
    return "paid" if balance <= 0 else "part_paid"


class ErpAdapter(ABC):
    kind: ClassVar[ErpKind]
    # What every line must be linked to in this ERP (its sub job, where Procore names one); other kinds are used
    # where linked.
    required_kinds: ClassVar[frozenset[ReferenceKind]] = frozenset(LINE_KINDS)
    # The ERP is known only from what the hourly sync read (Sage 300 CRE): an unlink waits for a
    # sync that completed after the request was filed, then decides from what that sync saw.
    seen_through_sync: ClassVar[bool] = False

    def __init__(self, hook: VendorHook):
        self.hook = hook
        self.bills_seen: BillsSeen | None = None  # filled by ``refresh``

    @property
    def name(self) -> str:
        return self.kind.display_name

    reference_kinds: ClassVar[tuple[ReferenceKind, ...]] = ()  # what ``reference_items`` reads of this ERP

    @abstractmethod
    def reference_items(self, kind: ReferenceKind, since: datetime | None = None) -> list[ErpItem]:
        """The ERP's reference data of one kind, active and inactive, as its documents name it: all of it, or
        what changed since ``since`` where the ERP keeps change dates (where it keeps none, all of it); empty for
        a kind the ERP does not have."""

    @abstractmethod
    def find(self, record: ProcoreRecord, link: Link, parent: Link | None) -> ErpDocument | None:
        """The document an earlier attempt of this link created, if it reached the ERP, with its lines."""

    @abstractmethod
    def create(self, document: CodedDocument, link: Link, vendor_id: str,
               parent: Link | None) -> ErpDocument | None:
        """The new document, one ERP line per Procore line; None when the ERP takes it later (an import
        file it has yet to read)."""

    @abstractmethod
    def update(self, document: CodedDocument, link: Link, vendor_id: str, parent: Link | None,
               mapped: list[MappedLine]) -> ErpDocument:
        """Change the document line by line: the lines ``mapped`` names are changed, new ones added, removed
        ones removed where the ERP allows (else an ``ErpRefusal`` saying what to do in the ERP)."""

    def check_lines(self, document: CodedDocument) -> None:
        """Raise a ``LineProblem`` for a coded document this ERP cannot take, before anything is sent (and before
        anyone accepts it)."""

    def line_keys(self, document: CodedDocument) -> dict[str, str]:
        """The ERP lines an import file numbers (the ERP's answer names them otherwise)."""
        return {}

    def awaiting_import(self, record: ProcoreRecord, link: Link) -> bool:
        """The record was handed to the ERP, which has yet to take it (an import file not yet read)."""
        return False

    def check_import(self, record: ProcoreRecord, link: Link) -> None:
        """Raise the ERP's refusal of a record handed to it, if it refused it."""

    @abstractmethod
    def refresh(self, links: dict[RecordType, list[Link]],
                since: datetime | None) -> tuple[list[tuple[Link, ErpView]], list[Link]]:
        """What changed in the ERP for these links since a moment (all when None): the new views, and the
        links whose documents are still there unchanged. The bills it read go to ``bills_seen``."""

    # A commitment's amount in the ERP includes its change orders (a QuickBooks purchase order's lines, Sage's
    # revised commitment); Acumatica keeps the subcontract's own total apart from its change orders.
    commitment_includes_change_orders: ClassVar[bool] = True
    # A bill's amount in the ERP is the invoice's gross, retainage included (Sage); QuickBooks nets it with a
    # negative retainage line and Acumatica's bill Amount leaves out the retainage it holds, so their bill is the
    # payment due.
    bill_nets_retainage: ClassVar[bool] = False

    @abstractmethod
    def still_in_erp(self, link: Link) -> bool:
        """Asked live before an unlink: is the linked document still there (not deleted, not reversed)?"""

    @abstractmethod
    def payments(self, bill_refs: set[str], since: datetime | None) -> PaymentChanges:
        """Payments applied to these bills, changed since a moment (all when None)."""

    def refusal(self, error: VendorApiError, record: ProcoreRecord, updating: bool) -> ErpRefusal:
        what = record.record_type.words
        if updating and self.is_locked(error):
            return ErpRefusal("locked", f"{self.name} did not take the change to the {what} because the record is "
                                        f"locked there ({error.message}). Make the change in {self.name}, or "
                                        "unlink the record and export it again.")
        return ErpRefusal("erp_validation", f"{self.name} refused the {what}: {error.message}")

    @abstractmethod
    def is_locked(self, error: VendorApiError) -> bool:
        ...


def payment_method(name: str | None) -> str:
    """Check or credit card, from the ERP's name for the method (Acumatica ``CREDITCARD``, QuickBooks ``CreditCard``)."""
    text = (name or "").upper().replace(" ", "")
    return "credit_card" if "CARD" in text or text in {"VISA", "MC", "AMEX"} else "check"

