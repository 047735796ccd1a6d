"""Builds the hooks and ERP adapters an integration needs from its configuration."""

from __future__ import annotations

from erp_connectors.acumatica import AcumaticaHook
from erp_connectors.base import VendorHook
from erp_connectors.procore import ProcoreHook
from erp_connectors.quickbooks import QuickBooksHook
from erp_sync.erps.acumatica import AcumaticaAdapter
from erp_sync.erps.base import ErpAdapter
from erp_sync.erps.quickbooks import QuickBooksAdapter
from erp_sync.models import ErpKind
from erp_sync.store import RefreshTokens, Store

ERP_ADAPTERS: dict[ErpKind, type[ErpAdapter]] = {
    ErpKind.ACUMATICA: AcumaticaAdapter,
    ErpKind.QUICKBOOKS_ONLINE: QuickBooksAdapter,
}


def procore_hook(integration: dict) -> ProcoreHook:
    return ProcoreHook(integration["procore_conn_id"], integration["procore_company_id"])


def erp_hook(integration: dict, store: Store) -> VendorHook | None:
    """The ERP's hook, or None while no connector for that ERP is installed."""
    kind = ErpKind(integration["erp_kind"])
    if kind is ErpKind.ACUMATICA:
        return AcumaticaHook(integration["erp_conn_id"])
    if kind is ErpKind.QUICKBOOKS_ONLINE:
        return QuickBooksHook(integration["erp_conn_id"], token_store=RefreshTokens(store))
    return None


def erp_adapter(integration: dict, store: Store) -> ErpAdapter:
    kind = ErpKind(integration["erp_kind"])
    hook = erp_hook(integration, store)
    if hook is None or kind not in ERP_ADAPTERS:
        raise NotImplementedError(f"No connector for {kind.display_name} is installed")
    return ERP_ADAPTERS[kind](hook)
