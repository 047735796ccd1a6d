"""The Reference data tab (and ``python -m erp_sync reference list``): each Procore item of a kind with its
link or suggestion and the reason, and how many waiting records it blocks; and what a person does there:
link to a chosen ERP item, confirm a suggestion, confirm all shown, unlink."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from erp_sync.reference.check import describe
from erp_sync.reference.links import LINKED_BY_HAND, ReferenceRefused, erp_item, integration_id, link_in, procore_ref
from erp_sync.reference.model import ErpItem, ProcoreRef, ReferenceKind
from erp_sync.reference.reading import link_exact_codes, suggestions
from erp_sync.reference.suggest import Suggestion, search
from erp_sync.store import Store

CONFIRMED = "suggestion confirmed"


@dataclass(frozen=True)
class TabRow:
    ref: ProcoreRef
    active: bool
    linked: ErpItem | None
    link_reason: str | None
    linked_by: str | None
    suggestion: Suggestion | None
    last_ended_reason: str | None  # why its last link ended (drift, an unlink)
    blocks: int                    # waiting records whose sentence names it

    def as_json(self) -> dict[str, Any]:
        found = self.suggestion
        return {"kind": self.ref.kind.value, "procore_id": self.ref.procore_id, "code": self.ref.code,
                "name": self.ref.name, "project_id": self.ref.project_id, "active": self.active,
                "linked": asdict(self.linked) if self.linked else None, "link_reason": self.link_reason,
                "linked_by": self.linked_by, "blocks": self.blocks, "last_ended_reason": self.last_ended_reason,
                "suggestion": None if found is None else {
                    "erp_id": found.item.erp_id if found.item else None, "reason": found.reason,
                    "candidates": [item.erp_id for item in found.candidates]}}


def tab_rows(store: Store, integration: Mapping[str, Any] | int, kind: ReferenceKind) -> list[TabRow]:
    integration = integration_id(integration)
    with store.transaction() as tx:
        rows = tx.rows("reference_tab_rows", integration_id=integration, kind=kind.value)
        found = {s.ref.procore_id: s for s in suggestions(tx, integration, {kind})}
        messages = [row["message"] or "" for row in tx.rows("reference_waiting_messages", integration_id=integration)]
    result = []
    for row in rows:
        ref = procore_ref(row)
        linked = None if row["erp_id"] is None else ErpItem(kind, row["erp_id"], row["erp_code"] or row["erp_id"],
                                                            row["erp_name"] or "", bool(row["erp_active"]),
                                                            row["posts_to"], row["erp_project"])
        phrase = describe(ref)
        result.append(TabRow(ref, bool(row["active"]), linked, row["link_reason"], row["started_by"],
                             None if linked else found.get(ref.procore_id), row["last_ended_reason"],
                             sum(phrase in message for message in messages)))
    return result


def owners(store: Store, integration: Mapping[str, Any] | int, rows: list[TabRow]) -> dict[str, str]:
    """What each row of a per-project kind belongs to, as a person reads it ("project 2401 Harbor Point Tower",
    "sub job 01 Podium"): a company's cost code is listed once per project and per sub job that has it."""
    if not any(row.ref.project_id for row in rows):
        return {}
    integration = integration_id(integration)
    with store.transaction() as tx:
        named = {(kind, ref.procore_id): " ".join(filter(None, (kind.label, ref.code, ref.name)))
                 for kind in (ReferenceKind.PROJECT, ReferenceKind.SUB_JOB)
                 for ref in map(procore_ref, tx.rows("reference_tab_rows", integration_id=integration, kind=kind.value))}

    def owner(ref: ProcoreRef) -> str:
        kind, owner_id = (ReferenceKind.SUB_JOB, ref.sub_job_id) if ref.sub_job_id else (ReferenceKind.PROJECT,
                                                                                         ref.project_id)
        return named.get((kind, str(owner_id)), f"{kind.label} #{owner_id}")

    return {row.ref.procore_id: owner(row.ref) for row in rows if row.ref.project_id}


def erp_choices(store: Store, integration: Mapping[str, Any] | int, kind: ReferenceKind, text: str = "",
                limit: int = 20) -> list[ErpItem]:
    """The ERP items of a kind for the Link search, best match first."""
    items = [erp_item(row) for row in store.rows("erp_reference_items_of", integration_id=integration_id(integration))
             if row["kind"] == kind.value]
    return search(text, items, limit)


def link_chosen(store: Store, integration: Mapping[str, Any] | int, kind: ReferenceKind, procore_id: str,
                erp_id: str, *, by: str) -> bool:
    """Link a Procore item to the ERP item a person chose; ``ReferenceRefused`` names what is wrong."""
    with store.transaction() as tx:
        ref, item = _known(tx, integration_id(integration), kind, procore_id, erp_id)
        started = link_in(tx, integration_id(integration), ref, item, by=by, reason=LINKED_BY_HAND)
        if started and kind is ReferenceKind.PROJECT:
            _match_sub_jobs(tx, integration_id(integration), by)
        return started


def confirm(store: Store, integration: Mapping[str, Any] | int, kind: ReferenceKind, procore_id: str, *,
            by: str) -> bool:
    """Link a Procore item to its suggestion as it stands now."""
    return confirm_all(store, integration, kind, by=by, procore_ids={procore_id}) == 1


def confirm_all(store: Store, integration: Mapping[str, Any] | int, kind: ReferenceKind, *, by: str,
                procore_ids: set[str] | None = None) -> int:
    """Link every item of a kind (or those named) that has a single suggestion; returns how many were linked."""
    integration = integration_id(integration)
    linked = 0
    with store.transaction() as tx:
        for found in suggestions(tx, integration, {kind}):
            if found.item is not None and (
                    procore_ids is None or found.ref.procore_id in procore_ids):
                linked += link_in(tx, integration, found.ref, found.item, by=by, reason=f"{CONFIRMED}: {found.reason}")
        if linked and kind is ReferenceKind.PROJECT:
            _match_sub_jobs(tx, integration, by)
    if procore_ids is not None and not linked:
        raise ReferenceRefused(f"There is no suggestion to confirm for that {kind.label} any more; choose the ERP "
                               f"{kind.label} with Link.")
    return linked


def _match_sub_jobs(tx, integration: int, by: str) -> None:
    """Projects just linked (their sub jobs' links to other jobs ended with them, ``links.sub_jobs_follow``): the
    exact codes among their jobs' tasks, extras or phases link by themselves now, not at the next reading."""
    link_exact_codes(tx, integration, by, Counter(), {ReferenceKind.SUB_JOB})


def _known(tx, integration: int, kind: ReferenceKind, procore_id: str, erp_id: str) -> tuple[ProcoreRef, ErpItem]:
    procore = tx.one("procore_reference_item", integration_id=integration, kind=kind.value, procore_id=procore_id)
    if procore is None:
        raise ReferenceRefused(f"There is no Procore {kind.label} with id {procore_id} in the reference data read so "
                               "far; refresh the reference data first.")
    erp = tx.one("erp_reference_item", integration_id=integration, kind=kind.value, erp_id=erp_id)
    if erp is None:
        raise ReferenceRefused(f"The ERP has no {kind.label} {erp_id} in the reference data read so far; choose one "
                               "from the list, or refresh the reference data first.")
    if not erp["active"]:
        raise ReferenceRefused(f'ERP {kind.label} {erp["code"]} "{erp["name"]}" is inactive in the ERP; choose an '
                               "active one.")
    ref, item = procore_ref(procore), erp_item(erp)
    if kind is ReferenceKind.SUB_JOB:
        _of_the_projects_job(tx, integration, ref, item)
    return ref, item


def _of_the_projects_job(tx, integration: int, ref: ProcoreRef, item: ErpItem) -> None:
    """A sub job links to a task, extra or phase of the ERP job its project is linked to."""
    project = tx.one("open_reference_link", integration_id=integration, kind=ReferenceKind.PROJECT.value,
                     procore_id=str(ref.project_id))
    if project is None:
        raise ReferenceRefused(f"Link the project of {describe(ref)} first: its sub jobs are the tasks, extras or "
                               "phases of the ERP job the project is linked to.")
    if project["erp_id"] != item.project:
        raise ReferenceRefused(f'ERP sub job {item.code} "{item.name}" is of ERP job {item.project}, but the project '
                               f"of {describe(ref)} is linked to ERP job {project['erp_id']}; choose a sub job of "
                               f"job {project['erp_id']}.")
