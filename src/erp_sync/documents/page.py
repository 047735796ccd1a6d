"""What the page shows of one record's lines: each line as it was exported (or read, when the export stopped
on it), with its coding, amounts and retainage, and the ERP line it became."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from erp_sync.documents.line_map import LineMap, MappedLine
from erp_sync.models import RecordType
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
                       link["erp_ref"], LineMap(store).of_link(link["id"]))
