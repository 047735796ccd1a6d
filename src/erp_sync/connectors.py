"""Builds the hooks and ERP adapters an integration needs from its configuration."""

from __future__ import annotations

from erp_connectors.acumatica import AcumaticaHook
from erp_connectors.base import VendorHook
from erp_connectors.procore import ProcoreHook
from erp_connectors.quickbooks import QuickBooksHook
from erp_connectors.sage100 import Sage100Hook
from erp_connectors.sage300 import Sage300Hook
from erp_connectors.sage_sql import SageSqlHook
from erp_sync.erps.acumatica import AcumaticaAdapter
from erp_sync.erps.base import ErpAdapter
from erp_sync.erps.quickbooks import QuickBooksAdapter
from erp_sync.erps.sage100 import Sage100Adapter
from erp_sync.erps.sage300 import Sage300Adapter
from erp_sync.models import ErpKind
from erp_sync.store import RefreshTokens, Store

ERP_ADAPTERS: dict[ErpKind, type[ErpAdapter]] = {
    ErpKind.ACUMATICA: AcumaticaAdapter,
    ErpKind.QUICKBOOKS_ONLINE: QuickBooksAdapter,
    ErpKind.SAGE_300_CRE: Sage300Adapter,
    ErpKind.SAGE_100_CONTRACTOR: Sage100Adapter,
}
SQL_HOOKS = {ErpKind.SAGE_300_CRE: Sage300Hook, ErpKind.SAGE_100_CONTRACTOR: Sage100Hook}
ERP_HOOKS = {ErpKind.ACUMATICA: AcumaticaHook, ErpKind.QUICKBOOKS_ONLINE: QuickBooksHook, **SQL_HOOKS}


def vendors_of(integration: dict) -> list[str]:
    """The vendors an integration's jobs call, as their hooks name them in each run's API calls."""
    return [ProcoreHook.vendor, ERP_HOOKS[ErpKind(integration["erp_kind"])].vendor]


def procore_hook(integration: dict) -> ProcoreHook:
    return ProcoreHook(integration["procore_conn_id"], integration["procore_company_id"])


def erp_hook(integration: dict, store: Store) -> VendorHook | SageSqlHook:
    kind = ErpKind(integration["erp_kind"])
    if kind is ErpKind.ACUMATICA:
        return AcumaticaHook(integration["erp_conn_id"])
    if kind is ErpKind.QUICKBOOKS_ONLINE:
        return QuickBooksHook(integration["erp_conn_id"], token_store=RefreshTokens(store))
    return SQL_HOOKS[kind](integration["erp_conn_id"])


def erp_adapter(integration: dict, store: Store) -> ErpAdapter:
    return ERP_ADAPTERS[ErpKind(integration["erp_kind"])](erp_hook(integration, store))
