"""The Reconciliation view as a file: CSV (the standard library) or XLSX (openpyxl), with what the page
shows for the same filters: one row per commitment, both sides' figures and the open causes."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from openpyxl import Workbook

from erp_sync.reconcile.model import Cause
from erp_sync.reconcile.view import SIDE_BY_SIDE

COLUMNS: list[tuple[str, str]] = [
    ("Project id", "procore_project_id"), ("Project", "project_name"), ("Commitment", "commitment_number"),
    ("Title", "commitment_title"), ("ERP document", "erp_ref"),
    *[(f"{figure.title} ({side})", f"{key}_{figure.value}_amount")
      for figure in SIDE_BY_SIDE for side, key in (("Procore", "procore"), ("ERP", "erp"))],
    ("Differs", "differs"), ("Difference", "difference_amount"), ("Causes", "causes"), ("Reconciled at", "reconciled_at"),
]


def cells(row: dict[str, Any]) -> list[Any]:
    values = []
    for _title, key in COLUMNS:
        value = row[key]
        if key == "differs":
            value = "yes" if value else "no"
        elif key == "causes":
            value = "; ".join(Cause(code).title for code in (value or "").split(",") if code)
        elif key == "reconciled_at" and value is not None:
            value = value.strftime("%Y-%m-%d %H:%M UTC")
        values.append(value)
    return values


def as_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([title for title, _key in COLUMNS])
    writer.writerows([["" if v is None else (f"{v:.2f}" if isinstance(v, Decimal) else v) for v in cells(row)]
                      for row in rows])
    return buffer.getvalue()


def as_xlsx(rows: list[dict[str, Any]], title: str) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.append([name for name, _key in COLUMNS])
    for row in rows:
        sheet.append([float(v) if isinstance(v, Decimal) else v for v in cells(row)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
