"""Accounting acceptance (SPEC "Accounting acceptance", Procore's Ready to Export).

With an integration's ``export_mode`` at ``acceptance`` the hourly sync opens approved records as
*ready* (BLUE, "Waiting for accounting acceptance") and sends nothing. An accounting approver
('Standard' or 'Admin' on the ERP Integrations tool AND 'Can Push to Accounting', asked of Procore
when the decision is made and again when it is carried out) accepts a record, which exports it at
once, or rejects it with a reason, which turns it YELLOW until Procore changes it.

Decisions are rows of ``export_decisions``: the page files them as the signed-in person Procore
confirms, people and tools may insert them, and the ``erp_export_decisions`` DAG works through them
with the unlink queue's machinery (claim one at a time, validate, check who asks, answer the row).
Only one decision moves a waiting record (one conditional statement), so two people accepting
together export it once; the export then keeps every guarantee of the hourly sync's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator

from erp_connectors.procore import ProcoreHook
from erp_sync.budget import Work
from erp_sync.connectors import procore_hook
from erp_sync.identity import ProcoreAccounts, Requester, filer_refusal
from erp_sync.erps.base import RETAINAGE_TO_RELEASE
from erp_sync.jobs.unlink_queue import RequestQueue
from erp_sync.models import Colour, ErpKind, ExportMode, RecordType
from erp_sync.reconcile.report import summary_line
from erp_sync.store import Store, UnreadableValue, audit, utcnow
from erp_sync.sync.links import Link, LinkBook, LinkState
from erp_sync.sync.procore_check import DELETED_IN_PROCORE, NotSendable, check_still_approved, named
from erp_sync.sync.records import project_name, project_names
from erp_sync.unlink import (
    MAX_ID,
    QUEUE_STATUSES,
    WAITING,
    Outcome,
    Refused,
    refuse_unless_permitted,
    rejected,
    shown,
    unreadable,
    what_is_wrong,
)

JOB = "export_decisions"
DECISIONS = RequestQueue("export_decision", JOB, "export_decision", "decision", "carries the decision out",
                         statuses=QUEUE_STATUSES - {WAITING})  # a decision never waits for a sync
ACTION = "accept or reject exports"
MODE_ACTION = "change whether approved records wait for accounting acceptance"
LABELS = {"integration": "the integration", "procore_id": "the Procore id", "decision": "the decision",
          "reason": "the reason", "decided_by": "who decides (a Procore user id)", "filed_by": "who filed it"}


class Decision(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"


class ExportDecision(BaseModel):
    """What a decision must name; the page and rows typed into ``export_decisions`` are held to it alike."""

    integration: str = Field(min_length=1, max_length=100)
    record_type: RecordType
    procore_id: int = Field(gt=0, le=MAX_ID)
    decision: Decision
    reason: str | None = Field(default=None, max_length=500)
    decided_by: int = Field(gt=0, le=MAX_ID)
    filed_by: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def a_rejection_says_why(self) -> ExportDecision:
        if self.decision is Decision.REJECT and not (self.reason or "").strip():
            raise ValueError("a rejection needs a reason: say what the project must correct")
        return self


def validated(fields: dict[str, Any]) -> ExportDecision:
    try:
        return ExportDecision.model_validate({key: fields.get(key) for key in ExportDecision.model_fields})
    except ValidationError as error:
        raise ValueError(what_is_wrong(error, LABELS, subject="decision")) from error


def who(decision: ExportDecision) -> str:
    if decision.filed_by:
        return f"{shown(decision.filed_by)} (Procore user {decision.decided_by})"
    return f"Procore user {decision.decided_by}"


class Decider:
    """Carries out decisions for one integration: who asks, whether the record still waits, then the move."""

    def __init__(self, store: Store, integration: dict, procore: ProcoreHook, book: LinkBook):
        self.store, self.integration, self.procore, self.book = store, integration, procore, book
        self.erp = ErpKind(integration["erp_kind"])
        self.confirmed: set[tuple[RecordType, int]] = set()  # accepted records Procore still holds, approved

    def process(self, claimed: dict) -> Outcome:
        """Decide one claimed row; what is wrong with it alone (a value that cannot be read, a record that does
        not wait) is its answer."""
        try:
            row = self.store.one("export_decision", id=claimed["id"])
        except UnreadableValue as problem:
            return rejected(unreadable(problem, DECISIONS.noun))
        try:
            decision = validated(row)
        except ValueError as problem:
            return rejected(str(problem))
        impostor = filer_refusal(self.store, row, person_column="decided_by")
        if impostor:
            return rejected(impostor)
        try:
            link = self.waiting_link(decision)
            self.check_permissions(decision.decided_by)
        except Refused as refusal:
            return refusal.outcome
        return self.carry_out(decision, link, row["id"])

    def waiting_link(self, decision: ExportDecision) -> Link:
        link = self.book.get(decision.record_type, decision.procore_id)
        if link is None:
            raise Refused(f"No {decision.record_type.words} with Procore id {decision.procore_id} waits for accounting "
                          f"acceptance in integration {shown(self.integration['name'])}: check the record.")
        if link.state != LinkState.READY:
            raise Refused(f"The {link.record_type.words} {shown(link.procore_number)} is not waiting for accounting "
                          f"acceptance: {link.message or link.state}.")
        return link

    def check_permissions(self, user_id: int) -> None:
        refuse_unless_permitted(lambda: self.procore.approver_permissions(user_id), user_id, self.integration, ACTION)

    def carry_out(self, decision: ExportDecision, link: Link, decision_id: int) -> Outcome:
        noun, number, person = link.record_type.words, shown(link.procore_number), who(decision)
        detail = {"decision": decision_id, "decided_by": decision.decided_by, "reason": decision.reason}
        if decision.decision is Decision.ACCEPT:
            try:
                self.check_procore(link)
            except NotSendable as gone:
                return self.withdraw(link, gone, person, detail)
            message = f"Accepted by {person}; exporting to {self.erp.display_name}."
            moved = self.book.move(link, LinkState.READY, LinkState.ACCEPTED, Colour.BLUE, message, actor=person,
                                   detail=detail)
            outcome = Outcome("done", Colour.BLUE, f"The {noun} {number} was accepted and is being exported to "
                                                   f"{self.erp.display_name}.")
        else:
            reason = shown(decision.reason, 500)
            message = f"Rejected by {person}: {reason}. Change it in Procore to send it to accounting again."
            moved = self.book.move(link, LinkState.READY, LinkState.RETURNED, Colour.YELLOW, message,
                                   reason_code="rejected_by_accounting", actor=person, detail=detail)
            outcome = Outcome("done", Colour.YELLOW, f"The {noun} {number} was rejected: {reason}")
        if not moved:
            return self.decided_first(link)
        return outcome

    def check_procore(self, link: Link) -> None:
        """Procore is asked for the record as it is now (one call, from the on-demand share of the budget):
        deleted there, or no longer approved, means it is not sent."""
        record = link.record
        check_still_approved(record.stream.current(self.procore, record),
                             lambda: named(self.store, self.integration["id"], record),
                             "after it was sent for acceptance")
        self.confirmed.add((record.record_type, record.id))

    def withdraw(self, link: Link, gone: NotSendable, person: str, detail: dict) -> Outcome:
        """The record leaves Ready to Export with the sentence, which also answers the decision."""
        if not self.book.end(link, gone.message, from_state=LinkState.READY):
            return self.decided_first(link)
        with self.store.transaction() as tx:
            audit(tx, "record_link", link.id, gone.reason_code, actor=person, integration_id=self.integration["id"],
                  detail=detail | {"message": gone.message})
        return Outcome("done", Colour.YELLOW, gone.message)

    def decided_first(self, link: Link) -> Outcome:
        current = self.store.one("active_link_of_record", integration_id=self.integration["id"],
                                 record_type=link.record_type.value, procore_id=link.procore_id)
        return rejected(f"The {link.record_type.words} {shown(link.procore_number)} was decided by another decision "
                        f"first: {(current or {}).get('message') or 'it no longer waits'}.")


# The page's path ------------------------------------------------------------------------------

def lookup(store: Store, integration_name: str) -> dict:
    integration = store.one("integration_by_name", name=integration_name)
    if integration is None or not integration["enabled"]:
        raise ValueError(f"There is no enabled integration named '{shown(integration_name)}'.")
    return integration


def confirmed_approver(store: Store, integration: dict, airflow_user: str | None, procore: ProcoreHook,
                       action: str = ACTION) -> Requester:
    """The signed-in person as Procore confirms them now, if Procore says now that they are an accounting
    approver: NotConnected says how to connect, Refused (naming the person and ``action``) which permission
    is missing."""
    person = ProcoreAccounts(store).verified(airflow_user, integration["procore_conn_id"])
    refuse_unless_permitted(lambda: procore.approver_permissions(person.procore_user_id), person.procore_user_id,
                            integration, action, who=f"{person.name} (Procore user {person.procore_user_id})")
    return person


def file_decisions(store: Store, integration_name: str, record_type: str, procore_ids: list[int], decision: str,
                   reason: str | None, airflow_user: str | None) -> list[int]:
    """Decisions taken on the page, filed for the ``erp_export_decisions`` DAG once the person is confirmed
    and every record still waits: ValueError, NotConnected or Refused say why not; nothing is filed then."""
    integration = lookup(store, integration_name)
    if not procore_ids:
        raise ValueError("Tick at least one record first.")
    with procore_hook(integration, store, Work.ON_DEMAND) as procore:
        person = confirmed_approver(store, integration, airflow_user, procore)
        decisions = [validated({"integration": integration["name"], "record_type": record_type,
                                "procore_id": procore_id, "decision": decision, "reason": reason,
                                "decided_by": person.procore_user_id, "filed_by": airflow_user})
                     for procore_id in procore_ids]
        decider = Decider(store, integration, procore, LinkBook(store, integration["id"], actor=airflow_user))
        for each in decisions:
            decider.waiting_link(each)
    filed = []
    with store.transaction() as tx:
        for each in decisions:
            decision_id = tx.scalar("file_export_decision", now=utcnow(), **each.model_dump(mode="json"))
            audit(tx, DECISIONS.entity, decision_id, "filed", actor=airflow_user, integration_id=integration["id"],
                  detail=json.loads(each.model_dump_json()) | {"procore_name": person.name})
            filed.append(decision_id)
    return filed


def change_export_mode(store: Store, integration_name: str, mode: ExportMode, airflow_user: str | None) -> None:
    """The page's switch between acceptance and direct export, for accounting approvers, audited as them."""
    integration = lookup(store, integration_name)
    with procore_hook(integration, store, Work.ON_DEMAND) as procore:
        person = confirmed_approver(store, integration, airflow_user, procore, MODE_ACTION)
    store.set_export_mode(integration["name"], mode, actor=f"{airflow_user} (Procore user {person.procore_user_id})")


# The daily summary ----------------------------------------------------------------------------

@dataclass(frozen=True)
class DailySummary:
    """Per integration: what waits for acceptance, what failed, what accounting rejected, and ERP documents
    whose Procore record was deleted after they were created (someone must delete or void them in the ERP);
    each record named with its project's name."""

    integration: str
    waiting: list[dict]
    failed: list[dict]
    rejected: list[dict]
    deleted_in_procore: list[dict] = field(default_factory=list)
    projects: dict[int, str] = field(default_factory=dict)
    reconciliation: str | None = None  # how many commitments differ from the ERP and by how much, with the page
    retainage_to_release: list[dict] = field(default_factory=list)  # released in Procore; the ERP waits for a person

    def text(self) -> str:
        orphans = (f", {len(self.deleted_in_procore)} deleted in Procore but still in the ERP"
                   if self.deleted_in_procore else "")
        lines = [f"ERP Sync daily summary for {self.integration}: {len(self.waiting)} waiting for accounting "
                 f"acceptance, {len(self.failed)} failed, {len(self.rejected)} rejected by accounting{orphans}."]
        if self.reconciliation:
            lines.append(self.reconciliation)
        for title, links in (("Deleted in Procore, to delete or void in the ERP", self.deleted_in_procore),
                             ("Retainage released in Procore, to release in the ERP", self.retainage_to_release),
                             ("Waiting for acceptance", self.waiting), ("Failed", self.failed),
                             ("Rejected", self.rejected)):
            if links:
                lines.append(f"{title}:")
                lines += [f"  {RecordType(link['record_type']).words} {link['procore_number']} of "
                          f"{self.project(link['procore_project_id'])} (Procore id {link['procore_id']}): "
                          f"{link['message'] or ''}" for link in links]
        return "\n".join(lines)

    def project(self, project_id: int | None) -> str:
        return self.projects.get(project_id) or project_name({}, project_id) or "no project"


def daily_summary(store: Store, integration: dict) -> DailySummary:
    def in_state(state: str) -> list[dict]:
        return store.rows("links_in_state", integration_id=integration["id"], state=state, record_type=None)

    red = store.rows("failed_links", integration_id=integration["id"])
    orphans = [link for link in red if link["reason_code"] == DELETED_IN_PROCORE]
    to_release = store.rows("links_with_reason", integration_id=integration["id"], reason_code=RETAINAGE_TO_RELEASE)
    return DailySummary(integration["name"], in_state(LinkState.READY),
                        [link for link in red if link not in orphans and link["reason_code"] != RETAINAGE_TO_RELEASE],
                        in_state(LinkState.RETURNED), orphans, projects=project_names(store, integration["id"]),
                        reconciliation=summary_line(store, integration), retainage_to_release=to_release)


def send_summary(summary: DailySummary, notifier: Callable[[dict], None], context: dict) -> str:
    """Hand the summary to the notifier operations configured (``erp_sync.notify.configured_notifier``: an
    SMTP notifier in production, one that logs in the demo); its templates see the subject as
    ``erp_sync_subject`` and the text as ``erp_sync_message``, as for every notice ERP Sync sends."""
    text = summary.text()
    notifier({**context, "erp_sync_subject": f"ERP Sync daily summary: {summary.integration}",
              "erp_sync_message": text})
    return text
