"""Invoices that release retainage in Procore, once the ERP has made the release.

Acumatica never releases retainage by itself: an invoice releasing retainage is exported telling a person to
release it in Acumatica on the bills that hold it (RED where the invoice only releases, so no bill is made of it;
GREEN with that notice where it bills work too). A release there makes a retainage bill. After each refresh has
read the retainage bills (``erp_bills.released_from``), the invoice's sentence says the release is made once
Acumatica has released, on the bills of the invoice's commitment, at least what Procore released on the
commitment's invoices up to this one (by Procore id): earlier releases in Procore are matched first, with the
retainage bills in the order Acumatica numbered them, and the sentence names those that match this invoice's
release. A release-only invoice turns GREEN.

A release-only invoice's link keeps no ERP document: each retainage bill belongs to the bill it releases from,
where the payment import and the reconciliation count it, once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from erp_sync.erps.base import RELEASE_MADE_IN_ERP, RETAINAGE_TO_RELEASE
from erp_sync.models import Colour, RecordType
from erp_sync.reconcile.compute import (
    ZERO, ErpBillRow, InvoiceLines, erp_bills, invoice_lines, money, summary_retainage,
)
from erp_sync.store import Store
from erp_sync.sync.links import Link, LinkBook, LinkState


def settle_releases_made_in_erp(store: Store, integration_id: int, erp: str, book: LinkBook,
                                counts: Counter[str]) -> None:
    """Each invoice waiting for its release in the ERP whose release the ERP has made is GREEN, saying which
    retainage bills made it."""
    invoices = book.of_type(RecordType.SUBCONTRACTOR_INVOICE)
    waiting = [link for link in invoices if waits_for_release(link)]
    if not waiting:
        return
    lines = invoice_lines(store, integration_id, invoices)
    releases = CommitmentReleases(book, erp_bills(store, integration_id), lines)
    for link in waiting:
        made = releases.made_for(link)
        if made:
            book.save(link, state=LinkState.SYNCED, colour=Colour.GREEN, message=release_made(made, erp),
                      reason_code=RELEASE_MADE_IN_ERP)
            counts[RELEASE_MADE_IN_ERP] += 1


def waits_for_release(link: Link) -> bool:
    """The export told a person to release the invoice's retainage in the ERP: RED where it only releases (no
    document was made), GREEN where its bill is there."""
    return link.reason_code == RETAINAGE_TO_RELEASE and (link.in_erp or link.colour == Colour.RED)


def release_made(retainage_bills: list[ErpBillRow], erp: str) -> str:
    made = "; ".join(f"retainage bill {_number(bill.ref)} releases {money(bill.amount)} from bill "
                     f"{_number(bill.released_from)}" for bill in retainage_bills)
    return f"Released in {erp}: {made}."


@dataclass
class CommitmentReleases:
    book: LinkBook
    bills: list[ErpBillRow]
    lines: dict[int, InvoiceLines]  # by invoice link, where ERP Sync read them all

    def made_for(self, invoice: Link) -> list[ErpBillRow]:
        """The retainage bills that release what this invoice released in Procore; none until they all do."""
        record = invoice.record
        commitment = self.book.get(RecordType.COMMITMENT, record.parent_id) if record else None
        if commitment is None or not commitment.in_erp:
            return []
        invoices = self.invoices_of(commitment)
        before = sum((self.released_in_procore(link) for link in invoices if link.procore_id < invoice.procore_id),
                     ZERO)
        upto = before + self.released_in_procore(invoice)
        retainage_bills = self.retainage_bills_of(commitment, invoices)
        if upto == before or sum((bill.amount for bill in retainage_bills), ZERO) < upto:
            return []
        matching, start = [], ZERO
        for bill in retainage_bills:
            if start < upto and start + bill.amount > before:
                matching.append(bill)
            start += bill.amount
        return matching

    def invoices_of(self, commitment: Link) -> list[Link]:
        return sorted((link for link in self.book.of_type(RecordType.SUBCONTRACTOR_INVOICE)
                       if (record := link.record) is not None and record.parent_id == commitment.procore_id),
                      key=lambda link: link.procore_id)

    def retainage_bills_of(self, commitment: Link, invoices: list[Link]) -> list[ErpBillRow]:
        """The retainage bills of the commitment's bills (those naming its subcontract, and its invoices' bills), in
        the order the ERP numbered them."""
        bill_refs = {bill.ref for bill in self.bills if bill.commitment_ref == commitment.erp_ref} | {
            link.erp_ref for link in invoices if link.in_erp}
        return sorted((bill for bill in self.bills if bill.released_from in bill_refs), key=lambda bill: bill.ref)

    def released_in_procore(self, invoice: Link) -> Decimal:
        """Retainage released on the invoice: its lines', else what its summary nets below zero (an invoice that bills
        nothing retains nothing)."""
        lines = self.lines.get(invoice.id)
        if lines is not None:
            return lines.released
        held = summary_retainage(invoice.record) if invoice.record else None
        return -held if held is not None and held < 0 else ZERO


def _number(ref: str | None) -> str:
    return (ref or "").split("/", 1)[-1]
