"""What a document's header or line names of the reference data, and what the ERP calls it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


SUB_JOB_BILLER = "SubJob"  # a Procore cost code's ``biller_type`` when it is a sub job's own


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
    code: str               # project_number, sub job code, full_code, line item type code, vendor abbreviated name
    name: str
    project_id: int | None = None  # sub jobs and cost codes belong to a project
    sub_job_id: int | None = None  # a sub job's own cost codes belong to it (Procore's ``biller``)

    @property
    def scope(self) -> int:
        """Where an ERP item serves one Procore item only: the ERP's cost code serves each project's (and each
        sub job's) own cost code of that code, and an ERP job one project."""
        return self.sub_job_id or self.project_id or 0


@dataclass(frozen=True)
class ErpItem:
    """One item of the ERP's reference data, as its documents name it."""

    kind: ReferenceKind
    erp_id: str             # the key a document takes: Acumatica ProjectID/CostCodeID/AccountGroupID/VendorID,
                            # Sage job/cost code/category/cost type/vendor, QuickBooks Id; a sub job: its job and code
    code: str               # a sub job's: the ProjectTaskID, extra or phase a document takes beside the job
    name: str
    active: bool = True
    posts_to: str | None = None  # Acumatica: the expense Account a cost type's account group posts to
    project: str | None = None   # a sub job's ERP job
    default: bool = False        # Acumatica: the task its project marks Default (``ProjectTask.Default``)

    @classmethod
    def sub_job(cls, job: str, code: str, name: str, active: bool = True, default: bool = False) -> ErpItem:
        """A project task, extra or phase: its code is unique only within its job."""
        return cls(ReferenceKind.SUB_JOB, f"{job}/{code}", code, name, active, project=job, default=default)


class ReferenceLinks(Protocol):
    """The integration's confirmed links: the ERP item a Procore item is linked to, if any."""

    def erp_item(self, ref: ProcoreRef) -> ErpItem | None: ...

    def seen(self, ref: ProcoreRef) -> bool:
        """The reading of the reference data has met the item (linked or not)."""

    def default_task(self, project: ErpItem | None) -> ErpItem | None:
        """The task the ERP job marks Default (Acumatica's ``ProjectTask.Default``): where a line in no sub job
        goes."""

    def named(self, ref: ProcoreRef) -> ProcoreRef:
        """The ref with the code and name the reference data's reading gave the item (a line names its sub job by
        id and name only, a record its project by name), for the sentences people read."""
