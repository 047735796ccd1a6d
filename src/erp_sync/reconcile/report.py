"""The reconciliation in words: for the command line (text or JSON) and the daily summary."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from erp_sync.store import Store

PAGE_PATH = "/erp-sync/integrations/{name}/reconciliation"  # the UI plugin's Reconciliation page


def page_url(name: str) -> str:
    """The Reconciliation page's address, from Airflow's ``[api] base_url``."""
    from airflow.configuration import conf

    return conf.get("api", "base_url", fallback="http://localhost:8080").rstrip("/") + PAGE_PATH.format(name=name)


def summary_line(store: Store, integration: dict) -> str:
    """The daily summary's line: how many commitments differ and by how much, with the page's address."""
    return f"{Report.of(store, integration).headline()} {page_url(integration['name'])}"


@dataclass(frozen=True)
class Report:
    integration: str
    commitments: int
    differing: int
    difference_amount: Decimal
    differences: list[dict[str, Any]]

    @classmethod
    def of(cls, store: Store, integration: dict) -> Report:
        totals = store.one("reconciliation_totals", integration_id=integration["id"])
        differences = store.rows("open_differences_of_integration", integration_id=integration["id"])
        return cls(integration["name"], totals["commitments"], totals["differing"] or 0,
                   Decimal(str(totals["difference_amount"] or 0)), differences)

    def headline(self) -> str:
        if not self.commitments:
            return f"Reconciliation of {self.integration}: no commitment reconciled yet."
        if not self.differing:
            return f"Reconciliation of {self.integration}: Procore and the ERP agree on all {self.commitments} commitments."
        return (f"Reconciliation of {self.integration}: {self.differing} of {self.commitments} commitments differ, "
                f"by {self.difference_amount:,.2f} in all.")

    def text(self) -> str:
        lines = [self.headline()]
        for row in self.differences:
            lines.append(f"  {row['project_name'] or row['procore_project_id']} · {row['commitment_number']} · "
                         f"{row['figure']} · {row['cause']}: {row['sentence']}")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        keep = ("procore_commitment_id", "procore_project_id", "project_name", "commitment_number", "figure", "cause",
                "subject", "sentence", "procore_amount", "erp_amount", "first_seen_at")
        return {"integration": self.integration, "commitments": self.commitments, "differing": self.differing,
                "difference_amount": str(self.difference_amount),
                "differences": [{key: _plain(row[key]) for key in keep} for row in self.differences]}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return value.isoformat() if hasattr(value, "isoformat") else value
