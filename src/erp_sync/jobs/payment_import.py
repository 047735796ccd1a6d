"""The payment import of one integration, after its hourly sync or on a person's demand."""

from __future__ import annotations

import logging

from erp_connectors.base import BudgetSpent
from erp_sync.budget import Work
from erp_sync.connectors import erp_adapter, procore_hook
from erp_sync.identity import ProcoreAccounts
from erp_sync.runs import tracked_run
from erp_sync.store import Store
from erp_sync.sync.links import LinkBook
from erp_sync.sync.payments import PaymentImporter

log = logging.getLogger(__name__)
JOB = "payment_import"


class PaymentSyncRefused(Exception):
    """The person who asked for an on-demand import may not start one."""


def with_requester(store: Store, integrations: list[dict], airflow_user: str | None) -> list[dict]:
    """On demand: each integration with the Procore user of the person who asked, as Procore confirms them
    (once per Procore connection); NotConnected if they have no working connection."""
    accounts, confirmed = ProcoreAccounts(store), {}
    for conn_id in sorted({row["procore_conn_id"] for row in integrations}):
        confirmed[conn_id] = accounts.verified(airflow_user, conn_id).procore_user_id
    return [dict(row, requested_by=confirmed[row["procore_conn_id"]]) for row in integrations]


def payment_sync_refusal(store: Store, integration: dict, airflow_user: str | None) -> str | None:
    """Before anything runs: why the person may not start an on-demand import now, in Procore's answer, or
    None if they may; NotConnected if they have no working Procore connection."""
    person = ProcoreAccounts(store).verified(airflow_user, integration["procore_conn_id"])
    with procore_hook(integration, store, Work.ON_DEMAND) as procore:
        return procore.payment_sync_refusal(person.procore_user_id)


def import_payments(store: Store, integration: dict, airflow_run_id: str | None,
                    requested_by: int | None = None) -> dict:
    """``requested_by`` is the Procore user behind an on-demand run; Procore is asked whether they may."""
    with tracked_run(store, JOB, integration, airflow_run_id) as run:
        work = Work.SYNC if requested_by is None else Work.ON_DEMAND  # after a sync it is scheduled work
        procore, adapter = procore_hook(integration, store, work), erp_adapter(integration, store)
        run.hooks += [procore, adapter.hook]
        if requested_by is not None:
            refusal = procore.payment_sync_refusal(requested_by)
            if refusal:
                run.counts["refused_on_demand"] = 1
                raise PaymentSyncRefused(refusal)
        actor = f"{JOB}:{airflow_run_id}" + (f" for Procore user {requested_by}" if requested_by else "")
        importer = PaymentImporter(store, integration["id"], procore, adapter,
                                   LinkBook(store, integration["id"], actor, run.run_id), run.counts, actor)
        try:
            importer.run()
        except BudgetSpent as spent:  # the import repeats harmlessly: the next one writes what this one left
            run.counts["left_for_later"] = 1
            log.info("Payment import for %s stopped: %s", integration["name"], spent)
        for mismatch in importer.mismatches:
            log.warning("Invoice number mismatch for %s: %s", integration["name"], mismatch)
    return run.summary()
