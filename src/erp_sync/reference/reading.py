"""Reading both sides' reference data into the store, then what follows from it: drift ends links, exact codes
link by themselves, and every Procore item without a link gets its suggestion (or none) with the reason.

Every run of the sync reads, within its share of Procore's budget (a spent share leaves the store and the
watermarks as they were, and the next run reads it):

- everything, once a ``REFERENCE_EVERY`` (and on ``python -m erp_sync reference refresh``): only a whole list
  shows what a side deleted, so only this reading marks items deleted (and drift ends their links);
- otherwise, what changed since the last reading (less ``CHANGES_OVERLAP``): Procore's projects (the list the
  sync has just read, by their ``updated_at``) and vendors (``filters[updated_at]``); each ERP's lists by their
  change dates. Procore's cost codes, sub jobs and line item types take no change filter, and a project's cost
  codes cost a call: they are read for the projects changed since, and where a waiting record's line names a
  cost code, sub job or line item type the reading has not met. This reading adds and updates items (new,
  renamed, made inactive) and never marks one deleted.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from erp_connectors.base import BudgetSpent
from erp_connectors.procore import ProcoreHook
from erp_sync.budget import Work
from erp_sync.connectors import erp_adapter, procore_hook
from erp_sync.erps.base import ErpAdapter
from erp_sync.reference.links import (
    MATCHED_BY_CODE, end_in, erp_detail_json, erp_item, integration_id, link_in, procore_ref,
)
from erp_sync.reference.model import SUB_JOB_BILLER, ErpItem, ProcoreRef, ReferenceKind
from erp_sync.reference.suggest import Suggestion, suggest
from erp_sync.store import Store, Transaction, utcnow

REFERENCE_EVERY = timedelta(hours=24)  # between readings of everything
# Changes are read again from a little before the last reading: vendors' times have whole seconds, and a change
# made while the last reading read may carry a time before its end.
CHANGES_OVERLAP = timedelta(minutes=5)
WATERMARK = "reference_data"  # when both sides were last read in full
CHANGES_WATERMARK = "reference_changes"  # when both sides were last read, in full or what changed
CHANGED_IN = "filters[updated_at]"  # Procore's range filter, taken by its projects' and vendors' lists
# What a line names that Procore lists per project (read for the line's project) or per company.
PROJECT_KINDS = {ReferenceKind.SUB_JOB.value, ReferenceKind.COST_CODE.value}
LINE_PARTS = ("sub_job", "cost_code", "cost_type")


@dataclass(frozen=True)
class ProcoreItem:
    ref: ProcoreRef
    active: bool = True
    origin: str | None = None  # a project's origin_id, a vendor's origin_code
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reading:
    """One reading up to ``until``: of everything (no ``since``), or of what changed since ``since``, with the
    projects whose cost codes are read although unchanged and whether the line item types are."""

    until: datetime
    since: datetime | None = None
    code_projects: frozenset[int] = frozenset()
    cost_types: bool = False

    @property
    def full(self) -> bool:
        return self.since is None

    def procore_filter(self) -> dict[str, str]:
        """``filters[updated_at]``, for the Procore lists that take it."""
        return {} if self.since is None else {CHANGED_IN: f"{_procore_time(self.since)}...{_procore_time(self.until)}"}

    def changed(self, project: Mapping[str, Any]) -> bool:
        return self.since is None or datetime.fromisoformat(project["updated_at"]) >= self.since


def _procore_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def read_procore(procore: ProcoreHook, reading: Reading, projects: list[dict] | None = None,
                 with_sub_jobs: bool = True) -> dict[ReferenceKind, list[ProcoreItem]]:
    """The company's projects, vendors, line item types (cost types) and each active project's cost codes and
    (for an ERP that has them) sub jobs, as Procore's REST reference names their fields: all of them, or what
    ``reading`` asks for of what changed. The projects are those the caller has just listed, if it has."""
    listed = [p for p in projects if reading.changed(p)] if projects is not None else list(
        procore.paginate("projects", company_id=procore.company_id, **reading.procore_filter()))
    projects = [ProcoreItem(ProcoreRef(ReferenceKind.PROJECT, str(p["id"]), p.get("project_number") or "", p["name"]),
                            active=p.get("active", True), origin=p.get("origin_id"))
                for p in listed]
    vendors = [ProcoreItem(ProcoreRef(ReferenceKind.VENDOR, str(v["id"]), v.get("abbreviated_name") or "", v["name"]),
                           active=v.get("is_active", True), origin=v.get("origin_code"),
                           detail={key: v[key] for key in ("legal_name", "trade_name", "origin_id") if v.get(key)})
               for v in procore.paginate("vendors", company_id=procore.company_id, **reading.procore_filter())]
    types = procore.paginate(f"companies/{procore.company_id}/line_item_types") if (
        reading.full or reading.cost_types) else ()
    cost_types = [ProcoreItem(ProcoreRef(ReferenceKind.COST_TYPE, str(t["id"]), t.get("code") or "", t["name"]),
                              origin=t.get("origin_id"), detail={"base_type": t.get("base_type")}) for t in types]
    active = [int(p["id"]) for p in listed if p.get("active", True)]
    codes = cost_codes(procore, [*active, *sorted(reading.code_projects - set(active))])
    in_sub_jobs = list(dict.fromkeys(item.ref.project_id for item in codes if item.ref.sub_job_id))
    return {ReferenceKind.PROJECT: projects, ReferenceKind.VENDOR: vendors, ReferenceKind.COST_TYPE: cost_types,
            ReferenceKind.COST_CODE: codes,
            ReferenceKind.SUB_JOB: sub_jobs(procore, in_sub_jobs) if with_sub_jobs else []}


def sub_jobs(procore: ProcoreHook, projects: Iterable[int]) -> list[ProcoreItem]:
    """The sub jobs (``GET sub_jobs?project_id=``; ``code`` is unique within the project) of the projects whose
    cost codes name one: a project without a sub job's cost code costs no call, and a sub job without cost codes
    carries no line."""
    return [ProcoreItem(ProcoreRef(ReferenceKind.SUB_JOB, str(job["id"]), job.get("code") or "", job["name"],
                                   project), origin=job.get("origin_id"))
            for project in projects for job in procore.paginate("sub_jobs", project_id=project)]


def cost_codes(procore: ProcoreHook, projects: Iterable[int]) -> list[ProcoreItem]:
    """Each project's cost codes (``GET cost_codes?project_id=``), each once: a company's standard codes may
    come back with the same id from every project, and then belong to the first that lists them (the store
    keeps the project it first recorded). A sub job's own cost code names the sub job as its ``biller``."""
    found: dict[str, ProcoreItem] = {}
    for project in projects:
        for code in procore.paginate("cost_codes", project_id=project):
            sub_job = code.get("biller_id") if code.get("biller_type") == SUB_JOB_BILLER else None
            found.setdefault(str(code["id"]), ProcoreItem(
                ProcoreRef(ReferenceKind.COST_CODE, str(code["id"]), code.get("full_code") or code.get("code") or "",
                           code["name"], project, sub_job), origin=code.get("origin_id")))
    return list(found.values())


def next_reading(store: Store, integration: int, now: datetime) -> Reading:
    """Everything when a ``REFERENCE_EVERY`` has passed since it was last read (or it never was), else what changed
    since the last reading, with what waiting records' lines name that the reading has not met."""
    read_at = store.watermark(integration, WATERMARK)
    if read_at is None or now - datetime.fromisoformat(read_at) >= REFERENCE_EVERY:
        return Reading(now)
    since = datetime.fromisoformat(store.watermark(integration, CHANGES_WATERMARK) or read_at) - CHANGES_OVERLAP
    with store.transaction() as tx:
        unmet = unmet_on_waiting_lines(tx, integration)
    return Reading(now, since, frozenset(project for kind, project in unmet if kind in PROJECT_KINDS),
                   cost_types=any(kind == ReferenceKind.COST_TYPE.value for kind, _project in unmet))


def unmet_on_waiting_lines(tx: Transaction, integration: int) -> set[tuple[str, int]]:
    """(kind, project) of each sub job, cost code and line item type that the kept lines of records waiting for
    a link name and the reading has not met (Procore made it after the last reading of its list)."""
    named: dict[tuple[str, str], int] = {}
    for row in tx.rows("lines_waiting_for_reference_links", integration_id=integration):
        coding = json.loads(row["line_json"])["coding"]
        named |= {(coding[part]["kind"], coding[part]["procore_id"]): row["procore_project_id"]
                  for part in LINE_PARTS if coding.get(part)}
    if not named:
        return set()
    met = {(row["kind"], row["procore_id"]) for row in tx.rows(
        "met_procore_reference_items", integration_id=integration, procore_ids=sorted({id_ for _, id_ in named}))}
    return {(kind, project) for (kind, procore_id), project in named.items() if (kind, procore_id) not in met}


def refresh(store: Store, integration: Mapping[str, Any], by: str, work: Work = Work.ON_DEMAND) -> Counter[str]:
    """Read the integration's reference data in full now, with hooks of its own (a person's command is on-demand
    work)."""
    procore, adapter = procore_hook(dict(integration), store, work), erp_adapter(dict(integration), store)
    try:
        return refresh_reference(store, integration, procore, adapter, by, Reading(utcnow()))
    finally:
        procore.close()
        adapter.hook.close()


def read_when_due(store: Store, integration: Mapping[str, Any], procore: ProcoreHook, adapter: ErpAdapter,
                  counts: Counter[str], by: str, now: datetime, projects: list[dict] | None = None) -> None:
    """The sync's reading at each run: everything once a ``REFERENCE_EVERY``, what changed otherwise, within its
    share of Procore's budget: a spent share leaves the store and the watermarks as they were, and the next run
    reads it."""
    try:
        found = refresh_reference(store, integration, procore, adapter, by,
                                  next_reading(store, integration_id(integration), now), projects)
    except BudgetSpent:
        counts["reference_left_for_later"] += 1
        return
    counts.update({f"reference_{key}": value for key, value in found.items()})


def refresh_reference(store: Store, integration: Mapping[str, Any], procore: ProcoreHook, adapter: ErpAdapter,
                      by: str, reading: Reading, projects: list[dict] | None = None) -> Counter[str]:
    """Read both sides (nothing is written until both are read), then record, end drifted links, link exact
    codes and return what happened."""
    procore_side = read_procore(procore, reading, projects, ReferenceKind.SUB_JOB in adapter.reference_kinds)
    company = procore.company_name() if reading.full else None
    erp_side = {kind: adapter.reference_items(kind, reading.since) for kind in adapter.reference_kinds}
    counts: Counter[str] = Counter({"read_in_full" if reading.full else "read_changes": 1})
    with store.transaction() as tx:
        if company:  # the pages name the company as Procore does
            tx.execute("set_procore_company_name", integration_id=integration_id(integration),
                       procore_company_name=company[:200])
        record(tx, integration_id(integration), procore_side, erp_side, counts, reading)
        end_drifted(tx, integration_id(integration), by, counts)
        link_exact_codes(tx, integration_id(integration), by, counts)
    return counts


def record(tx: Transaction, integration: int, procore_side: Mapping[ReferenceKind, list[ProcoreItem]],
           erp_side: Mapping[ReferenceKind, list[ErpItem]], counts: Counter[str], reading: Reading) -> None:
    """Both sides as read now. A reading of everything marks deleted what a side no longer lists of a kind it
    was read for; a side that lists none of a kind at all marks nothing: an empty list is far likelier a
    permission, or books kept elsewhere, than every item deleted at once, and would stop every export that needs
    one. A reading of what changed only adds and updates."""
    now = utcnow()
    tx.execute_many("note_procore_reference_item", [
        {"integration_id": integration, "kind": item.ref.kind.value, "procore_id": item.ref.procore_id,
         "project_id": item.ref.project_id, "code": item.ref.code, "name": item.ref.name, "active": item.active,
         "detail_json": json.dumps({"origin": item.origin, **_scope(item.ref), **item.detail}), "seen_at": now}
        for items in procore_side.values() for item in items])
    tx.execute_many("note_erp_reference_item", [
        {"integration_id": integration, "kind": item.kind.value, "erp_id": item.erp_id, "erp_project": item.project,
         "code": item.code, "name": item.name, "active": item.active, "posts_to": item.posts_to,
         "detail_json": erp_detail_json(item), "seen_at": now}
        for items in erp_side.values() for item in items])
    counts["procore_items"] += sum(len(items) for items in procore_side.values())
    counts["erp_items"] += sum(len(items) for items in erp_side.values())
    watermarks = [CHANGES_WATERMARK]
    if reading.full:
        mark_unseen(tx, integration, procore_side, erp_side, now, counts)
        watermarks.append(WATERMARK)
    for stream in watermarks:
        tx.execute("set_watermark", integration_id=integration, stream=stream, value=reading.until.isoformat(),
                   updated_at=now)


def mark_unseen(tx: Transaction, integration: int, procore_side: Mapping[ReferenceKind, list[ProcoreItem]],
                erp_side: Mapping[ReferenceKind, list[ErpItem]], seen_at: datetime, counts: Counter[str]) -> None:
    """What a whole list of a kind no longer holds is deleted (a kind listed empty marks nothing)."""
    for kind in (kind for kind, items in procore_side.items() if items):
        counts["procore_deleted"] += tx.execute("mark_unseen_procore_reference_items", integration_id=integration,
                                                kind=kind.value, seen_before=seen_at).rowcount
    for kind in (kind for kind, items in erp_side.items() if items):
        counts["erp_deleted"] += tx.execute("mark_unseen_erp_reference_items", integration_id=integration,
                                            kind=kind.value, seen_before=seen_at).rowcount


def end_drifted(tx: Transaction, integration: int, by: str, counts: Counter[str]) -> None:
    """An ERP item deleted or made inactive, or a Procore item deleted, ends its link with the reason."""
    for row in tx.rows("drifted_reference_links", integration_id=integration):
        end_in(tx, integration, row, by=by, reason=drift_reason(row))
        counts["links_ended_by_drift"] += 1


def drift_reason(row: Mapping[str, Any]) -> str:
    kind = ReferenceKind(row["kind"]).label
    if row["procore_deleted_at"] is not None:
        return f"the {kind} was deleted in Procore"
    if row["erp_deleted_at"] is not None:
        return f"ERP {kind} {row['erp_code']} was deleted in the ERP"
    return f"ERP {kind} {row['erp_code']} is inactive in the ERP"


def link_exact_codes(tx: Transaction, integration: int, by: str, counts: Counter[str],
                     kinds: Collection[ReferenceKind] = tuple(ReferenceKind)) -> None:
    """Exact codes (of ``kinds``) link by themselves, unless the item was linked before: a person who unlinked it
    (or drift that ended its link) is not overruled; the suggestion waits for a person instead. Projects go first:
    a sub job is matched among the tasks, extras or phases of the ERP job its project is linked to."""
    linked_before = {(row["kind"], row["procore_id"])
                     for row in tx.rows("reference_items_linked_before", integration_id=integration)}
    wanted = set(kinds)
    for group in filter(None, (wanted & {ReferenceKind.PROJECT}, wanted - {ReferenceKind.PROJECT})):
        for found in suggestions(tx, integration, group):
            if found.automatic and found.item is not None and (
                    found.ref.kind.value, found.ref.procore_id) not in linked_before:
                link_in(tx, integration, found.ref, found.item, by=by, reason=f"{MATCHED_BY_CODE}: {found.reason}")
                counts["linked_by_code"] += 1


def suggestions(tx: Transaction, integration: int, kinds: Collection[ReferenceKind] | None = None) -> list[Suggestion]:
    """A suggestion for each Procore item (of ``kinds``, else of every kind) without an open link, among the ERP
    items no other item of its scope is linked to; a sub job's among those of its project's ERP job."""
    wanted = {kind.value for kind in (kinds or ReferenceKind)}
    unlinked = [row for row in tx.rows("unlinked_procore_reference_items", integration_id=integration)
                if row["kind"] in wanted]
    free = [row for row in tx.rows("erp_reference_items_of", integration_id=integration) if row["kind"] in wanted]
    links = tx.rows("open_reference_links_of", integration_id=integration)
    taken = {(row["kind"], row["procore_project_id"], row["erp_id"]) for row in links}
    jobs = {row["procore_id"]: row["erp_id"] for row in links if row["kind"] == ReferenceKind.PROJECT.value}
    found = []
    for row in unlinked:
        ref = procore_ref(row)
        items = [erp_item(item) for item in free
                 if item["kind"] == ref.kind.value and (item["kind"], ref.scope, item["erp_id"]) not in taken
                 and (ref.kind is not ReferenceKind.SUB_JOB or item["erp_project"] == jobs.get(str(ref.project_id)))]
        suggestion = suggest(ref, items, origin=json.loads(row["detail_json"] or "{}").get("origin"))
        if suggestion is not None:
            found.append(suggestion)
    return found


def _scope(ref: ProcoreRef) -> dict[str, int]:
    return {"sub_job_id": ref.sub_job_id} if ref.sub_job_id else {}
