"""A document's lines with the ERP items their Procore coding is linked to, through the integration's
confirmed links. A line whose project, sub job, cost code or cost type is not linked holds the record back,
with the sentence of the export check naming every missing link and the lines waiting for them (unmapped
codes are exceptions, never guesses).

A line Procore puts in no sub job goes to the ERP's default: the task its project marks Default in Acumatica
(``ReferenceLinks.default_task``; else the connection's, ``AcumaticaAdapter.task``), a blank extra (Sage 300
CRE) or phase (Sage 100 Contractor). QuickBooks Online has nothing a sub job maps to (Procore's own QuickBooks
connector supports none), so its lines go without."""

from __future__ import annotations

from erp_sync.documents.model import CodedDocument, CodedLine, Document, DocumentLine
from erp_sync.documents.procore import LineProblem
from erp_sync.reference.check import EXPORTED_NEXT, REASON_CODE, check
from erp_sync.reference.model import ErpItem, ProcoreRef, ReferenceKind, ReferenceLinks

# What a line is coded with; a sub job only where Procore names one
LINE_KINDS = (ReferenceKind.PROJECT, ReferenceKind.SUB_JOB, ReferenceKind.COST_CODE, ReferenceKind.COST_TYPE)


def coded(document: Document, links: ReferenceLinks, erp_name: str,
          required: frozenset[ReferenceKind] = frozenset(LINE_KINDS), then: str = EXPORTED_NEXT) -> CodedDocument:
    """``required`` are the kinds the ERP needs on every line (``SUB_JOB``: the sub job, where Procore names one);
    the others are used where they are linked. ``then`` ends the sentence: what follows once the links exist."""
    needed = {line.procore_id: [ref for ref in line.coding.refs() if ref.kind in required] for line in document.lines}
    waiting = [line for line in document.lines if any(links.erp_item(ref) is None for ref in needed[line.procore_id])]
    if waiting:
        _missing, sentence = check([ref for refs in needed.values() for ref in refs], links, then)
        labels = ", ".join(line.label() for line in waiting)
        raise LineProblem(REASON_CODE, f"{sentence} Waiting: {labels} of the {document.record.record_type.words} "
                                       f"({erp_name} takes every line job-costed).")
    return CodedDocument(document, tuple(_coded_line(line, links) for line in document.lines))


def _coded_line(line: DocumentLine, links: ReferenceLinks) -> CodedLine:
    def item(ref: ProcoreRef | None) -> ErpItem | None:
        return None if ref is None else links.erp_item(ref)
    coding = line.coding
    project = item(coding.project)
    return CodedLine(line, project=project, cost_code=item(coding.cost_code), cost_type=item(coding.cost_type),
                     task=item(coding.sub_job) if coding.sub_job else links.default_task(project))
