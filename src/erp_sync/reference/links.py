"""Links between Procore's reference data and the ERP's: one ERP item per Procore item and back (within the
Procore item's scope, ``ProcoreRef.scope``: the same ERP cost code serves each project's and each sub job's own
cost code of that code; ``reference_links.procore_project_id`` holds that scope), with history: a link is ended with who and why, never deleted, and every
change is written in ``audit_log`` in the same transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from erp_sync.reference.check import describe
from erp_sync.reference.model import ErpItem, ProcoreRef, ReferenceKind
from erp_sync.store import Store, Transaction, audit, utcnow

AUDIT_ENTITY = "reference_link"
LINKED_BY_HAND = "linked by hand"
MATCHED_BY_CODE = "matched by code"
UNLINKED_BY_HAND = "unlinked by hand"


class ReferenceRefused(ValueError):
    """A link that cannot be made as asked; the message is the sentence to show."""


@dataclass(frozen=True)
class ConfirmedLinks:
    """The integration's open links as they were when loaded (``ReferenceLinks``)."""

    items: Mapping[tuple[ReferenceKind, str], ErpItem]
    # how the reading named every project and every item without a link (``named``)
    names: Mapping[tuple[ReferenceKind, str], ProcoreRef] = field(default_factory=dict)
    default_tasks: Mapping[str, ErpItem] = field(default_factory=dict)  # ERP job -> its task marked Default

    def erp_item(self, ref: ProcoreRef) -> ErpItem | None:
        return self.items.get((ref.kind, ref.procore_id))

    def default_task(self, project: ErpItem | None) -> ErpItem | None:
        return self.default_tasks.get(project.erp_id) if project else None

    def seen(self, ref: ProcoreRef) -> bool:
        return (ref.kind, ref.procore_id) in self.items or (ref.kind, ref.procore_id) in self.names

    def named(self, ref: ProcoreRef) -> ProcoreRef:
        known = self.names.get((ref.kind, ref.procore_id))
        return replace(ref, code=known.code or ref.code, name=known.name or ref.name) if known else ref


def integration_id(integration: Mapping[str, Any] | int) -> int:
    """An integration row of the store (``store.integrations()``) or its id."""
    return integration if isinstance(integration, int) else integration["id"]


def confirmed_links(store: Store, integration: Mapping[str, Any] | int) -> ConfirmedLinks:
    """Every open link of the integration, and how the reading names what a sentence can name."""
    rows = store.rows("confirmed_reference_links", integration_id=integration_id(integration))
    named = store.rows("procore_reference_names", integration_id=integration_id(integration))
    tasks = [erp_item(row) for row in store.rows("erp_tasks_with_detail", integration_id=integration_id(integration))]
    return ConfirmedLinks({(ReferenceKind(row["kind"]), row["procore_id"]): erp_item(row) for row in rows},
                          {(ReferenceKind(row["kind"]), row["procore_id"]): ProcoreRef(
                              ReferenceKind(row["kind"]), row["procore_id"], row["code"], row["name"],
                              row["project_id"]) for row in named},
                          {task.project: task for task in tasks if task.default and task.project})


def link(store: Store, integration: Mapping[str, Any] | int, ref: ProcoreRef, item: ErpItem, *, by: str,
         reason: str = LINKED_BY_HAND) -> bool:
    """Link ``ref`` to ``item``; True if a link started. Linking again to the same item changes nothing; a
    link to another item is ended first. ``ReferenceRefused`` if the kinds differ or the ERP item is linked
    to another Procore item."""
    with store.transaction() as tx:
        return link_in(tx, integration_id(integration), ref, item, by=by, reason=reason)


def link_in(tx: Transaction, integration: int, ref: ProcoreRef, item: ErpItem, *, by: str, reason: str) -> bool:
    if ref.kind != item.kind:
        raise ReferenceRefused(f"{describe(ref)} can only be linked to an ERP {ref.kind.label}, not to a "
                               f"{item.kind.label}.")
    now = utcnow()
    tx.execute("know_procore_reference_item", integration_id=integration, kind=ref.kind.value,
               procore_id=ref.procore_id, project_id=ref.project_id, code=ref.code, name=ref.name, active=True,
               detail_json=json.dumps({"sub_job_id": ref.sub_job_id}) if ref.sub_job_id else None, seen_at=now)
    tx.execute("know_erp_reference_item", integration_id=integration, kind=item.kind.value, erp_id=item.erp_id,
               erp_project=item.project, code=item.code, name=item.name, active=item.active, posts_to=item.posts_to,
               detail_json=erp_detail_json(item), seen_at=now)
    current = tx.one("open_reference_link", integration_id=integration, kind=ref.kind.value,
                     procore_id=ref.procore_id)
    if current is not None and current["erp_id"] == item.erp_id:
        return False
    holder = tx.one("open_reference_link_of_erp_item", integration_id=integration, kind=ref.kind.value,
                    procore_project_id=ref.scope, erp_id=item.erp_id)
    if holder is not None:
        other = ProcoreRef(ref.kind, holder["procore_id"], holder["procore_code"] or "",
                           holder["procore_name"] or holder["procore_id"])
        raise ReferenceRefused(f'ERP {item.kind.label} {item.code} "{item.name}" is already linked to Procore '
                               f"{describe(other)}; unlink that first.")
    if current is not None:
        _end(tx, integration, current, by=by, reason=f"relinked to {item.erp_id}")
    tx.execute("start_reference_link", integration_id=integration, kind=ref.kind.value, procore_id=ref.procore_id,
               procore_project_id=ref.scope, erp_id=item.erp_id, reason=reason, started_at=now,
               started_by=by)
    audit(tx, AUDIT_ENTITY, f"{ref.kind.value}:{ref.procore_id}", "linked", actor=by, integration_id=integration,
          old_state=current["erp_id"] if current else None, new_state=item.erp_id,
          detail={"reason": reason, "procore_code": ref.code, "procore_name": ref.name, "erp_code": item.code,
                  "erp_name": item.name})
    if ref.kind is ReferenceKind.PROJECT:
        sub_jobs_follow(tx, integration, ref, item, by=by)
    return True


def unlink(store: Store, integration: Mapping[str, Any] | int, kind: ReferenceKind, procore_id: str, *, by: str,
           reason: str = UNLINKED_BY_HAND) -> bool:
    """End the open link of a Procore item; True if there was one."""
    with store.transaction() as tx:
        current = tx.one("open_reference_link", integration_id=integration_id(integration), kind=kind.value,
                         procore_id=procore_id)
        if current is None:
            return False
        end_in(tx, integration_id(integration), current, by=by, reason=reason)
        return True


def end_in(tx: Transaction, integration: int, current: Mapping[str, Any], *, by: str, reason: str) -> None:
    """End an open link (a project's takes its sub jobs' links with it)."""
    if _end(tx, integration, current, by=by, reason=reason) and current["kind"] == ReferenceKind.PROJECT.value:
        project = tx.one("procore_reference_item", integration_id=integration, kind=ReferenceKind.PROJECT.value,
                         procore_id=current["procore_id"])
        sub_jobs_follow(tx, integration, procore_ref(project) if project else ProcoreRef(
            ReferenceKind.PROJECT, current["procore_id"], "", f"#{current['procore_id']}"), None, by=by,
            left=current["erp_id"])


def sub_jobs_follow(tx: Transaction, integration: int, project: ProcoreRef, job: ErpItem | None, *, by: str,
                    left: str = "") -> None:
    """A project linked to an ERP job (``job``), or unlinked from the job ``left``: each open link of its sub jobs
    to a task, extra or phase of another job ends, saying why, as done by the same person. Every project link that
    starts or ends comes here (``link_in``, ``end_in``), so no sub job keeps posting to a job its project left;
    exact codes within the new job then link by themselves (``reading.link_exact_codes``), the rest are suggested."""
    owner = " ".join(filter(None, (project.code, project.name)))
    reason = (f"project {owner} was linked to job {job.code}; its sub jobs are matched again within that job" if job
              else f"project {owner} was unlinked from job {left}; its sub jobs are matched again within the job it "
                   "is linked to next")
    for row in tx.rows("open_sub_job_links_of_project", integration_id=integration,
                       procore_project_id=int(project.procore_id)):
        if job is None or row["erp_project"] != job.erp_id:
            _end(tx, integration, row, by=by, reason=reason, with_project=True)


def _end(tx: Transaction, integration: int, current: Mapping[str, Any], *, by: str, reason: str,
         with_project: bool = False) -> bool:
    """End the link if it is still open (audited); ``with_project``: because its project moved."""
    ended = tx.execute("end_reference_link", id=current["id"], ended_at=utcnow(), ended_by=by, ended_reason=reason,
                       ended_with_project=with_project).rowcount
    if ended:
        audit(tx, AUDIT_ENTITY, f"{current['kind']}:{current['procore_id']}", "unlinked", actor=by,
              integration_id=integration, old_state=current["erp_id"], detail={"reason": reason})
    return bool(ended)


def history(store: Store, integration: Mapping[str, Any] | int, kind: ReferenceKind, procore_id: str) -> list[dict]:
    """Every link the Procore item has had, oldest first."""
    return store.rows("reference_link_history", integration_id=integration_id(integration), kind=kind.value,
                      procore_id=procore_id)


def procore_ref(row: Mapping[str, Any]) -> ProcoreRef:
    """A stored Procore item (``detail_json`` holds the sub job a cost code belongs to)."""
    detail = json.loads(row.get("detail_json") or "{}")
    return ProcoreRef(ReferenceKind(row["kind"]), row["procore_id"], row["code"], row["name"], row["project_id"],
                      detail.get("sub_job_id"))


def erp_item(row: Mapping[str, Any]) -> ErpItem:
    """A stored ERP item (``detail_json``, where read, says whether a task is its project's Default)."""
    detail = json.loads(row.get("detail_json") or "{}")
    return ErpItem(ReferenceKind(row["kind"]), row["erp_id"], row["code"], row["name"], bool(row["active"]),
                   row["posts_to"], row.get("erp_project"), bool(detail.get("default")))


def erp_detail_json(item: ErpItem) -> str | None:
    """What an ERP item's columns do not hold: whether a task is the one its project marks Default."""
    return json.dumps({"default": True}) if item.default else None
