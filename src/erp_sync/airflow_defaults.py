"""Conventions every ERP Sync DAG shares: start date, retries with backoff, pools, tags."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowFailException

from erp_connectors.base import VendorApiError, VendorUnavailable
from erp_sync.notify import notify_operations

log = logging.getLogger(__name__)
START_DATE = datetime(2026, 1, 1)

# Airflow's retries of a task come on top of each call's own (erp_connectors.base.RetryPolicy), so they
# are few and short: a failure reaches operations within minutes. (``retry_exponential_backoff`` is a
# multiplier in Airflow 3: ``True`` would be 1, a constant delay.)
DEFAULT_ARGS = {
    "owner": "erp-sync",
    "retries": 2,
    "retry_delay": timedelta(seconds=20),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=1),
}

# Every DAG tells operations, once per run, of a failure or of links turned RED (erp_sync.notify).
OPERATIONS_CALLBACKS = {"on_success_callback": notify_operations, "on_failure_callback": notify_operations}

# One pool per vendor, sized so its tasks together stay inside the vendor's documented limit
# (include/pools.json says how each size was chosen).
PROCORE_POOL = "procore_api"
ERP_POOLS = {"acumatica": "acumatica_api", "quickbooks_online": "quickbooks_api",
             "sage300_cre": "sage_onprem", "sage100_contractor": "sage_onprem"}

# Tasks that touch an on-premises ERP run on this Celery queue, served by a worker inside the
# contractor's network; everything else runs on the default queue, in the cloud.
ONPREM_QUEUE = "sage_onprem"
CLOUD_QUEUE = "default"
ONPREM_KINDS = frozenset({"sage300_cre", "sage100_contractor"})


def queue_for(erp_kind: str) -> str:
    return ONPREM_QUEUE if erp_kind in ONPREM_KINDS else CLOUD_QUEUE


# The label of a task mapped over integrations, in the grid and the task's page: the integration's name,
# from the task's own input, so it shows from the moment the task starts (and while it waits to retry),
# not only once it has finished.
INTEGRATION_NAME = "{{ task.op_kwargs['integration']['name'] }}"

# Emitted by each integration's successful hourly sync (the event's extra names the integration);
# the payment import and the unlink queue are scheduled on it.
HOURLY_SYNC_DONE = Asset("erp_sync_hourly_sync")
# Emitted once a day, by the hourly sync's run of DAILY_SUMMARY_HOUR (UTC) once every integration's sync of
# that run has ended; the daily summary is scheduled on it, so it reports on a finished sync.
DAILY_SYNC_DONE = Asset("erp_sync_daily_sync")
DAILY_SUMMARY_HOUR = 6


def starts_daily_summary(run_type: str, logical_date: datetime | None) -> bool:
    """Whether this hourly sync run is the day's one that the daily summary follows: the scheduled run of
    DAILY_SUMMARY_HOUR, never one a person triggered."""
    return run_type == "scheduled" and logical_date is not None and logical_date.hour == DAILY_SUMMARY_HOUR


# Emitted when a request is filed through the form, so the queue runs at once instead of at its next tick.
UNLINK_REQUESTED = Asset("erp_sync_unlink_requested")


SITE_QUEUES = {"cloud": CLOUD_QUEUE, "onprem": ONPREM_QUEUE}


def on_site(site: str, integrations: list[dict]) -> list[dict]:
    """The integrations whose ERP is reached from this site: "cloud", or "onprem" (the on-premises worker)."""
    return [row for row in integrations if queue_for(row["erp_kind"]) == SITE_QUEUES[site]]


def map_on_each_site(mapped_task, select) -> None:
    """Map a per-integration task once per site: over cloud integrations on the default queue, and over
    on-premises ones (ids suffixed ``_onprem``) on the on-premises queue. ``select`` is a task taking
    ``site`` and returning that site's integrations."""
    for site, queue in SITE_QUEUES.items():
        suffix = "_onprem" if site == "onprem" else ""
        selected = select.override(task_id=f"{select.function.__name__}{suffix}")(site=site)
        mapped_task.override(task_id=f"{mapped_task.function.__name__}{suffix}", queue=queue).expand(
            integration=selected)


@contextmanager
def fail_fast_on_refusals() -> Iterator[None]:
    """A vendor's 4xx (credentials, company, a bad request) will not heal on retry, and a vendor that
    stayed unavailable through a call's retries (``RetryPolicy``) is not called again within minutes:
    fail at once, so operations hear of it now; the next scheduled run tries again."""
    try:
        yield
    except Exception as error:
        unavailable = isinstance(error, VendorUnavailable) or isinstance(error.__cause__, VendorUnavailable)
        refused = isinstance(error, VendorApiError) and 400 <= error.status < 500
        if unavailable or refused:
            raise AirflowFailException(str(error)) from error
        raise


def refusal(sentence: str) -> AirflowFailException:
    """A person's request turned down: the sentence goes into the task log on its own, as its first
    error, and the task fails without retries. (Airflow 3.3 gives a task no way to write its run's note:
    the Execution API sets a note only on a run that a task triggers.)"""
    log.error(sentence)
    return AirflowFailException(sentence)
