"""Validated shapes of what people and configuration hand to the pipelines."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


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

CONN_ID = Field(min_length=1, max_length=250, pattern=r"^[A-Za-z0-9_.\-]+$")


class ExportMode(StrEnum):
    """How approved Procore records reach the ERP (SPEC "Accounting acceptance")."""

    ACCEPTANCE = "acceptance"  # they wait under Ready to Export until an accounting approver accepts them
    DIRECT = "direct"          # Procore's "ERP Direct Export": straight to the ERP at the next sync


class Integration(BaseModel):
    """A Procore company paired with one ERP connection; each runs as its own mapped task."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    procore_conn_id: str = CONN_ID
    procore_company_id: int = Field(gt=0)
    erp_kind: ErpKind
    erp_conn_id: str = CONN_ID
    enabled: bool = True
    export_mode: ExportMode = ExportMode.ACCEPTANCE


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


class Colour(StrEnum):
    """Procore's ERP icon colours."""

    GREEN = "GREEN"    # synced
    BLUE = "BLUE"      # sent, waiting for the ERP or for the write-back to Procore, or for accounting acceptance
    YELLOW = "YELLOW"  # rejected in the ERP, or by accounting
    RED = "RED"        # failed, with the reason
