"""Refresh: what the ERP now says about every linked record (still there, deleted, reversed, paid,
part paid, rejected), stored with the time it was seen. The unlink queue and the payment import
decide from this. The ERP's bills that name a commitment, read in the same calls, are kept in
``erp_bills`` with the retainage they hold, and so are Acumatica's retainage bills (a release made there): the
reconciliation finds bills entered in the ERP directly, and retainage released in the ERP, there."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from erp_sync.erps.base import BillsSeen, ErpAdapter
from erp_sync.models import Colour, RecordType
from erp_sync.store import Store, utcnow
from erp_sync.sync.links import ErpView, Link, LinkBook, LinkState

OVERLAP = timedelta(minutes=2)


def refresh_links(store: Store, integration_id: int, adapter: ErpAdapter, book: LinkBook,
                  counts: Counter[str]) -> None:
    bookmark = f"{adapter.kind.value}:refresh"
    saved = store.watermark(integration_id, bookmark)
    since = datetime.fromisoformat(saved) - OVERLAP if saved else None
    started = utcnow()
    views, unchanged = adapter.refresh({kind: book.of_type(kind) for kind in RecordType}, since)
    book.seen([(link, view, *outcome(link, view, adapter.name)) for link, view in views], unchanged)
    for _link, view in views:
        counts[f"erp_{view.condition}"] += 1
    counts["erp_unchanged"] += len(unchanged)
    if adapter.bills_seen is not None:
        counts["erp_bills_changed"] += keep_bills(store, integration_id, adapter.bills_seen)
    store.set_watermark(integration_id, bookmark, started.isoformat())


def keep_bills(store: Store, integration_id: int, seen: BillsSeen) -> int:
    """Write the bills that name a commitment, and the retainage bills that release from a bill, that changed
    since the last read; a bill no longer in the ERP is marked gone. Returns how many rows were written."""
    known = {row["erp_ref"]: row for row in store.rows("erp_bills_of_integration", integration_id=integration_id)}
    now = utcnow()
    rows = []
    for bill in seen.bills:
        old = known.get(bill.ref)
        if bill.commitment_ref is None and bill.releases is None and old is None:
            continue
        kept = (bill.commitment_ref, bill.number, bill.amount, bill.balance, bill.retainage, bill.releases, bill.gone)
        if old is None or kept != (old["commitment_ref"], old["erp_number"], old["amount"], old["erp_balance"],
                                   old["retainage"], old["released_from"], old["gone_at"] is not None):
            rows.append({"integration_id": integration_id, "erp_ref": bill.ref, "commitment_ref": bill.commitment_ref,
                         "erp_number": bill.number, "amount": bill.amount, "erp_balance": bill.balance,
                         "retainage": bill.retainage, "released_from": bill.releases,
                         "erp_modified_at": bill.modified_at, "seen_at": now, "gone_at": now if bill.gone else None})
    gone = [{"integration_id": integration_id, "erp_ref": ref, "gone_at": now} for ref, row in known.items()
            if seen.present is not None and ref not in seen.present and row["gone_at"] is None]
    with store.transaction() as tx:
        tx.execute_many("upsert_erp_bill", rows)
        tx.execute_many("erp_bill_gone", gone)
    return len(rows) + len(gone)


def outcome(link: Link, view: ErpView, erp: str) -> tuple[str, Colour, str | None]:
    """The link's state, colour and message once the ERP's view is known."""
    if view.condition == "rejected":
        return LinkState.REJECTED, Colour.YELLOW, f"Rejected in {erp} ({view.status})."
    if link.state == LinkState.REJECTED:
        return LinkState.SYNCED, Colour.GREEN, None
    what = link.record_type.words
    if view.condition == "deleted":
        return link.state, Colour(link.colour), (f"The {what} was deleted in {erp}. File an unlink request to "
                                                 "export it again.")
    if view.condition == "unreadable":
        return link.state, Colour(link.colour), (f"{erp} holds a row for this {what} that cannot be read "
                                                 f"({view.problem}). Correct it in {erp}; the next hourly sync "
                                                 "reads it again.")
    if view.condition == "reversed":
        return link.state, Colour(link.colour), (f"The {what} was reversed in {erp}. File an unlink request to "
                                                 "export it again.")
    if link.erp_condition == "unreadable":  # readable again: its message no longer applies
        return link.state, Colour(link.colour), None
    return link.state, Colour(link.colour), link.message
