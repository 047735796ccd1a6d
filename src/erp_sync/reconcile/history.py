"""The reconciliation in the status store: every commitment's figures rewritten, each difference opened
when first seen and closed when no longer seen (``docs/reconciliation.md``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from erp_sync.reconcile.model import Reconciled
from erp_sync.store import Store

TOTALLED = ("revised", "invoiced", "paid")  # the figures the page totals per project


@dataclass(frozen=True)
class Saved:
    opened: int
    closed: int


def save(store: Store, integration_id: int, results: list[Reconciled], now: datetime) -> Saved:
    """In one transaction, so a page never shows half a reconciliation."""
    with store.transaction() as tx:
        open_before = {(row["procore_commitment_id"], row["figure"], row["cause"], row["subject"]): row["id"]
                       for row in tx.rows("open_reconciliation_differences", integration_id=integration_id)}
        tx.execute("delete_reconciliation_figures", integration_id=integration_id)
        rows = [figures_row(integration_id, r, now) for r in results]
        tx.execute_many("insert_reconciliation_figures", rows)
        tx.execute("delete_reconciliation_projects", integration_id=integration_id)
        tx.execute_many("insert_reconciliation_project", project_rows(integration_id, rows, now))
        opened, seen = [], []
        for result in results:
            for difference in result.differences:
                key = (result.commitment_id, difference.figure.value, difference.cause.value, difference.subject)
                values = {"sentence": difference.sentence, "procore_amount": difference.procore_amount,
                          "erp_amount": difference.erp_amount, "now": now}
                if key in open_before:
                    seen.append(values | {"id": open_before.pop(key)})
                else:
                    opened.append(values | {"integration_id": integration_id, "procore_commitment_id": key[0],
                                            "procore_project_id": result.project_id, "figure": key[1],
                                            "cause": key[2], "subject": key[3]})
        tx.execute_many("open_reconciliation_difference", opened)
        tx.execute_many("see_reconciliation_difference", seen)
        tx.execute_many("close_reconciliation_difference", [{"id": i, "now": now} for i in open_before.values()])
    return Saved(len(opened), len(open_before))


def project_rows(integration_id: int, figures: list[dict], now: datetime) -> list[dict]:
    """Each project's totals, added up once here rather than on every page."""
    projects: dict[int, dict] = {}
    for row in figures:
        project = projects.setdefault(row["procore_project_id"], {
            "integration_id": integration_id, "procore_project_id": row["procore_project_id"],
            "project_name": row["project_name"], "commitments": 0, "differing": 0, "reconciled_at": now,
            **{f"{side}_{figure}_amount": Decimal(0) for figure in TOTALLED for side in ("procore", "erp")},
            "difference_amount": Decimal(0)})
        project["commitments"] += 1
        project["differing"] += row["differs"]
        for key in [f"{side}_{figure}_amount" for figure in TOTALLED for side in ("procore", "erp")] + [
                "difference_amount"]:
            project[key] += row[key] or 0
    return list(projects.values())


def figures_row(integration_id: int, result: Reconciled, now: datetime) -> dict:
    causes = sorted({difference.cause.value for difference in result.differences})
    return {"integration_id": integration_id, "procore_commitment_id": result.commitment_id,
            "procore_project_id": result.project_id, "project_name": result.project_name,
            "commitment_number": result.number, "commitment_title": result.title[:300], "erp_ref": result.erp_ref,
            **result.procore.as_row("procore"), **result.erp.as_row("erp"), "differs": int(result.differs),
            "difference_amount": result.difference_amount, "causes": ",".join(causes)[:300], "reconciled_at": now}
