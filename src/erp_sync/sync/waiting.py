"""What a record waiting for accounting acceptance is checked against, and the sentences that say why its lines
are not checked yet or what they wait for. The exporter reads and codes the lines; this decides which kept lines
still stand and words the waits."""

from __future__ import annotations

from erp_sync.documents.line_map import LineMap, MappedLine
from erp_sync.documents.procore import LINE_NOT_ON_COMMITMENT, LineProblem
from erp_sync.models import Colour, RecordType
from erp_sync.reference.check import REASON_CODE as REFERENCE_UNLINKED
from erp_sync.sync.links import WAITING_FOR_ACCEPTANCE, Link
from erp_sync.sync.records import ProcoreRecord


def kept_lines(line_map: LineMap, record: ProcoreRecord, link: Link | None) -> list[MappedLine] | None:
    """The lines kept when this version of the waiting record was checked; None if it was not (a record
    none of whose lines changes a known commitment line keeps none)."""
    if link is None or link.procore_updated_at != record.updated_at:
        return None
    kept = line_map.of_link(link.id)
    return kept if kept or link.reason_code == LINE_NOT_ON_COMMITMENT else None


def read_again_since(link: Link, kept: list[MappedLine], known: dict[int, list[MappedLine]]) -> bool:
    """The commitment lines (or change order lines) the record was coded through were read again after it."""
    checked_at = max((mapped.recorded_at for mapped in kept), default=link.updated_at)
    newest = max(mapped.recorded_at for lines in known.values() for mapped in lines)
    return checked_at is None or newest > checked_at


def commitment_lines_unknown(record: ProcoreRecord, parent: Link | None) -> str:
    """A waiting CCO or invoice whose commitment's lines ERP Sync has not read: why not, and when they will be."""
    commitment = (f"commitment {parent.procore_number}" if parent
                  else f"its commitment (Procore id {record.parent_id})")
    if parent is None:
        why = "the commitment is not approved in Procore yet (or not read yet)"
    elif parent.colour == Colour.RED:
        why = "the commitment cannot be exported yet (see its own sentence)"
    elif parent.reason_code == REFERENCE_UNLINKED:
        why = "the commitment waits for a link under Ready to Export"
    else:
        why = "they are read when the commitment is next exported or changed in Procore"
    verb = "change" if record.record_type is RecordType.COMMITMENT_CHANGE_ORDER else "bill"
    return (f"{WAITING_FOR_ACCEPTANCE}; its lines are checked once ERP Sync has read those of {commitment}, "
            f"which they {verb}: {why}.")


def not_on_commitment(record: ProcoreRecord, parent: Link, problem: LineProblem) -> str:
    """A waiting CCO or invoice some of whose lines change or bill no line ERP Sync knows of its commitment."""
    one = len(problem.lines) == 1
    named = f"{' and '.join(problem.lines)} of the {record.record_type.words}"
    if record.record_type is RecordType.COMMITMENT_CHANGE_ORDER:
        return (f"{WAITING_FOR_ACCEPTANCE}, but {named} {'changes' if one else 'change'} no line of commitment "
                f"{parent.procore_number}: add {'it' if one else 'them'} to the commitment's schedule of values "
                "in Procore, or name the commitment line changed; ERP Sync checks it again then.")
    return (f"{WAITING_FOR_ACCEPTANCE}, but {named} {'bills' if one else 'bill'} no line of commitment "
            f"{parent.procore_number} or of a change order of it that ERP Sync has read: the invoice is checked "
            "again once that change order is approved in Procore and read.")
