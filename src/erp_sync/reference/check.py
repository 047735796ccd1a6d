"""The export check: a record goes to the ERP only when everything it names of the reference data is linked.

The sentence names every missing link by its Procore name and code and where to link it, for example:
``Not exported yet: link vendor "Star Framing, LLC" and cost code 03-300 "Concrete Forming" of project
2024-017 Harbor Tower on the Reference data tab; the next sync exports it.``
"""

from __future__ import annotations

from collections.abc import Iterable

from erp_sync.reference.model import ProcoreRef, ReferenceKind, ReferenceLinks

# Company-wide items first, then the project and what belongs to it, so "of project ..." reads last.
ORDER = (ReferenceKind.VENDOR, ReferenceKind.COST_TYPE, ReferenceKind.PROJECT, ReferenceKind.SUB_JOB,
         ReferenceKind.COST_CODE)
REASON_CODE = "reference_unlinked"
# What follows once the links exist: a record accounting has yet to accept goes to Ready to Export, not to the ERP.
EXPORTED_NEXT = "the next sync exports it"
READY_NEXT = "the next sync puts it on Ready to Export"


def check(refs: Iterable[ProcoreRef], links: ReferenceLinks,
          then: str = EXPORTED_NEXT) -> tuple[list[ProcoreRef], str | None]:
    """The refs without a link (each once, in the sentence's order) and the sentence; ``([], None)`` when the
    record can go. The record's project ref, when given, names the project its sub jobs and cost codes are of."""
    unique = list(dict.fromkeys(refs))
    projects = {ref.procore_id: links.named(ref) for ref in unique if ref.kind is ReferenceKind.PROJECT}
    missing = sorted((ref for ref in unique if links.erp_item(ref) is None), key=lambda ref: ORDER.index(ref.kind))
    if not missing:
        return [], None
    phrases = _phrases([links.named(ref) for ref in missing], projects)
    return missing, f"Not exported yet: link {_listed(phrases)} on the Reference data tab; {then}."


def describe(ref: ProcoreRef) -> str:
    """How a person recognises the item: ``vendor "Star Framing, LLC"``, ``cost code 03-300 "Concrete Forming"``."""
    if ref.kind is ReferenceKind.VENDOR or not ref.code:
        return f'{ref.kind.label} "{ref.name}"'
    return f'{ref.kind.label} {ref.code} "{ref.name}"'


def _phrases(missing: list[ProcoreRef], projects: dict[str, ProcoreRef]) -> list[str]:
    phrases = [describe(ref) for ref in missing]
    last_of_project = max((index for index, ref in enumerate(missing) if ref.project_id is not None), default=None)
    if last_of_project is not None:
        project = projects.get(str(missing[last_of_project].project_id))
        owner = f"{project.code} {project.name}".strip() if project else f"#{missing[last_of_project].project_id}"
        phrases[last_of_project] += f" of project {owner}"
    return phrases


def _listed(phrases: list[str]) -> str:
    return phrases[0] if len(phrases) == 1 else f"{', '.join(phrases[:-1])} and {phrases[-1]}"
