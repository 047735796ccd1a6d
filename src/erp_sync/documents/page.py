"""What the page shows of one record's lines: each line as it was exported (or read, when the export stopped
on it), with its coding, amounts and retainage, and the ERP line it became."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from erp_sync.documents.line_map import LineMap, MappedLine
from erp_sync.documents.procore import COMMITMENT_LINES_UNKNOWN, LINE_NOT_ON_COMMITMENT
from erp_sync.models import ErpKind, RecordType
from erp_sync.reference.check import REASON_CODE as REFERENCE_UNLINKED
from erp_sync.store import Store


@dataclass(frozen=True)
class RecordLines:
    record_type: RecordType
    procore_id: int
    number: str | None
    colour: str
    message: str | None    # a RED names the line it is about
    erp_ref: str | None
    lines: list[MappedLine]
    reason_code: str | None = None

    @property
    def why_no_lines(self) -> str:
        """Why the page has no lines to show, in the words of the sentence above it."""
        words = self.record_type.words
        if self.reason_code == COMMITMENT_LINES_UNKNOWN:
            return (f"ERP Sync checks the {words}'s lines against the lines of its commitment, which it has not read "
                    "yet (the sentence above says why): they are shown here once it has.")
        if self.reason_code == LINE_NOT_ON_COMMITMENT:
            return (f"None of the {words}'s lines {self.verb}s a line of its commitment that ERP Sync has read "
                    "(the sentence above names them): they are shown here once they do.")
        if self.reason_code == REFERENCE_UNLINKED:
            return f"ERP Sync reads the {words}'s lines once what the sentence above names is linked."
        return ("ERP Sync reads a record's lines from Procore when it exports the record, and has not exported this "
                "one yet: its lines are in Procore until then.")

    @property
    def left_out(self) -> str | None:
        """What the table leaves out: lines that change or bill no commitment line known yet."""
        if self.reason_code != LINE_NOT_ON_COMMITMENT:
            return None
        return (f"The lines named above are not shown: they {self.verb} no line of the commitment that ERP Sync "
                "has read.")

    @property
    def verb(self) -> str:
        """What its lines do to the commitment's lines."""
        return "change" if self.record_type is RecordType.COMMITMENT_CHANGE_ORDER else "bill"

    @property
    def total(self) -> Decimal:
        return sum((entry.line.amount for entry in self.lines), Decimal(0))

    @property
    def retainage(self) -> Decimal:
        return sum((entry.line.net_retainage for entry in self.lines), Decimal(0))

    @property
    def invoice(self) -> bool:
        return self.record_type is RecordType.SUBCONTRACTOR_INVOICE


def record_lines(store: Store, integration_id: int, record_type: RecordType, procore_id: int) -> RecordLines | None:
    link = store.one("active_link_of_record", integration_id=integration_id, record_type=record_type.value,
                     procore_id=procore_id)
    if link is None:
        return None
    return RecordLines(record_type, procore_id, link["procore_number"], link["colour"], link["message"],
                       link["erp_ref"], LineMap(store).of_link(link["id"]), link["reason_code"])


def lines_url(base_url: str, integration: str, record_type: RecordType, procore_id: int) -> str:
    """Where the page shows a record's lines."""
    return f"{base_url}/erp-sync/integrations/{integration}/{record_type.value}/{procore_id}/lines"


def exported_with_lines(store: Store, integration: dict, base_url: str) -> str:
    """One line saying what an integration exported line by line, read from the store: how many multi-line
    commitments, CCOs changing a commitment line and invoices holding retainage are in the ERP, and one
    multi-line document (an invoice holding retainage where there is one) with each line's coding, amount and
    retainage, and the page's URL of its lines."""
    links = {row["id"]: row for row in store.rows("active_links", integration_id=integration["id"])
             if row["erp_ref"] and row["colour"] == "GREEN"}
    mapped = LineMap(store).of_links(links)
    of_type = {kind: [(links[link_id], lines) for link_id, lines in mapped.items()
                      if links[link_id]["record_type"] == kind.value] for kind in RecordType}
    commitments = [entry for entry in of_type[RecordType.COMMITMENT] if len(entry[1]) > 1]
    changes = [entry for entry in of_type[RecordType.COMMITMENT_CHANGE_ORDER]
               if any(m.line.changes_line for m in entry[1])]
    held = [entry for entry in of_type[RecordType.SUBCONTRACTOR_INVOICE]
            if len(entry[1]) > 1 and any(m.line.retainage_held for m in entry[1])]
    counts = (f"{len(commitments)} multi-line commitment(s), {len(changes)} CCO(s) changing commitment lines, "
              f"{len(held)} invoice(s) holding retainage")
    shown = (held or commitments or [None])[0]
    if shown is None:
        return f"{integration['name']}: nothing exported with lines yet ({counts})"
    link, lines = shown
    record_type = RecordType(link["record_type"])
    coding = "; ".join(f"cost code {m.line.coding.cost_code.code}, cost type {m.line.coding.cost_type.code}, "
                       f"{m.line.amount:,.2f}, retainage {m.line.net_retainage:,.2f}" for m in lines)
    erp = ErpKind(integration["erp_kind"]).display_name
    return (f"{integration['name']}: {record_type.words} {link['procore_number']} is {erp} {link['erp_ref']}, "
            f"{len(lines)} lines ({coding}); {counts}. Lines: "
            f"{lines_url(base_url, integration['name'], record_type, link['procore_id'])}")
