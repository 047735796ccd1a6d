"""Payment import ("Sync Payments for Synced Invoices"): ERP bill payments into Procore's Payments Issued.

One Procore contract payment per ERP payment per bill it pays, on the commitment of the invoice the
bill was exported from, with ``origin_id`` naming both. Procore's sync endpoint upserts by
``origin_id``, so a batch repeated after a crash or a lost answer never doubles a payment; the store
remembers what was last written (a fingerprint), so an unchanged payment costs no write. A void keeps
the payment in Procore at 0 with a note saying when and where it was voided; ``audit_log`` keeps
the amounts it had. Users own a payment's number and attachments in Procore: updates never send them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from erp_connectors.procore import ProcoreHook
from erp_sync.erps.base import ErpAdapter, ErpPayment
from erp_sync.models import Colour, RecordType
from erp_sync.store import Store, audit, utcnow
from erp_sync.sync.links import Link, LinkBook

log = logging.getLogger(__name__)
SYNC_BATCH = 1000  # Procore's sync endpoints take at most 1,000 records
OVERLAP = timedelta(minutes=2)


@dataclass
class Pending:
    """A payment to write to Procore, and the store row it becomes once Procore has it."""

    project_id: int
    fields: dict[str, Any]
    row: dict[str, Any]
    known: dict[str, Any] | None


@dataclass
class PaymentImporter:
    store: Store
    integration_id: int
    procore: ProcoreHook
    adapter: ErpAdapter
    book: LinkBook
    counts: Counter[str]
    actor: str
    mismatches: list[str] = field(default_factory=list)

    @property
    def bookmark(self) -> str:
        return f"{self.adapter.kind.value}:payments"

    def run(self) -> None:
        invoices = {link.erp_ref: link for link in self.book.of_type(RecordType.SUBCONTRACTOR_INVOICE)
                    if link.in_erp and link.record is not None}
        saved = self.store.watermark(self.integration_id, self.bookmark)
        since = datetime.fromisoformat(saved) - OVERLAP if saved else None
        started = utcnow()
        changes = self.adapter.payments(set(invoices), since) if invoices else None
        known = {(row["erp_payment_key"], row["erp_bill_ref"]): row
                 for row in self.store.rows("payments_of_integration", integration_id=self.integration_id)}
        pending: list[Pending] = []
        for payment in changes.applications if changes else []:
            voided_on = changes.voided.get(payment.key) or payment.voided_on or (
                payment.modified_at.date().isoformat() if payment.voided and payment.modified_at else None)
            item = self.plan(payment, invoices[payment.bill_ref], known.get((payment.key, payment.bill_ref)), voided_on)
            if item:
                pending.append(item)
        listed = {(p.key, p.bill_ref) for p in changes.applications} if changes else set()
        imported_by_payment: dict[str, list[dict]] = defaultdict(list)
        for (payment_key, bill_ref), row in known.items():
            if (payment_key, bill_ref) not in listed:
                imported_by_payment[payment_key].append(row)
        for key, voided_on in (changes.voided.items() if changes else []):
            for row in imported_by_payment.get(key, []):
                item = self.plan_void(row, voided_on)
                if item:
                    pending.append(item)
        self.send(pending)
        self.store.set_watermark(self.integration_id, self.bookmark, started.isoformat())

    # Deciding --------------------------------------------------------------------------------
    def plan(self, payment: ErpPayment, invoice: Link, known: dict | None, voided_on: str | None) -> Pending | None:
        if payment.voided and known is None:
            self.counts["skipped_voided_before_import"] += 1
            return None
        record = invoice.record
        if record.parent_id is None:
            self.counts["skipped_invoice_without_commitment"] += 1
            return None
        self.check_invoice_number(invoice)
        fields = {
            "origin_id": f"{payment.key}@{payment.bill_ref}",
            "origin_data": f"{self.adapter.name} {payment.key} paying {payment.bill_ref}",
            "contract_id": record.parent_id,
            "amount": "0.00" if payment.voided else f"{payment.amount:.2f}",
            "date": payment.date,
            "check_number": payment.check_number,
            "payment_method": payment.method,
            "invoice_number": record.number,
            "notes": self.void_note(voided_on, payment.amount) if payment.voided else None,
        }
        row = {"erp_payment_key": payment.key, "erp_bill_ref": payment.bill_ref, "procore_invoice_id": record.id,
               "procore_commitment_id": record.parent_id, "procore_project_id": record.project_id,
               "amount": payment.amount, "payment_date": payment.date, "payment_method": payment.method,
               "check_number": payment.check_number, "invoice_number": record.number,
               "erp_bill_number": invoice.erp_number, "status": "voided" if payment.voided else "active",
               "voided_at": _day_start(voided_on) if payment.voided else None, "erp_modified_at": payment.modified_at}
        return self.pending(record.project_id, fields, row, known)

    def plan_void(self, known: dict[str, Any], voided_on: str | None) -> Pending | None:
        """A payment the ERP voided or deleted without saying which bills it paid: void what was imported."""
        if known["status"] == "voided":
            return None
        fields = {"origin_id": known["origin_id"], "contract_id": known["procore_commitment_id"], "amount": "0.00",
                  "date": _iso(known["payment_date"]), "check_number": known["check_number"],
                  "payment_method": known["payment_method"], "invoice_number": known["invoice_number"],
                  "origin_data": f"{self.adapter.name} {known['erp_payment_key']} paying {known['erp_bill_ref']}",
                  "notes": self.void_note(voided_on, known["amount"])}
        row = {**{k: known[k] for k in ("erp_payment_key", "erp_bill_ref", "procore_invoice_id", "procore_commitment_id",
                                        "procore_project_id", "amount", "payment_method", "check_number",
                                        "invoice_number", "erp_bill_number")},
               "payment_date": _iso(known["payment_date"]), "status": "voided", "voided_at": _day_start(voided_on),
               "erp_modified_at": None}
        return self.pending(known["procore_project_id"], fields, row, known)

    def pending(self, project_id: int, fields: dict, row: dict, known: dict | None) -> Pending | None:
        fingerprint = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()
        if known is not None and known["fingerprint"] == fingerprint:
            self.counts["unchanged"] += 1
            return None
        row |= {"origin_id": fields["origin_id"], "fingerprint": fingerprint,
                "procore_payment_id": known["procore_payment_id"] if known else None}
        return Pending(project_id, fields, row, known)

    def void_note(self, voided_on: str | None, amount: Decimal | str) -> str:
        return f"Voided in {self.adapter.name}{' on ' + voided_on if voided_on else ''} (was {Decimal(amount):,.2f})."

    def check_invoice_number(self, invoice: Link) -> None:
        procore_number = invoice.record.number
        if invoice.erp_number and invoice.erp_number != procore_number[:len(invoice.erp_number)]:
            self.counts["invoice_number_mismatch"] += 1
            self.mismatches.append(f"Procore invoice {procore_number} is bill {invoice.erp_number} in {self.adapter.name}")

    # Writing ---------------------------------------------------------------------------------
    def send(self, pending: list[Pending]) -> None:
        by_project: dict[int, list[Pending]] = defaultdict(list)
        for item in pending:
            by_project[item.project_id].append(item)
        for project_id, items in by_project.items():
            for start in range(0, len(items), SYNC_BATCH):
                self.send_batch(project_id, items[start:start + SYNC_BATCH])

    def send_batch(self, project_id: int, items: list[Pending]) -> None:
        updates = []
        for item in items:
            if item.row["procore_payment_id"]:
                updates.append({**item.fields, "id": item.row["procore_payment_id"]})
            else:  # the payment number is the user's once it exists; it starts as the check number
                updates.append({**item.fields, "payment_number": item.fields["check_number"]})
        answer = self.procore.sync_payments(project_id, updates)
        written = {entity["origin_id"]: entity for entity in answer.get("entities", [])}
        refused = {error.get("origin_id"): error.get("errors") for error in answer.get("errors", [])}
        now = utcnow()
        with self.store.transaction() as tx:
            for item in items:
                origin_id = item.fields["origin_id"]
                entity = written.get(origin_id)
                if entity is None:
                    message = f"Procore refused the payment: {refused.get(origin_id) or 'no answer for it'}"
                    row = {**item.row, "colour": Colour.RED.value, "message": message, "fingerprint": None}
                    self.counts["refused_by_procore"] += 1
                else:
                    row = {**item.row, "procore_payment_id": entity["id"], "colour": Colour.GREEN.value,
                           "message": self.mismatch_message(item)}
                    self.counts[self.outcome(item)] += 1
                tx.execute("upsert_payment", integration_id=self.integration_id, now=now, **row)
                audit(tx, "payment", origin_id, self.outcome(item) if entity else "refused", actor=self.actor,
                      integration_id=self.integration_id,
                      old_state=item.known["status"] if item.known else None, new_state=row["status"],
                      detail={"amount": row["amount"], "date": row["payment_date"],
                              "old_amount": item.known["amount"] if item.known else None,
                              "old_date": item.known["payment_date"] if item.known else None,
                              "procore_payment_id": row["procore_payment_id"]})

    @staticmethod
    def outcome(item: Pending) -> str:
        if item.row["status"] == "voided" and (item.known is None or item.known["status"] != "voided"):
            return "voided"
        return "changed" if item.known is not None else "new"

    def mismatch_message(self, item: Pending) -> str | None:
        erp_number, number = item.row["erp_bill_number"], item.row["invoice_number"]
        if numbers_differ(number, erp_number):
            return f"Invoice number {number} in Procore does not match bill number {erp_number} in {self.adapter.name}."
        return None


def numbers_differ(invoice_number: str | None, erp_bill_number: str | None) -> bool:
    """The ERP's bill number is not the Procore invoice number (an ERP may cut it short, never change it)."""
    return bool(erp_bill_number) and erp_bill_number != (invoice_number or "")[:len(erp_bill_number)]


def _day_start(day: str | None) -> datetime | None:
    return datetime.fromisoformat(day).replace(tzinfo=UTC) if day else None


def _iso(value: Any) -> str | None:
    return value.isoformat()[:10] if hasattr(value, "isoformat") else (str(value)[:10] if value else None)
