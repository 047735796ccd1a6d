"""The line map: for each exported record, which ERP line each Procore line became.

An update changes the ERP line the map names and adds only lines the map does not hold; a CCO line
names the subcontract line it changes, and an invoice line the subcontract line it bills, from the map
of the commitment. The map of a record is written whole in one transaction, after the ERP answered
and before the link records the export, so a retry rewrites it unchanged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from erp_sync.documents.model import DocumentLine
from erp_sync.documents.procore import LINE_NOT_ON_COMMITMENT
from erp_sync.store import Store, utcnow


@dataclass(frozen=True)
class MappedLine:
    line: DocumentLine
    erp_line: str | None  # None while the ERP has yet to import it (Sage), or the record waits for acceptance
    recorded_at: datetime | None = field(default=None, compare=False)  # when the line was read and kept


def kept_whole(reason_code: str | None, in_erp: bool) -> bool:
    """The lines kept for a record are all its lines: not so while it waits because some of them change or bill no
    commitment line ERP Sync knows (the others are kept for the page)."""
    return in_erp or reason_code != LINE_NOT_ON_COMMITMENT


class LineMap:
    def __init__(self, store: Store):
        self.store = store

    def of_links(self, link_ids: Iterable[int]) -> dict[int, list[MappedLine]]:
        ids = sorted(set(link_ids))
        if not ids:
            return {}
        mapped: dict[int, list[MappedLine]] = defaultdict(list)
        for row in self.store.rows("document_lines_of_links", link_ids=ids):
            mapped[row["link_id"]].append(MappedLine(DocumentLine.from_json(row["line_json"]), row["erp_line"],
                                                      row["updated_at"]))
        return dict(mapped)

    def of_link(self, link_id: int) -> list[MappedLine]:
        return self.of_links([link_id]).get(link_id, [])

    def record(self, link_id: int, lines: Iterable[MappedLine]) -> None:
        now = utcnow()
        with self.store.transaction() as tx:
            tx.execute("delete_document_lines_of_link", link_id=link_id)
            tx.execute_many("insert_document_line", [
                {"link_id": link_id, "procore_line_id": mapped.line.procore_id, "position": mapped.line.position,
                 "erp_line": mapped.erp_line, "line_json": mapped.line.as_json(),
                 "fingerprint": mapped.line.fingerprint(), "now": now} for mapped in lines])
