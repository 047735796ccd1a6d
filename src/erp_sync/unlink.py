"""The unlink request: what a valid one names, who may make it, what must be true in the ERP first,
and the exact words of every outcome (Procore's unlink articles, ``docs/rules.md`` "Unlinking a record").

Processing is ordered so that a retry after a crash finishes the job and never half-does it: the
checks change nothing; the Procore record's ERP reference is cleared first (repeating that is
harmless, and a sync that runs meanwhile still sees the link); the link is ended last, in the
same transaction as the request's outcome, by a statement that only one worker can win.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator

from erp_connectors.base import VendorApiError
from erp_connectors.procore import ProcoreHook
from erp_sync.budget import Work
from erp_sync.connectors import procore_hook
from erp_sync.erps.base import RELEASE_MADE_IN_ERP, ErpAdapter
from erp_sync.identity import ProcoreAccounts, filer_refusal
from erp_sync.jobs.hourly_sync import REFRESH_JOB
from erp_sync.models import Colour, ErpKind, IntegrationName, RecordType
from erp_sync.store import Store, UnreadableValue, audit, utcnow
from erp_sync.sync.links import AWAITING_ACCOUNTING, Link

log = logging.getLogger(__name__)
SUCCESS = "Successfully Unlinked"
PENDING, WAITING = "pending", "waiting"
QUEUE_STATUSES = frozenset({PENDING, "processing", WAITING, "done", "rejected"})  # as the queue spells them
MAX_ID = 2**63 - 1
DELETED_IN_PROCORE = "unlink request; the record was deleted in Procore, no ERP reference was left to clear"


def still_in_erp(record_type: RecordType, erp: ErpKind) -> str:
    return f"The {record_type.noun} is still in {erp.display_name}. Please delete it before retrying."


def shown(text: object, limit: int = 80) -> str:
    """A person's text inside our message: cut short and made inert for the pages that show it."""
    value = str(text)
    return html.escape(value if len(value) <= limit else value[:limit] + "…")


class UnlinkRequest(BaseModel):
    """What a request must name; the trigger form and rows typed into the table are held to it alike."""

    integration: IntegrationName = Field(min_length=1, max_length=100)
    record_type: RecordType
    procore_id: int | None = Field(default=None, gt=0, le=MAX_ID)
    project_id: int | None = Field(default=None, gt=0, le=MAX_ID)
    record_number: str | None = Field(default=None, min_length=1, max_length=100)
    requested_by: int = Field(gt=0, le=MAX_ID)
    filed_by: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def names_a_record(self) -> UnlinkRequest:
        if self.procore_id is None and not (self.project_id and self.record_number):
            raise ValueError("name the Procore record: its id, or its project id and its number")
        return self


UNLINK_LABELS = {"integration": "the integration", "record_type": "the record type", "procore_id": "the Procore id",
                 "project_id": "the project id", "record_number": "the record number",
                 "requested_by": "the requester (a Procore user id)", "filed_by": "who filed it"}


def what_is_wrong(error: ValidationError, labels: dict[str, str] = UNLINK_LABELS, subject: str = "request") -> str:
    """Pydantic's findings as one sentence a person can act on."""
    parts = []
    for problem in error.errors(include_url=False):
        field = problem["loc"][0] if problem["loc"] else None
        if field == "record_type":
            parts.append("the record type must be commitment, commitment_change_order or subcontractor_invoice "
                         f"(got '{shown(problem.get('input'))}')")
        elif field in labels:
            parts.append(f"{labels[field]}: {problem['msg'].lower()}")
        else:
            parts.append(problem["msg"].removeprefix("Value error, "))
    return f"The {subject} cannot be processed: " + "; ".join(parts) + "."


def typed_status(typed: str) -> str:
    """A status as a person may type it into the table: 'Pending', ' PENDING ' and 'pending' are one."""
    return typed.strip().lower()


def unknown_status(typed: str, noun: str = "request", carried_out: str = "decides the request") -> str:
    return (f"The status '{shown(typed)}' is not one a {noun} is filed with: leave status out (or write pending) "
            f"and the queue {carried_out}; it sets every other status itself.")


def unreadable(problem: UnreadableValue, noun: str = "request") -> str:
    return (f"The {noun} cannot be processed: its {problem.column} '{shown(problem.value)}' is not {problem.kind}; "
            f"leave {problem.column} out of the row and it is filled in for you.")


@dataclass(frozen=True)
class Outcome:
    status: str
    colour: Colour
    message: str


DONE = Outcome("done", Colour.GREEN, SUCCESS)


def rejected(message: str) -> Outcome:
    return Outcome("rejected", Colour.RED, message)


def waiting_for_sync(record_type: RecordType, erp: ErpKind) -> Outcome:
    """Sage 300 CRE is seen only through the hourly sync: the request waits for one that started after it
    was filed (that sync releases it), then is decided from what that sync saw."""
    return Outcome(WAITING, Colour.BLUE, f"Waiting for the next hourly sync with {erp.display_name}: the "
                                         f"{record_type.words} can be unlinked once a sync that started after "
                                         "this request has completed.")


class Refused(Exception):
    """The request is turned down with this outcome; nothing was changed."""

    def __init__(self, message: str):
        super().__init__(message)
        self.outcome = rejected(message)


def no_such_integration(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        return "The request names no integration; say which one it is for."
    return f"There is no enabled integration named '{shown(name)}'; `python -m erp_sync integrations` lists them."


def enabled_integration(store: Store, name: str) -> dict:
    """The enabled integration a request names, or Refused with the sentence the queue answers."""
    row = store.one("integration_by_name", name=name)
    if row is None or not row["enabled"]:
        raise Refused(no_such_integration(name))
    return row


def linked_record(store: Store, integration: dict, request: UnlinkRequest) -> Link:
    """The active link of the record a request names, or Refused saying why there is nothing to unlink."""
    erp = ErpKind(integration["erp_kind"])
    if request.procore_id is not None:
        row = store.one("active_link_of_record", integration_id=integration["id"],
                        record_type=request.record_type.value, procore_id=request.procore_id)
        named = f"Procore id {request.procore_id}"
    else:
        row = store.one("active_link_by_number", integration_id=integration["id"],
                        record_type=request.record_type.value, project_id=request.project_id,
                        record_number=request.record_number)
        named = f"number '{shown(request.record_number)}' in Procore project {request.project_id}"
    if row is None:
        raise Refused(why_not_linked(store, integration, request, named))
    link = Link.from_row(row)
    if not link.in_erp:
        if link.state in AWAITING_ACCOUNTING:
            why = f"it is not exported: {link.message}"
        elif link.reason_code == RELEASE_MADE_IN_ERP:
            why = f"it only releases retainage, which makes no document of its own: {link.message}"
        else:
            why = f"its export failed: {link.message or 'no reason recorded'}"
        raise Refused(f"The {request.record_type.words} {shown(link.procore_number)} was never synced to "
                      f"{erp.display_name} ({why}); there is nothing to unlink.")
    return link


def why_not_linked(store: Store, integration: dict, request: UnlinkRequest, named: str) -> str:
    record, erp = request.record_type.words, ErpKind(integration["erp_kind"]).display_name
    latest = store.one("latest_link_of_record", integration_id=integration["id"],
                       procore_id=request.procore_id) if request.procore_id else None
    if latest and latest["record_type"] != request.record_type.value:
        return (f"Procore record {request.procore_id} is a {RecordType(latest['record_type']).words} "
                f"({RecordType(latest['record_type']).value}), not a {record}: file the request with its record type.")
    if latest and latest["ended_at"]:
        return (f"The {record} {shown(latest['procore_number'])} was already unlinked "
                f"({latest['ended_at']:%Y-%m-%d %H:%M} UTC, {shown(latest['ended_by'])}); there is nothing to unlink.")
    return (f"No {record} with {named} has been synced to {erp} by integration {shown(integration['name'])}: "
            "check the record, or it was never synced.")


def refuse_unless_permitted(permissions: Callable[[], Any], user_id: int, integration: dict, action: str,
                            who: str | None = None) -> None:
    """Procore is asked now (``permissions``); Refused names every permission missing for ``action``, and
    the person as ``who`` says (by default their Procore user id, as the queues' answers do)."""
    who = who or f"Procore user {user_id}"
    try:
        missing = permissions().missing()
    except VendorApiError as error:
        if error.status == 404:
            company = integration.get("procore_company_name") or integration["procore_company_id"]
            raise Refused(f"{who} is not in the directory of company {company}; only its users can {action}.") \
                from error
        raise
    if missing:
        raise Refused(f"{who} may not {action}: missing " + " and ".join(missing) + ".")


class Unlinker:
    def __init__(self, store: Store, integration: dict, procore: ProcoreHook, adapter: ErpAdapter, actor: str):
        self.store, self.integration, self.procore, self.adapter, self.actor = (
            store, integration, procore, adapter, actor)
        self.erp = ErpKind(integration["erp_kind"])

    def process(self, claimed: dict) -> Outcome:
        """Decide one claimed request. What is wrong with this request alone (values that cannot be read, a
        vendor refusing a call about its record) is its answer; trouble with the whole integration is raised."""
        try:
            row = self.store.one("unlink_request", id=claimed["id"])
        except UnreadableValue as problem:
            return rejected(unreadable(problem))
        try:
            request = UnlinkRequest.model_validate({k: row.get(k) for k in UnlinkRequest.model_fields})
        except ValidationError as error:
            return rejected(what_is_wrong(error))
        impostor = filer_refusal(self.store, row)
        if impostor:
            return rejected(impostor)
        try:
            return self.unlink(request, row)
        except Refused as refusal:
            return refusal.outcome
        except VendorApiError as error:
            if not error.about_this_call:
                raise
            return rejected(self.vendor_refused(error))

    def unlink(self, request: UnlinkRequest, row: dict) -> Outcome:
        link = linked_record(self.store, self.integration, request)
        self.check_permissions(request, link)
        if self.adapter.seen_through_sync and not self.synced_since(row["filed_at"]):
            return waiting_for_sync(request.record_type, self.erp)
        if self.adapter.still_in_erp(link):
            raise Refused(still_in_erp(request.record_type, self.erp))
        reason = "unlink request" if self.clear_erp_reference(link) else DELETED_IN_PROCORE
        return self.end(link, row, reason)

    def clear_erp_reference(self, link: Link) -> bool:
        """Clear the Procore record's ERP reference; False if the record was deleted in Procore, which
        leaves no reference to clear (its link can be ended all the same)."""
        record = link.record
        try:
            record.stream.write_back(self.procore, record, None, None)
        except VendorApiError as error:
            if error.status != 404:
                raise
            log.info("The %s %s is no longer in Procore (%s); its link is ended", link.record_type.words,
                     link.procore_number, error)
            return False
        return True

    def vendor_refused(self, error: VendorApiError) -> str:
        vendor = "Procore" if error.vendor == "procore" else self.erp.display_name
        return (f"{vendor} refused a call this request needs (HTTP {error.status}: {shown(error.message, 200)}); "
                "nothing was unlinked. Correct what it names, then file the request again.")

    def synced_since(self, filed_at: datetime) -> bool:
        """Has an hourly sync of this integration that started after the request was filed completed?
        One that started before may have read Sage before the user deleted the record there."""
        last = self.store.one("last_finished_run", integration_id=self.integration["id"], job=REFRESH_JOB)
        return last is not None and last["started_at"] > filed_at

    def check_permissions(self, request: UnlinkRequest, link: Link) -> None:
        refuse_unless_permitted(lambda: self.procore.unlink_permissions(request.requested_by, link.record.project_id),
                                request.requested_by, self.integration, "unlink")

    def end(self, link: Link, row: dict, reason: str) -> Outcome:
        """End the link, unless another request or worker already did: one statement decides."""
        now = utcnow()
        with self.store.transaction() as tx:
            ended = tx.execute("end_link", id=link.id, now=now, ended_by=f"unlink request {row['id']} "
                               f"(Procore user {row['requested_by']})", reason=reason).rowcount
            if ended:
                audit(tx, "record_link", link.id, "unlinked", actor=self.actor, integration_id=self.integration["id"],
                      old_state=link.state, new_state="unlinked",
                      detail={"request": row["id"], "erp_ref": link.erp_ref, "requested_by": row["requested_by"],
                              "reason": reason})
        if ended:
            return DONE
        return rejected(f"The {link.record_type.words} {shown(link.procore_number)} was already unlinked by another "
                        "request; there is nothing to unlink.")


def file_request(store: Store, fields: dict, airflow_user: str | None, ask_procore_first: bool = False) -> int:
    """The form's path: a request asked by the signed-in person as Procore confirms them now, written into
    the queue once it names an enabled integration and a record that integration has synced (and, with
    ``ask_procore_first``, as the page does, once Procore says now that the person may unlink it; the queue
    asks again when it carries it out: the form DAG leaves that answer to the queue's row). Otherwise
    nothing is written: Refused says what is wrong, in the words the queue would answer with; a person
    without a working Procore connection gets NotConnected."""
    integration = enabled_integration(store, (fields.get("integration") or "").strip())
    requester = ProcoreAccounts(store).verified(airflow_user, integration["procore_conn_id"])
    try:
        request = UnlinkRequest.model_validate({**fields, "integration": integration["name"],
                                                "requested_by": requester.procore_user_id, "filed_by": airflow_user})
    except ValidationError as error:
        raise Refused(what_is_wrong(error)) from error
    link = linked_record(store, integration, request)
    if ask_procore_first:
        with procore_hook(integration, store, Work.ON_DEMAND) as procore:
            refuse_unless_permitted(lambda: procore.unlink_permissions(requester.procore_user_id,
                                                                       link.record.project_id),
                                    requester.procore_user_id, integration, "unlink")
    with store.transaction() as tx:
        request_id = tx.scalar("file_unlink_request", now=utcnow(), **request.model_dump(mode="json"))
        audit(tx, "unlink_request", request_id, "filed", actor=requester.airflow_user,
              detail=json.loads(request.model_dump_json()) | {"procore_name": requester.name})
    return request_id
