"""Checks that every configured integration can reach Procore, its ERP and the status store."""

from __future__ import annotations

from erp_sync.budget import Work
from erp_sync.connectors import erp_hook, procore_hook
from erp_sync.runs import tracked_run
from erp_sync.store import Store

JOB = "connection_check"


def check_integration(store: Store, integration: dict, airflow_run_id: str | None) -> dict:
    with tracked_run(store, JOB, integration, airflow_run_id) as run:
        for hook in (procore_hook(integration, store, Work.ON_DEMAND), erp_hook(integration, store)):
            run.hooks.append(hook)
            run.counts.update(hook.check())
            run.counts[f"{hook.vendor}_checked"] = 1
    return run.summary()
