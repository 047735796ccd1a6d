"""Procore asked again before anything is sent from an earlier read, and told apart from the ERP afterwards.

A record that waited (for accounting acceptance, for a retry, for the vendor to be mapped) is sent
from the snapshot its link keeps. Before the ERP gets it, Procore is asked for the record as it is
now, one call: deleted there (404), or no longer approved, means nothing is sent and the link ends
with a sentence saying so. The check narrows the race but cannot close it: where the ERP created
the document and Procore then answers 404 to the write-back, the record was deleted in between;
the link turns RED with what to do in the ERP, and the ERP is not blamed.
"""

from __future__ import annotations

from collections.abc import Callable

from erp_sync.store import Store
from erp_sync.sync.records import ProcoreRecord

DELETED_IN_PROCORE = "deleted_in_procore"   # the ERP holds a document whose Procore record is gone
NO_LONGER_APPROVED = "no_longer_approved"


class NotSendable(Exception):
    """Procore no longer has the record, or it is no longer approved: nothing may be sent."""

    def __init__(self, reason_code: str, message: str):
        super().__init__(message)
        self.reason_code, self.message = reason_code, message


def capitalised(record: ProcoreRecord) -> str:
    what = record.record_type.words
    return f"{what[:1].upper()}{what[1:]}"


def named(store: Store, integration_id: int, record: ProcoreRecord) -> str:
    """"Commitment SC-002 of Harbor Point Tower": the record's number and its project's name where the
    store knows it (a commitment's snapshot names its project), else the project's id."""
    project = record.project_name
    if project is None:
        row = store.one("commitment_snapshot_of_project", integration_id=integration_id, project_id=record.project_id)
        project = ProcoreRecord.from_snapshot(row["procore_json"]).project_name if row else None
    return f"{capitalised(record)} {record.number} of {project or f'project {record.project_id}'}"


def check_still_approved(current: ProcoreRecord | None, name: Callable[[], str], waited_for: str) -> None:
    """NotSendable unless the record as Procore holds it now (``current``, None when Procore answered 404)
    is still approved; ``name`` names it, ``waited_for`` says since when it waited."""
    if current is None:
        raise NotSendable(DELETED_IN_PROCORE, f"{name()} was deleted in Procore {waited_for}; nothing was exported.")
    if not current.exportable:
        raise NotSendable(NO_LONGER_APPROVED, f"{name()} is no longer approved in Procore (status "
                                              f"{current.status or 'none'}); nothing was exported.")


def orphaned_in_erp(name: str, document: str, erp: str) -> str:
    """The write-back met a 404: the ERP created ``document`` (e.g. "Subcontract 000123") for a record
    deleted in Procore meanwhile; someone must remove it there."""
    return f"{name} was deleted in Procore after {document} was created in {erp}: delete or void {document} in {erp}."
