"""Record links: one active link per Procore record and integration, with the state of its export
(colour and reason) and what the ERP last said about it. Every change is audited in the same
transaction; links are ended, never deleted."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from erp_sync.models import Colour, RecordType
from erp_sync.store import Store, audit, utcnow
from erp_sync.sync.records import ProcoreRecord


class LinkState:
    EXPORTING = "exporting"  # sent to the ERP, its answer not yet recorded: find before creating again
    EXPORTED = "exported"    # in the ERP; the reference is not yet written back to Procore
    SYNCED = "synced"
    FAILED = "failed"
    REJECTED = "rejected"    # rejected in the ERP
    READY = "ready"          # Ready to Export: approved, waiting for accounting acceptance; nothing sent
    ACCEPTED = "accepted"    # accepted by accounting; the acceptance's own task exports it
    RETURNED = "returned"    # rejected by accounting with a reason; ready again once Procore changes it
    WAITING = "waiting"      # not sent: what it names of the reference data is not linked yet (BLUE)


WAITING_FOR_ACCEPTANCE = "Waiting for accounting acceptance"
AWAITING_ACCOUNTING = (LinkState.READY, LinkState.ACCEPTED, LinkState.RETURNED)  # not sent to the ERP yet


@dataclass
class Link:
    id: int
    record_type: RecordType
    procore_id: int
    state: str
    colour: str
    erp_ref: str | None = None
    erp_key: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    reason_code: str | None = None
    procore_number: str | None = None
    procore_json: str | None = None
    procore_updated_at: datetime | None = None
    fingerprint: str | None = None
    exported_at: datetime | None = None
    erp_condition: str | None = None
    erp_present: bool | None = None
    erp_status: str | None = None
    erp_amount: Decimal | None = None
    erp_balance: Decimal | None = None
    erp_retainage: Decimal | None = None  # the retainage the ERP's bill holds, as the refresh last read it
    erp_number: str | None = None
    export_claimed_by: str | None = None  # the decisions run exporting this accepted record
    updated_at: datetime | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Link:
        return cls(id=row["id"], record_type=RecordType(row["record_type"]), procore_id=row["procore_id"],
                   state=row["state"], colour=row["colour"], erp_ref=row["erp_ref"],
                   erp_key=json.loads(row["erp_key_json"] or "{}"), message=row["message"],
                   reason_code=row["reason_code"], procore_number=row["procore_number"],
                   procore_json=row["procore_json"], procore_updated_at=row["procore_updated_at"],
                   fingerprint=row["fingerprint"], exported_at=row["exported_at"],
                   erp_condition=row["erp_condition"], erp_present=_flag(row["erp_present"]),
                   erp_status=row["erp_status"], erp_amount=row["erp_amount"], erp_balance=row["erp_balance"],
                   erp_retainage=row["erp_retainage"], erp_number=row["erp_number"],
                   export_claimed_by=row.get("export_claimed_by"),
                   updated_at=row.get("updated_at"))

    @property
    def record(self) -> ProcoreRecord | None:
        return ProcoreRecord.from_snapshot(self.procore_json) if self.procore_json else None

    @property
    def in_erp(self) -> bool:
        return self.erp_ref is not None


@dataclass(frozen=True)
class ErpView:
    """What the ERP says about one linked record, as the refresh saw it."""

    erp_ref: str
    present: bool
    status: str | None = None
    condition: str | None = None  # open, part_paid, paid, reversed, rejected, deleted, unreadable
    amount: Decimal | None = None
    balance: Decimal | None = None
    retainage: Decimal | None = None  # a bill's retainage held, where the ERP's row carries it
    modified_at: datetime | None = None
    number: str | None = None  # the document number the ERP shows (a bill's vendor reference)
    problem: str | None = None  # why the ERP's row could not be read


class LinkBook:
    """The active links of one integration, loaded once per run and written through to the store;
    ``run_id`` (a ``sync_runs`` row) is kept on each link it writes, as the run that last touched it."""

    def __init__(self, store: Store, integration_id: int, actor: str, run_id: int | None = None):
        self.store, self.integration_id, self.actor, self.run_id = store, integration_id, actor, run_id
        rows = store.rows("active_links", integration_id=integration_id)
        self.links = {(RecordType(r["record_type"]), r["procore_id"]): Link.from_row(r) for r in rows}

    def get(self, record_type: RecordType, procore_id: int | None) -> Link | None:
        return self.links.get((record_type, procore_id)) if procore_id is not None else None

    def of_type(self, record_type: RecordType) -> list[Link]:
        return [link for (kind, _), link in self.links.items() if kind is record_type]

    def open(self, record: ProcoreRecord, state: str, colour: Colour, message: str | None = None,
             reason_code: str | None = None, fingerprint: str | None = None) -> Link:
        """Start the link of a record that has none, before anything is sent to the ERP."""
        now = utcnow()
        with self.store.transaction() as tx:
            link_id = tx.scalar("insert_link", integration_id=self.integration_id,
                                record_type=record.record_type.value, procore_id=record.id,
                                procore_project_id=record.project_id, procore_number=record.number, state=state,
                                colour=colour.value, message=message, reason_code=reason_code,
                                procore_json=record.snapshot(), procore_updated_at=record.updated_at,
                                fingerprint=fingerprint, run_id=self.run_id, now=now)
            audit(tx, "record_link", link_id, "opened", actor=self.actor, integration_id=self.integration_id,
                  new_state=state, detail={"record_type": record.record_type.value, "procore_id": record.id,
                                           "message": message})
        link = Link(id=link_id, record_type=record.record_type, procore_id=record.id, state=state,
                    colour=colour.value, message=message, reason_code=reason_code, procore_number=record.number,
                    procore_json=record.snapshot(), procore_updated_at=record.updated_at, fingerprint=fingerprint)
        self.links[(record.record_type, record.id)] = link
        return link

    def move(self, link: Link, from_state: str, state: str, colour: Colour, message: str | None,
             reason_code: str | None = None, actor: str | None = None, detail: dict | None = None) -> bool:
        """Move a link from one state to the next unless another worker moved it first: one statement
        decides, so two people accepting together, or two workers, never both win."""
        with self.store.transaction() as tx:
            moved = tx.execute("decide_link", id=link.id, from_state=from_state, state=state, colour=colour.value,
                               message=message, reason_code=reason_code, now=utcnow()).rowcount
            if moved:
                audit(tx, "record_link", link.id, state, actor=actor or self.actor, integration_id=self.integration_id,
                      old_state=from_state, new_state=state,
                      detail={"colour": colour.value, "message": message} | (detail or {}))
        if moved:
            link.state, link.colour, link.message, link.reason_code = state, colour.value, message, reason_code
        return bool(moved)

    def claim_accepted_export(self, link: Link) -> bool:
        """This run (``actor``) exports the accepted record: unless another run has, or its own
        crashed attempt left it half done, which this retry may then finish."""
        with self.store.transaction() as tx:
            claimed = tx.execute("claim_accepted_export", id=link.id, worker=self.actor, now=utcnow()).rowcount
            if claimed and link.state == LinkState.ACCEPTED:
                audit(tx, "record_link", link.id, LinkState.EXPORTING, actor=self.actor,
                      integration_id=self.integration_id, old_state=link.state, new_state=LinkState.EXPORTING)
        if claimed and link.state == LinkState.ACCEPTED:
            link.state = LinkState.EXPORTING
        return bool(claimed)

    def release_accepted_export(self, link: Link) -> None:
        """The run is done with the record (exported, RED, or queued for the ERP's own import): from now on
        the hourly sync looks after it as after any export."""
        with self.store.transaction() as tx:
            tx.execute("release_accepted_export", id=link.id, worker=self.actor)
        link.export_claimed_by = None

    def end(self, link: Link, reason: str, from_state: str | None = None) -> bool:
        """End a link that never reached the ERP (kept for audit); the record may get a new one later.
        With ``from_state``, only while the link is still in that state; False if it was not ended."""
        params = {"id": link.id, "now": utcnow(), "ended_by": self.actor, "reason": reason}
        with self.store.transaction() as tx:
            query = "end_link" if from_state is None else "end_link_in_state"
            ended = tx.execute(query, **params, **({"from_state": from_state} if from_state else {})).rowcount
            if ended:
                audit(tx, "record_link", link.id, "ended", actor=self.actor, integration_id=self.integration_id,
                      old_state=link.state, new_state="ended", detail={"reason": reason})
        if ended or from_state is None:
            self.links.pop((link.record_type, link.procore_id), None)
        return bool(ended)

    def save(self, link: Link, **changes: Any) -> Link:
        old_state, old_colour = link.state, link.colour
        for name, value in changes.items():
            setattr(link, name, value.value if isinstance(value, Colour) else value)
        with self.store.transaction() as tx:
            tx.execute("update_link", id=link.id, procore_number=link.procore_number, erp_ref=link.erp_ref,
                       erp_key_json=json.dumps(link.erp_key, sort_keys=True) if link.erp_key else None,
                       state=link.state, colour=link.colour, message=link.message, reason_code=link.reason_code,
                       procore_json=link.procore_json, procore_updated_at=link.procore_updated_at,
                       fingerprint=link.fingerprint, exported_at=link.exported_at, run_id=self.run_id, now=utcnow())
            if (old_state, old_colour) != (link.state, link.colour) or "erp_ref" in changes:
                audit(tx, "record_link", link.id, link.state, actor=self.actor, integration_id=self.integration_id,
                      old_state=old_state, new_state=link.state,
                      detail={"colour": link.colour, "erp_ref": link.erp_ref, "message": link.message})
        return link

    def seen(self, views: list[tuple[Link, ErpView, str, Colour, str | None]], unchanged: list[Link]) -> None:
        """Record the refresh: new views in full (with the link's resulting state), the rest as seen now."""
        now = utcnow()
        with self.store.transaction() as tx:
            rows = []
            for link, view, state, colour, message in views:
                link_id = link.id
                rows.append({"id": link_id, "erp_status": view.status, "erp_present": view.present,
                             "erp_condition": view.condition, "erp_amount": view.amount, "erp_balance": view.balance,
                             "erp_retainage": view.retainage,
                             "erp_modified_at": view.modified_at, "erp_number": view.number or link.erp_number,
                             "erp_seen_at": now, "state": state,
                             "colour": colour.value, "message": message, "run_id": self.run_id})
                if view.condition != link.erp_condition:
                    audit(tx, "record_link", link_id, f"erp_{view.condition}", actor=self.actor,
                          integration_id=self.integration_id, old_state=link.erp_condition,
                          new_state=view.condition, detail={"erp_ref": view.erp_ref, "erp_status": view.status})
                link.erp_condition, link.erp_present, link.erp_status = view.condition, view.present, view.status
                link.erp_amount, link.erp_balance, link.erp_retainage = view.amount, view.balance, view.retainage
                link.erp_number = view.number or link.erp_number
                link.state, link.colour, link.message = state, colour.value, message
            tx.execute_many("update_link_erp_view", rows)
            tx.execute_many("mark_links_seen", [{"id": link.id, "erp_seen_at": now, "run_id": self.run_id}
                                                for link in unchanged])


def _flag(value: Any) -> bool | None:
    """A boolean column as SQLite (0/1) and PostgreSQL (false/true) give it back."""
    return None if value is None else bool(value)
