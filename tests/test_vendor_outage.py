"""A vendor that keeps answering 503: the run fails with a handful of calls and operations hear of it
within 5 minutes, instead of retries nested inside retries hammering a vendor that asked for a pause."""

from __future__ import annotations

import math
import threading
import time
from datetime import timedelta

import pytest
from airflow.sdk.exceptions import AirflowFailException

from conftest import SyncedScene
from erp_connectors.base import VendorUnavailable
from erp_sync.airflow_defaults import fail_fast_on_refusals
from erp_sync.jobs.hourly_sync import refresh_integration

OPERATIONS_TOLD_WITHIN = timedelta(minutes=5)


@pytest.fixture
def virtual_waits(monkeypatch) -> list[float]:
    """The waits of this thread (the hook's retries) are recorded instead of slept: the test stays fast
    and still knows how long the run would have taken. The sandbox's server threads sleep for real."""
    waits: list[float] = []
    real_sleep, caller = time.sleep, threading.current_thread()
    monkeypatch.setattr(time, "sleep", lambda seconds: waits.append(seconds) if threading.current_thread() is caller
                        else real_sleep(seconds))
    return waits


def hourly_refresh_task():
    from airflow.dag_processing.dagbag import DagBag

    from conftest import ROOT

    dag = DagBag(dag_folder=str(ROOT / "dags" / "erp_hourly_sync.py")).dags["erp_hourly_sync"]
    return dag.get_task("sync_quickbooks_online.refresh")


def longest_retry_delays(task) -> list[float]:
    """Airflow's delay before each retry of ``task``, at its longest (Airflow adds up to one more
    ``min_backoff`` of jitter: TaskInstance.next_retry_datetime)."""
    delays = []
    for try_number in range(1, task.retries + 1):
        base = task.retry_delay.total_seconds()
        multiplier = task.retry_exponential_backoff
        min_backoff = math.ceil(base * multiplier ** (try_number - 1)) if multiplier not in (0, 1) else base
        longest = 2 * min_backoff - 1 if multiplier not in (0, 1) else base
        if task.max_retry_delay:
            longest = min(longest, task.max_retry_delay.total_seconds())
        delays.append(longest)
    return delays


def airflow_tries(error: BaseException, task) -> int:
    """How many tries Airflow gives the task for this failure: one when the task fails fast."""
    try:
        with fail_fast_on_refusals():
            raise error
    except AirflowFailException:
        return 1
    except BaseException:  # noqa: BLE001 - any other failure is retried
        return task.retries + 1


@pytest.mark.parametrize(("retry_after", "most_calls"), [(None, 4), (30, 4), (3600, 1)],
                         ids=["no-retry-after", "retry-after-30s", "retry-after-1h"])
def test_quickbooks_answering_503_fails_the_refresh_fast_and_operations_hear_within_5_minutes(
        sandbox, store, virtual_waits, retry_after, most_calls):
    """Each 503 may ask for a pause: it is honoured, and a pause longer than a call may wait ends the call."""
    scene = SyncedScene(sandbox, store)
    integration = scene.integrations["harbor-quickbooks"]
    before = sandbox.calls("quickbooks")
    sandbox.fault("quickbooks", status=503, retry_after=retry_after)

    started = time.monotonic()
    with pytest.raises(Exception) as failure:
        refresh_integration(store, integration, "outage")
    one_try = time.monotonic() - started + sum(virtual_waits)
    calls = sandbox.calls("quickbooks") - before
    task = hourly_refresh_task()
    tries = airflow_tries(failure.value, task)
    to_operations = tries * one_try + sum(longest_retry_delays(task)[:tries - 1])
    print(f"\nQuickBooks answering 503 ({f'Retry-After {retry_after} s' if retry_after else 'no Retry-After'}): {calls} call(s) in one try of "
          f"{one_try / 60:.1f} min; {tries} Airflow tr{'y' if tries == 1 else 'ies'}; operations told after "
          f"{to_operations / 60:.1f} min; the failure: {type(failure.value).__name__}: {failure.value}")

    assert isinstance(failure.value, VendorUnavailable)
    assert "quickbooks" in str(failure.value) and "503" in str(failure.value)
    assert calls <= most_calls
    assert all(wait >= (retry_after or 0) for wait in virtual_waits)  # the vendor's pause is honoured
    assert to_operations <= OPERATIONS_TOLD_WITHIN.total_seconds()
