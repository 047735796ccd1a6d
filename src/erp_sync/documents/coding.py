"""A document's lines with the ERP items their Procore coding is linked to, through the integration's
confirmed links; a line whose project, sub job, cost code or cost type is not linked stops the record
with a sentence naming the line and the item (unmapped codes are exceptions, never guesses)."""

from __future__ import annotations

from erp_sync.documents.model import CodedDocument, CodedLine, Document, DocumentLine
from erp_sync.documents.procore import LineProblem
from erp_sync.reference.model import ErpItem, ProcoreRef, ReferenceKind, ReferenceLinks

NOUNS = {ReferenceKind.PROJECT: "project", ReferenceKind.SUB_JOB: "sub job", ReferenceKind.COST_CODE: "cost code",
         ReferenceKind.COST_TYPE: "cost type", ReferenceKind.VENDOR: "vendor"}
LINE_KINDS = (ReferenceKind.PROJECT, ReferenceKind.COST_CODE, ReferenceKind.COST_TYPE)


def coded(document: Document, links: ReferenceLinks, erp_name: str,
          required: frozenset[ReferenceKind] = frozenset(LINE_KINDS)) -> CodedDocument:
    """``required`` are the kinds the ERP needs on every line; the others are used where they are linked."""
    return CodedDocument(document, tuple(_coded_line(document, line, links, erp_name, required)
                                         for line in document.lines))


def _coded_line(document: Document, line: DocumentLine, links: ReferenceLinks, erp_name: str,
                required: frozenset[ReferenceKind]) -> CodedLine:
    def item(ref: ProcoreRef | None) -> ErpItem | None:
        if ref is None:
            return None
        found = links.erp_item(ref)
        if found is None and (ref.kind in required or ref.kind is ReferenceKind.SUB_JOB):
            noun = document.record.record_type.noun
            raise LineProblem("reference_unlinked", (
                f"{line.label()[0].upper()}{line.label()[1:]} of the {noun}: the {NOUNS[ref.kind]} {ref.code} {ref.name} is not "
                f"linked to {erp_name}. Link it under Reference data; the next hourly sync exports the {noun}."))
        return found
    coding = line.coding
    return CodedLine(line, project=item(coding.project), cost_code=item(coding.cost_code),
                     cost_type=item(coding.cost_type), task=item(coding.sub_job))
