"""Conventions every ERP Sync DAG shares: start date, retries with backoff, pools, tags."""

from __future__ import annotations

from datetime import datetime, timedelta

START_DATE = datetime(2026, 1, 1)

DEFAULT_ARGS = {
    "owner": "erp-sync",
    "retries": 4,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=15),
}

# One pool per vendor, sized so its tasks together stay inside the vendor's documented limit
# (include/pools.json says how each size was chosen).
PROCORE_POOL = "procore_api"
ERP_POOLS = {
    "acumatica": "acumatica_api",
    "quickbooks_online": "quickbooks_api",
    "sage300_cre": "sage_onprem",
    "sage100_contractor": "sage_onprem",
}
