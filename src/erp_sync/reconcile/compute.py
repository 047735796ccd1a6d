"""Both sides' figures per commitment and the cause of each difference, from what the syncs already hold.

Nothing here calls Procore or the ERP. Procore's side comes from the snapshot each link keeps of its record
as last read (commitment, approved change orders, subcontractor invoices) and from the payments the payment
import wrote into Procore; the ERP's side from what the hourly refresh last read of each linked document and
from the ERP's bills it read in the same calls (``erp_bills``: those naming the commitment that ERP Sync did
not export are bills entered in the ERP directly).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from erp_sync.documents.model import DocumentLine
from erp_sync.documents.line_map import kept_whole
from erp_sync.erps.base import RELEASE_MADE_IN_ERP, RETAINAGE_TO_RELEASE
from erp_sync.models import Colour, ErpKind, RecordType
from erp_sync.reconcile.model import CENT, EXPLAINED, Cause, Difference, Figure, Reconciled, Side
from erp_sync.store import Store
from erp_sync.sync.links import AWAITING_ACCOUNTING, Link, LinkState
from erp_sync.sync.records import ProcoreRecord

GONE = ("deleted", "reversed")
# The export told a person to release the invoice's retainage in the ERP (and, since, the ERP has)
RELEASE_ASKED = (RETAINAGE_TO_RELEASE, RELEASE_MADE_IN_ERP)
NOUN = {RecordType.COMMITMENT: "commitment", RecordType.COMMITMENT_CHANGE_ORDER: "change order",
        RecordType.SUBCONTRACTOR_INVOICE: "invoice"}
FIGURE_OF = {RecordType.COMMITMENT: Figure.ORIGINAL, RecordType.COMMITMENT_CHANGE_ORDER: Figure.CHANGE_ORDERS,
             RecordType.SUBCONTRACTOR_INVOICE: Figure.INVOICED}
ZERO = Decimal(0)


def money(amount: Decimal | None) -> str:
    return "nothing" if amount is None else f"{amount:,.2f}"


@dataclass(frozen=True)
class Unlinked:
    """A record whose link an unlink request ended, with no link since."""

    record: ProcoreRecord
    ended_at: datetime
    ended_by: str | None


@dataclass(frozen=True)
class ErpBillRow:
    """An ERP bill from ``erp_bills``: one entered in the ERP directly, or a retainage bill (a release)."""

    ref: str
    number: str | None
    amount: Decimal
    balance: Decimal
    retainage: Decimal | None
    commitment_ref: str | None = None
    released_from: str | None = None  # a retainage bill: the bill whose retainage it releases

    @property
    def paid(self) -> Decimal:
        return self.amount - self.balance


@dataclass(frozen=True)
class Released:
    """What the ERP released of the retainage one bill holds: its retainage bills (Acumatica makes one per release,
    payable on its own; QuickBooks and Sage have none)."""

    bills: tuple[ErpBillRow, ...] = ()

    @property
    def amount(self) -> Decimal:
        return sum((bill.amount for bill in self.bills), ZERO)

    @property
    def paid(self) -> Decimal:
        return sum((bill.paid for bill in self.bills), ZERO)

    @property
    def numbers(self) -> list[str]:
        return [bill.ref.split("/", 1)[-1] for bill in self.bills]


NOTHING_RELEASED = Released()


@dataclass(frozen=True)
class InvoiceLines:
    """What an invoice's lines add up to, as ERP Sync read them all (to export it, or to check it while it waited).
    Their retainage is each line's "this period" fields, which say what they mean; the header's
    ``summary.total_retainage`` is only a fallback (Procore's summary follows the G702, whose total retainage may be
    the commitment's to date)."""

    gross: Decimal = ZERO
    retainage: Decimal = ZERO  # held this period less released this period
    released: Decimal = ZERO   # released this period


@dataclass(frozen=True)
class InvoiceRelease:
    """An invoice whose retainage differs by what one system released and the other did not: Procore released on it
    (its export told a person to release it in the ERP), or the ERP released on its bill (retainage bills)."""

    number: str
    held: Decimal                     # in Procore
    erp_held: Decimal                 # in the ERP: what the bill holds less what its retainage bills released
    invoiced: Decimal | None          # in Procore, where the release is all the invoiced amounts differ by
    erp_invoiced: Decimal
    released: Released


@dataclass
class Books:
    """What the status store holds for one integration, read in five queries."""

    erp: str
    includes_change_orders: bool
    bills_net_retainage: bool
    commitments: list[Link]
    records: dict[int, ProcoreRecord]        # link id -> its Procore snapshot, read once
    lines: dict[int, InvoiceLines]           # invoice link id -> its lines, where ERP Sync read them all
    children: dict[int, list[Link]]          # change orders and invoices by their commitment's Procore id
    unlinked: dict[int, list[Unlinked]]      # by commitment
    direct_bills: dict[str, list[ErpBillRow]]  # by the commitment's ERP reference
    released: dict[str, Released]            # by the ERP reference of the bill released from
    paid_in_procore: dict[tuple[int, str], Decimal]  # (commitment, ERP bill) -> imported into Payments Issued
    paid_by_commitment: dict[int, Decimal]
    modified: dict[int, datetime | None]     # link id -> when the ERP last changed the document
    seen: dict[int, datetime | None]         # link id -> when the refresh last read it

    @classmethod
    def load(cls, store: Store, integration: dict) -> Books:
        from erp_sync.connectors import ERP_ADAPTERS

        kind = ErpKind(integration["erp_kind"])
        rows = store.rows("links_for_reconciliation", integration_id=integration["id"])
        links = [compared(row) for row in rows]
        records = {link.id: link.record for link in links}
        lines = invoice_lines(store, integration["id"], links)
        children: dict[int, list[Link]] = defaultdict(list)
        for link in links:
            if link.record_type is not RecordType.COMMITMENT and records[link.id].parent_id:
                children[records[link.id].parent_id].append(link)
        invoice_refs = {link.erp_ref for link in links
                        if link.record_type is RecordType.SUBCONTRACTOR_INVOICE and link.in_erp}
        bills = erp_bills(store, integration["id"])
        direct: dict[str, list[ErpBillRow]] = defaultdict(list)
        for bill in bills:  # a retainage bill is never a bill entered directly, nor invoiced on its own
            if bill.released_from is None and bill.ref not in invoice_refs:
                direct[bill.commitment_ref].append(bill)
        unlinked: dict[int, dict[tuple[RecordType, int], Unlinked]] = defaultdict(dict)
        for row in store.rows("unlinked_records_for_reconciliation", integration_id=integration["id"]):
            record = ProcoreRecord.from_snapshot(row["procore_json"]) if row["procore_json"] else None
            # An unlinked commitment has no figures of its own here: its change orders and invoices count under it
            # once it is exported again.
            owner = record.parent_id if record and record.record_type is not RecordType.COMMITMENT else None
            if owner:
                unlinked[owner][(record.record_type, record.id)] = Unlinked(record, row["ended_at"], row["ended_by"])
        paid = {(row["procore_commitment_id"], row["erp_bill_ref"]): row["amount"]
                for row in store.rows("imported_payments_for_reconciliation", integration_id=integration["id"])}
        paid_by_commitment: dict[int, Decimal] = defaultdict(Decimal)
        for (commitment_id, _bill), amount in paid.items():
            paid_by_commitment[commitment_id] += amount
        return cls(kind.display_name, ERP_ADAPTERS[kind].commitment_includes_change_orders,
                   ERP_ADAPTERS[kind].bill_nets_retainage,
                   [link for link in links if link.record_type is RecordType.COMMITMENT], records, lines, children,
                   {owner: list(found.values()) for owner, found in unlinked.items()}, direct,
                   released_by_bill(bills), paid,
                   paid_by_commitment, {row["id"]: row["erp_modified_at"] for row in rows},
                   {row["id"]: row["erp_seen_at"] for row in rows})


def invoice_lines(store: Store, integration_id: int, links: Iterable[Link]) -> dict[int, InvoiceLines]:
    """Each invoice's lines as exported, as checked while it waits for acceptance, or as the ERP refused them (one
    read for the integration); not where some of them were left out (a line on no commitment line ERP Sync knows)."""
    partial = {link.id for link in links if not kept_whole(link.reason_code, link.in_erp)}
    read: dict[int, list[DocumentLine]] = defaultdict(list)
    for row in store.rows("invoice_lines_for_reconciliation", integration_id=integration_id):
        if row["link_id"] not in partial:
            read[row["link_id"]].append(DocumentLine.from_json(row["line_json"]))
    return {link_id: InvoiceLines(sum((line.amount for line in lines), ZERO),
                                  sum((line.net_retainage for line in lines), ZERO),
                                  sum((line.retainage_released for line in lines), ZERO))
            for link_id, lines in read.items()}


def erp_bills(store: Store, integration_id: int) -> list[ErpBillRow]:
    """The ERP's bills still there that name a commitment or release retainage from a bill, as the refresh read them."""
    return [ErpBillRow(bill["erp_ref"], bill["erp_number"], bill["amount"], bill["erp_balance"] or ZERO,
                       bill["retainage"], bill["commitment_ref"], bill["released_from"])
            for bill in store.rows("live_erp_bills", integration_id=integration_id) if bill["amount"] is not None]


def released_by_bill(bills: list[ErpBillRow]) -> dict[str, Released]:
    """The retainage bills among these, by the bill each releases from."""
    releases: dict[str, list[ErpBillRow]] = defaultdict(list)
    for bill in bills:
        if bill.released_from:
            releases[bill.released_from].append(bill)
    return {ref: Released(tuple(made)) for ref, made in releases.items()}


def compared(row: dict) -> Link:
    """A link with what the reconciliation compares."""
    return Link(id=row["id"], record_type=RecordType(row["record_type"]), procore_id=row["procore_id"],
                state=row["state"], colour=row["colour"], erp_ref=row["erp_ref"], message=row["message"],
                reason_code=row["reason_code"], procore_json=row["procore_json"], exported_at=row["exported_at"],
                erp_condition=row["erp_condition"],
                erp_present=None if row["erp_present"] is None else bool(row["erp_present"]),
                erp_amount=row["erp_amount"], erp_balance=row["erp_balance"], erp_retainage=row["erp_retainage"],
                erp_number=row["erp_number"])


def amount_of(books: Books, link: Link) -> Decimal:
    """What the record was exported as: an invoice exported with lines is billed at their gross (payment due
    plus the retainage held) unless the ERP nets the retainage on the bill, one without lines at its payment due;
    a commitment or change order at its total."""
    lines = books.lines.get(link.id)
    if books.bills_net_retainage or lines is None:
        return books.records[link.id].amount
    return lines.gross


def retainage_of(books: Books, link: Link) -> Decimal | None:
    """Procore's retainage held on a linked invoice: retained less released this period, from its lines."""
    lines = books.lines.get(link.id)
    return lines.retainage if lines is not None else summary_retainage(books.records[link.id])


def summary_retainage(record: ProcoreRecord) -> Decimal | None:
    """An invoice's retainage from its header, where ERP Sync has not read all its lines (an unlinked invoice)."""
    held = (record.data.get("summary") or {}).get("total_retainage")
    return None if held is None else Decimal(str(held))


def reconcile(books: Books) -> list[Reconciled]:
    return [CommitmentReconciler(books, link).result() for link in books.commitments]


def counted(link: Link) -> bool:
    """The ERP's figure of this link is known and the document is still there."""
    return link.in_erp and link.erp_present is not False and link.erp_condition not in GONE \
        and link.erp_amount is not None


class CommitmentReconciler:
    def __init__(self, books: Books, commitment: Link):
        self.books, self.commitment, self.record = books, commitment, books.records[commitment.id]
        children = books.children.get(commitment.procore_id, [])
        self.change_orders = [l for l in children if l.record_type is RecordType.COMMITMENT_CHANGE_ORDER]
        self.invoices = [l for l in children if l.record_type is RecordType.SUBCONTRACTOR_INVOICE]
        self.unlinked = books.unlinked.get(commitment.procore_id, [])
        self.bills = books.direct_bills.get(commitment.erp_ref, []) if commitment.in_erp else []
        self.differences: list[Difference] = []

    def result(self) -> Reconciled:
        procore, erp = self.procore_side(), self.erp_side()
        reconciled = Reconciled(self.record.id, self.record.project_id, self.record.project_name, self.record.number,
                                self.record.title, self.commitment.erp_ref, procore, erp)
        self.explain_records(erp)
        for figure in EXPLAINED:
            gap = reconciled.gap(figure)
            if gap is not None:
                self.explain_rest(figure, gap, procore.of(figure), erp.of(figure))
        reconciled.differences = self.differences
        return reconciled

    # The two sides ------------------------------------------------------------------------------
    def procore_side(self) -> Side:
        unlinked = [u.record for u in self.unlinked]
        change_orders = [self.books.records[l.id] for l in self.change_orders] + [
            r for r in unlinked if r.record_type is RecordType.COMMITMENT_CHANGE_ORDER]
        unlinked_invoices = [r for r in unlinked if r.record_type is RecordType.SUBCONTRACTOR_INVOICE]
        invoiced = sum((amount_of(self.books, l) for l in self.invoices), ZERO) + sum(
            (r.amount for r in unlinked_invoices), ZERO)
        retainage = [held for held in [retainage_of(self.books, l) for l in self.invoices] +
                     [summary_retainage(r) for r in unlinked_invoices] if held is not None]
        paid = self.books.paid_by_commitment.get(self.record.id, ZERO)
        return Side(original=self.record.amount, change_orders=sum((r.amount for r in change_orders), ZERO),
                    invoiced=invoiced,
                    retainage=sum(retainage, ZERO) if retainage else None, paid=paid)

    def erp_side(self) -> Side:
        """Each bill, linked or entered in the ERP directly, with what its retainage bills released: invoiced is its
        amount and theirs (a release makes retainage payable), paid what was paid of them all, retainage what it
        holds less what they released. Retainage is unknown while any bill has not been read with it."""
        if not self.commitment.in_erp:
            return Side()
        change_orders = sum((l.erp_amount for l in self.change_orders if counted(l)), ZERO)
        bills = [l for l in self.invoices if counted(l)]
        invoiced = sum((self.erp_invoiced(l) for l in bills), ZERO) + sum(
            (b.amount + self.released(b.ref).amount for b in self.bills), ZERO)
        paid = sum((self.erp_paid(l) for l in bills), ZERO) + sum(
            (b.paid + self.released(b.ref).paid for b in self.bills), ZERO)
        held = [self.erp_held(l.erp_ref, l.erp_retainage) for l in bills] + [
            self.erp_held(b.ref, b.retainage) for b in self.bills]
        retainage = None if None in held else sum(held, ZERO)
        return Side(original=self.erp_original(change_orders), change_orders=change_orders, invoiced=invoiced,
                    retainage=retainage, paid=paid)

    def released(self, bill_ref: str | None) -> Released:
        return self.books.released.get(bill_ref or "", NOTHING_RELEASED)

    def erp_invoiced(self, invoice: Link) -> Decimal:
        return invoice.erp_amount + self.released(invoice.erp_ref).amount

    def erp_held(self, bill_ref: str | None, retainage: Decimal | None) -> Decimal | None:
        return None if retainage is None else retainage - self.released(bill_ref).amount

    def erp_original(self, change_orders: Decimal) -> Decimal | None:
        if not counted(self.commitment):
            return None
        if self.books.includes_change_orders:
            return self.commitment.erp_amount - change_orders
        return self.commitment.erp_amount

    def erp_paid(self, link: Link) -> Decimal:
        """Paid of the bill and of its retainage bills (the payment import counts both for the invoice)."""
        balance = link.erp_balance if link.erp_balance is not None else link.erp_amount
        return link.erp_amount - balance + self.released(link.erp_ref).paid

    # Causes, record by record -------------------------------------------------------------------
    def explain_records(self, erp: Side) -> None:
        self.about(self.commitment, erp.original if counted(self.commitment) else None)
        for link in self.change_orders:
            self.about(link, link.erp_amount)
        releases = []
        for link in self.invoices:
            release = self.release_on(link) if erp.retainage is not None else None
            if release is None or release.invoiced is None:
                self.about(link, link.erp_amount if link.erp_amount is None else self.erp_invoiced(link))
            self.about_payments(link)
            if release is not None:
                releases.append(release)
            elif erp.retainage is not None:
                self.about_retainage(link)
        self.about_releases(releases)
        for unlinked in self.unlinked:
            self.note_unlinked(unlinked, erp.retainage is not None)
        for bill in self.bills:
            self.note_direct_bill(bill, erp.retainage is not None)

    def add(self, figure: Figure, cause: Cause, subject: str, sentence: str, procore: Decimal | None,
            erp: Decimal | None) -> None:
        self.differences.append(Difference(figure, cause, subject, sentence, procore, erp))

    def about(self, link: Link, erp_amount: Decimal | None) -> None:
        record, figure, erp = self.books.records[link.id], FIGURE_OF[link.record_type], self.books.erp
        subject, amount = f"{NOUN[link.record_type]} {record.number}", amount_of(self.books, link)
        if not link.in_erp:
            self.add(figure, *self.not_in_erp(link, subject, amount), amount, None)
        elif link.erp_present is False or link.erp_condition in GONE:
            word = "reversed" if link.erp_condition == "reversed" else "deleted"
            self.add(figure, Cause.GONE_FROM_ERP, subject,
                     f"The {subject} was {word} in {erp} (seen{_on(self.books.seen.get(link.id))}); "
                     f"Procore still counts {money(amount)}. File an unlink request to export it again.", amount, None)
        elif erp_amount is None:
            self.add(figure, Cause.NOT_EXPORTED, subject,
                     f"The {subject} ({money(amount)}) was sent to {erp}; ERP Sync has not read it back yet "
                     "(the next hourly refresh does).", amount, None)
        elif erp_amount != amount:
            self.add(figure, *self.changed(link, subject, amount, erp_amount), amount, erp_amount)

    def not_in_erp(self, link: Link, subject: str, amount: Decimal) -> tuple[Cause, str, str]:
        erp = self.books.erp
        if link.state in (LinkState.READY, LinkState.ACCEPTED):
            return (Cause.AWAITING_ACCEPTANCE, subject, f"The {subject} ({money(amount)}) is approved in Procore and "
                    "waits for accounting acceptance under Ready to Export; it is not in " f"{erp} yet.")
        if link.state == LinkState.RETURNED:
            return (Cause.NOT_EXPORTED, subject, f"The {subject} ({money(amount)}) was rejected by accounting "
                    f"({link.message or 'no reason given'}); it is not in {erp} until it is changed in Procore.")
        if link.colour == Colour.RED:
            return (Cause.EXPORT_FAILED, subject, f"The {subject} ({money(amount)}) is not in {erp}: its export "
                    f"failed (RED): {link.message or 'no reason recorded'}")
        return (Cause.NOT_EXPORTED, subject, f"The {subject} ({money(amount)}) is not in {erp} yet: "
                f"{link.message or 'the next hourly sync exports it'}")

    def changed(self, link: Link, subject: str, amount: Decimal, erp_amount: Decimal) -> tuple[Cause, str, str]:
        erp, both = self.books.erp, f"{money(amount)} in Procore, {money(erp_amount)} in {self.books.erp}"
        if abs(amount - erp_amount) <= CENT:
            return Cause.ROUNDING, subject, f"The {subject} is {both}: an amount rounded by {money(amount - erp_amount)}."
        if link.state in AWAITING_ACCOUNTING:
            return (Cause.AWAITING_ACCEPTANCE, subject, f"A change to the {subject} made in Procore waits for "
                    f"accounting acceptance: {both}.")
        if link.colour == Colour.RED:
            return Cause.EXPORT_FAILED, subject, f"The change to the {subject} did not reach {erp} (RED): {link.message}"
        if link.state in (LinkState.EXPORTING, LinkState.EXPORTED):
            return Cause.NOT_EXPORTED, subject, f"The change to the {subject} is on its way to {erp}: {both}."
        modified = self.books.modified.get(link.id)
        when = _on(modified) if modified and (link.exported_at is None or modified > link.exported_at) else ""
        return (Cause.CHANGED_IN_ERP, subject, f"The {subject} was changed in {erp}{when} after ERP Sync exported "
                f"it: {both}.")

    def about_payments(self, invoice: Link) -> None:
        if not invoice.in_erp:
            return
        erp, subject = self.books.erp, f"invoice {self.books.records[invoice.id].number}"
        in_procore = self.books.paid_in_procore.get((self.record.id, invoice.erp_ref), ZERO)
        in_erp = self.erp_paid(invoice) if counted(invoice) else ZERO
        bill = f"bill {invoice.erp_number or invoice.erp_ref}"
        if in_erp > in_procore:
            self.add(Figure.PAID, Cause.PAYMENT_NOT_IMPORTED, subject,
                     f"{erp} shows {money(in_erp)} paid on {bill} for the {subject}; Procore's Payments Issued has "
                     f"{money(in_procore)} of it: the payment import has not brought it in yet (it runs after each "
                     "hourly sync, or use Sync Payments for Synced Invoices).", in_procore, in_erp)
        elif in_procore > in_erp:
            cause = Cause.PAYMENT_VOIDED if counted(invoice) else Cause.GONE_FROM_ERP
            self.add(Figure.PAID, cause, subject,
                     f"Procore's Payments Issued holds {money(in_procore)} for the {subject}, but {bill} in {erp} now "
                     f"shows {money(in_erp)} paid: a payment was voided or reduced in {erp} since it was imported; "
                     "the next payment import corrects Procore.", in_procore, in_erp)

    def about_retainage(self, invoice: Link) -> None:
        """The retainage one invoice holds in Procore against what its bill holds in the ERP."""
        record, erp = self.books.records[invoice.id], self.books.erp
        held = retainage_of(self.books, invoice)
        in_erp = self.erp_held(invoice.erp_ref, invoice.erp_retainage) if counted(invoice) else None
        if held is None or held == (in_erp or ZERO):
            return
        subject = f"retainage held on invoice {record.number}"
        if not invoice.in_erp:
            self.add(Figure.RETAINAGE, *self.not_in_erp(invoice, subject, held), held, None)
        elif invoice.erp_present is False or invoice.erp_condition in GONE:
            self.add(Figure.RETAINAGE, Cause.GONE_FROM_ERP, subject,
                     f"The bill of invoice {record.number} is no longer in {erp} (seen"
                     f"{_on(self.books.seen.get(invoice.id))}); Procore holds {money(held)} of retainage on it.",
                     held, None)
        elif in_erp is None:
            self.add(Figure.RETAINAGE, Cause.NOT_EXPORTED, subject,
                     f"Invoice {record.number} holds {money(held)} of retainage and was sent to {erp}; ERP Sync has "
                     "not read its bill back yet (the next hourly refresh does).", held, None)
        else:
            self.add(Figure.RETAINAGE, *self.changed(invoice, subject, held, in_erp), held, in_erp)

    def release_on(self, invoice: Link) -> InvoiceRelease | None:
        """The invoice's figures where a release made in one system and not the other may explain them."""
        record, released = self.books.records[invoice.id], self.released(invoice.erp_ref)
        held = retainage_of(self.books, invoice)
        release_only = not invoice.in_erp and invoice.reason_code in RELEASE_ASKED  # refused: no bill made
        in_erp = counted(invoice) and invoice.erp_retainage is not None and (
            bool(released.bills) or invoice.reason_code in RELEASE_ASKED)
        if held is None or not (release_only or in_erp):
            return None
        invoiced = amount_of(self.books, invoice)
        erp_held = self.erp_held(invoice.erp_ref, invoice.erp_retainage) if in_erp else ZERO
        erp_invoiced = self.erp_invoiced(invoice) if in_erp else ZERO
        return InvoiceRelease(record.number, held, erp_held,
                              invoiced if invoiced + held == erp_invoiced + erp_held else None, erp_invoiced, released)

    def about_releases(self, releases: list[InvoiceRelease]) -> None:
        """Retainage released in Procore and in the ERP, compared per commitment: Procore releases on a later
        invoice what Acumatica releases on the bills that held it, so the same release may sit on different
        documents. What is left is to release in the ERP, or released there and not in Procore."""
        held, erp_held = sum((r.held for r in releases), ZERO), sum((r.erp_held for r in releases), ZERO)
        if held == erp_held:
            return
        erp, invoices = self.books.erp, _invoices([r.number for r in releases])
        retainage_bills = ", ".join(number for r in releases for number in r.released.numbers)
        both = f"{money(held)} of retainage held in Procore, {money(erp_held)} in {erp}"
        if held < erp_held:
            cause, rest, where = Cause.RETAINAGE_TO_RELEASE, money(erp_held - held), f"in Procore and not in {erp}"
            sentence = (f"Procore released retainage on {invoices} that {erp} still holds ({both}): {erp} never "
                        f"releases retainage by itself; release the remaining {rest} there on the bills that hold it "
                        "(Bills and Adjustments, Release Retainage).")
        else:
            cause, rest, where = Cause.RELEASED_IN_ERP, money(held - erp_held), f"in {erp} and not in Procore"
            made = f" (retainage bill {retainage_bills})" if retainage_bills else ""
            sentence = (f"{erp} released {rest} of retainage{made} that Procore still holds on {invoices} ({both}): "
                        "record the release in Procore on the commitment's next subcontractor invoice (retainage "
                        "released this period), or, if it was released by mistake, reverse the retainage bill in "
                        f"{erp}.")
        self.add(Figure.RETAINAGE, cause, "retainage released", sentence, held, erp_held)
        explained = [r for r in releases if r.invoiced is not None]
        if explained:
            invoiced = sum((r.invoiced for r in explained), ZERO)
            erp_invoiced = sum((r.erp_invoiced for r in explained), ZERO)
            self.add(Figure.INVOICED, cause, "retainage released",
                     f"Invoiced on {_invoices([r.number for r in explained])}: {money(invoiced)} in Procore, "
                     f"{money(erp_invoiced)} in {erp} with the retainage bills; they differ by the {rest} of retainage "
                     f"released {where}.", invoiced, erp_invoiced)

    def note_unlinked(self, unlinked: Unlinked, retainage_known: bool) -> None:
        record = unlinked.record
        subject = f"{NOUN[record.record_type]} {record.number}"
        self.add(FIGURE_OF[record.record_type], Cause.UNLINKED, subject,
                 f"The {subject} ({money(record.amount)}) was unlinked{_on(unlinked.ended_at)} "
                 f"({unlinked.ended_by or 'by an unlink request'}): Procore counts it, {self.books.erp} no longer "
                 "has it.", record.amount, None)
        held = summary_retainage(record) if record.record_type is RecordType.SUBCONTRACTOR_INVOICE else None
        if held and retainage_known:
            self.add(Figure.RETAINAGE, Cause.UNLINKED, f"retainage held on {subject}",
                     f"The {subject}, unlinked{_on(unlinked.ended_at)}, holds {money(held)} of retainage in "
                     f"Procore; {self.books.erp} no longer has its bill.", held, None)

    def note_direct_bill(self, bill: ErpBillRow, retainage_known: bool) -> None:
        """Its amount, payments and retainage, each with what its retainage bills released."""
        erp, subject, released = self.books.erp, f"bill {bill.number or bill.ref}", self.released(bill.ref)
        amount, paid = bill.amount + released.amount, bill.paid + released.paid
        self.add(Figure.INVOICED, Cause.ERP_BILL_WITHOUT_INVOICE, subject,
                 f"The {subject} ({money(amount)}) was entered in {erp} against this commitment, not by ERP Sync; "
                 "Procore has no subcontractor invoice for it.", None, amount)
        if paid:
            self.add(Figure.PAID, Cause.ERP_BILL_WITHOUT_INVOICE, subject,
                     f"The {subject} was paid {money(paid)} in {erp}; with no Procore invoice for it the payment "
                     "cannot be imported into Procore.", None, paid)
        held = self.erp_held(bill.ref, bill.retainage)
        if held and retainage_known:
            self.add(Figure.RETAINAGE, Cause.ERP_BILL_WITHOUT_INVOICE, subject,
                     f"The {subject}, entered in {erp} against this commitment, holds {money(held)} of retainage "
                     "there; Procore has no subcontractor invoice holding it.", None, held)

    # What the records do not explain ------------------------------------------------------------
    def explain_rest(self, figure: Figure, gap: Decimal, procore: Decimal | None, erp: Decimal | None) -> None:
        rest = gap - sum((d.gap for d in self.differences if d.figure is figure), ZERO)
        if rest == 0:
            return
        both = f"{money(procore)} in Procore, {money(erp)} in {self.books.erp}"
        if abs(rest) <= CENT * max(1, len(self.change_orders) + len(self.invoices) + 1):
            self.add(figure, Cause.ROUNDING, "", f"{figure.title}: {both}; {money(rest)} of it is rounding.",
                     procore, erp)
        else:
            self.add(figure, Cause.UNKNOWN, "", f"{figure.title}: {both}; ERP Sync cannot tell why {money(rest)} of "
                     "it differs. Compare the documents in both systems.", procore, erp)


def _invoices(numbers: list[str]) -> str:
    return f"invoice{'s' if len(numbers) > 1 else ''} {', '.join(numbers)}"


def _on(moment: datetime | None) -> str:
    return f" on {moment:%Y-%m-%d %H:%M} UTC" if moment else ""
