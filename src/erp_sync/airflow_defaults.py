"""Conventions every ERP Sync DAG shares: start date, retries with backoff, pools, tags."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowFailException

from erp_connectors.base import VendorApiError

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
ERP_POOLS = {"acumatica": "acumatica_api", "quickbooks_online": "quickbooks_api"}

# Emitted by each integration's successful hourly sync (the event's extra names the integration);
# the payment import and the unlink queue are scheduled on it.
HOURLY_SYNC_DONE = Asset("erp_sync_hourly_sync")
# Emitted when a request is filed through the form, so the queue runs at once instead of at its next tick.
UNLINK_REQUESTED = Asset("erp_sync_unlink_requested")


@contextmanager
def fail_fast_on_refusals() -> Iterator[None]:
    """A vendor's 4xx (credentials, company, a bad request) will not heal on retry: fail at once."""
    try:
        yield
    except VendorApiError as error:
        if 400 <= error.status < 500:
            raise AirflowFailException(str(error)) from error
        raise
