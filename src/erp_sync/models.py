"""Validated shapes of what people and configuration hand to the pipelines."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


class ErpKind(StrEnum):
    ACUMATICA = "acumatica"
    QUICKBOOKS_ONLINE = "quickbooks_online"
    SAGE_300_CRE = "sage300_cre"
    SAGE_100_CONTRACTOR = "sage100_contractor"

    @property
    def display_name(self) -> str:
        """The ERP's name as Procore's messages spell it."""
        return _DISPLAY_NAMES[self]


_DISPLAY_NAMES = {
    ErpKind.ACUMATICA: "Acumatica Cloud ERP",
    ErpKind.QUICKBOOKS_ONLINE: "QuickBooks® Online",
    ErpKind.SAGE_300_CRE: "Sage 300 CRE®",
    ErpKind.SAGE_100_CONTRACTOR: "Sage 100 Contractor®",
}

class SyncSchedule(StrEnum):
    """How often an integration's hourly sync runs, as Procore offers it; ``never`` syncs on demand only."""

    HOURLY = "hourly"
    EVERY_2_HOURS = "every_2_hours"
    EVERY_4_HOURS = "every_4_hours"
    DAILY = "daily"
    NEVER = "never"

    @property
    def hours(self) -> int | None:
        return {"hourly": 1, "every_2_hours": 2, "every_4_hours": 4, "daily": 24}.get(self.value)


CONN_ID = Field(min_length=1, max_length=250, pattern=r"^[A-Za-z0-9_.\-]+$")


def integration_name(typed: str | None) -> str:
    """An integration's name as the pipelines compare it, however it was typed (table, form, command
    line): without the spaces, tabs or line breaks around it."""
    return (typed or "").strip()


IntegrationName = Annotated[str, BeforeValidator(lambda typed: integration_name(typed) if isinstance(typed, str)
                                                 else typed)]


class ExportMode(StrEnum):
    """How approved Procore records reach the ERP (SPEC "Accounting acceptance")."""

    ACCEPTANCE = "acceptance"  # they wait under Ready to Export until an accounting approver accepts them
    DIRECT = "direct"          # Procore's "ERP Direct Export": straight to the ERP at the next sync


class Integration(BaseModel):
    """A Procore company paired with one ERP connection; each runs as its own mapped task."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: IntegrationName = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    procore_conn_id: str = CONN_ID
    procore_company_id: int = Field(gt=0)
    erp_kind: ErpKind
    erp_conn_id: str = CONN_ID
    enabled: bool = True
    sync_schedule: SyncSchedule = SyncSchedule.HOURLY
    max_staleness_hours: int = Field(default=6, ge=1, le=24, description=(
        "the longest a change in Procore may wait before the sync reads it; every project is read at least "
        "this often, and at least once a day"))
    export_mode: ExportMode = ExportMode.ACCEPTANCE

    @model_validator(mode="after")
    def staleness_fits_the_schedule(self) -> Integration:
        hours = self.sync_schedule.hours
        if hours is not None and self.max_staleness_hours < hours:
            raise ValueError(f"a sync that runs {self.sync_schedule.value.replace('_', ' ')} cannot keep changes "
                             f"fresher than {hours} hour(s): raise max_staleness_hours to at least {hours}")
        return self


class RecordType(StrEnum):
    """The Procore records that the hourly sync exports, as the unlink articles name them."""

    COMMITMENT = "commitment"
    COMMITMENT_CHANGE_ORDER = "commitment_change_order"
    SUBCONTRACTOR_INVOICE = "subcontractor_invoice"

    @property
    def noun(self) -> str:
        """How Procore's messages name the record: "The CCO is still in ..."."""
        return {RecordType.COMMITMENT: "commitment", RecordType.COMMITMENT_CHANGE_ORDER: "CCO",
                RecordType.SUBCONTRACTOR_INVOICE: "requisition"}[self]

    @property
    def words(self) -> str:
        """How ERP Sync's own sentences name the record ("subcontractor invoice", as the tab says);
        sentences quoted from Procore keep ``noun``."""
        return {RecordType.COMMITMENT: "commitment", RecordType.COMMITMENT_CHANGE_ORDER: "commitment change order",
                RecordType.SUBCONTRACTOR_INVOICE: "subcontractor invoice"}[self]


class Colour(StrEnum):
    """Procore's ERP icon colours."""

    GREEN = "GREEN"    # synced
    BLUE = "BLUE"      # sent, waiting for the ERP or for the write-back to Procore, or for accounting acceptance
    YELLOW = "YELLOW"  # rejected in the ERP, or by accounting
    RED = "RED"        # failed, with the reason
