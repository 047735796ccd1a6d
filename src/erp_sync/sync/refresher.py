"""Refresh: what the ERP now says about every linked record (still there, deleted, reversed, paid,
part paid, rejected), stored with the time it was seen. The unlink queue and the payment import
decide from this."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from erp_sync.erps.base import ErpAdapter
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
    store.set_watermark(integration_id, bookmark, started.isoformat())


def outcome(link: Link, view: ErpView, erp: str) -> tuple[str, Colour, str | None]:
    """The link's state, colour and message once the ERP's view is known."""
    if view.condition == "rejected":
        return LinkState.REJECTED, Colour.YELLOW, f"Rejected in {erp} ({view.status})."
    if link.state == LinkState.REJECTED:
        return LinkState.SYNCED, Colour.GREEN, None
    noun = link.record_type.noun
    if view.condition == "deleted":
        return link.state, Colour(link.colour), (f"The {noun} was deleted in {erp}. File an unlink request to "
                                                 "export it again.")
    if view.condition == "unreadable":
        return link.state, Colour(link.colour), (f"{erp} holds a row for this {noun} that cannot be read "
                                                 f"({view.problem}). Correct it in {erp}; the next hourly sync "
                                                 "reads it again.")
    if view.condition == "reversed":
        return link.state, Colour(link.colour), (f"The {noun} was reversed in {erp}. File an unlink request to "
                                                 "export it again.")
    if link.erp_condition == "unreadable":  # readable again: its message no longer applies
        return link.state, Colour(link.colour), None
    return link.state, Colour(link.colour), link.message
