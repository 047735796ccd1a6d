"""Builds the hooks an integration needs from its configuration."""

from __future__ import annotations

from erp_connectors.base import VendorHook
from erp_connectors.procore import ProcoreHook
from erp_sync.models import ErpKind

ERP_HOOKS: dict[ErpKind, type[VendorHook]] = {}


def procore_hook(integration: dict) -> ProcoreHook:
    return ProcoreHook(integration["procore_conn_id"], integration["procore_company_id"])


def erp_hook(integration: dict) -> VendorHook | None:
    """The ERP's hook, or None while no connector for that ERP is installed."""
    hook_class = ERP_HOOKS.get(ErpKind(integration["erp_kind"]))
    return hook_class(integration["erp_conn_id"]) if hook_class else None
