"""What a document's header or line names of the reference data, and what the ERP calls it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class ReferenceKind(StrEnum):
    PROJECT = "project"
    SUB_JOB = "sub_job"
    COST_CODE = "cost_code"
    COST_TYPE = "cost_type"
    VENDOR = "vendor"

    @property
    def label(self) -> str:
        """How a sentence names the kind: "cost code", "sub job"."""
        return self.value.replace("_", " ")


@dataclass(frozen=True)
class ProcoreRef:
    """A Procore item a record or one of its lines names: its id, and how a person recognises it."""

    kind: ReferenceKind
    procore_id: str
    code: str               # project_number, full_code, line item type code, vendor abbreviated name
    name: str
    project_id: int | None = None  # sub jobs and cost codes belong to a project


@dataclass(frozen=True)
class ErpItem:
    """One item of the ERP's reference data, as its documents name it."""

    kind: ReferenceKind
    erp_id: str             # the key a document takes: Acumatica ProjectID/ProjectTaskID/CostCodeID/AccountGroupID/
                            # VendorID, Sage job/extra/phase/cost code/category/cost type/vendor, QuickBooks Id
    code: str
    name: str
    active: bool = True
    posts_to: str | None = None  # Acumatica: the expense Account a cost type's account group posts to


class ReferenceLinks(Protocol):
    """The integration's confirmed links: the ERP item a Procore item is linked to, if any."""

    def erp_item(self, ref: ProcoreRef) -> ErpItem | None: ...
