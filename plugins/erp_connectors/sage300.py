"""Sage 300 CRE (Timberline): read over its ODBC driver, written through Sage's import files.

Tables (ODBC names, ``docs/rules.md`` "Vendor facts the code relies on" and Timberline queries in public AP tools):
``MASTER_APM_VENDOR`` vendors, ``JCM_MASTER__COMMITMENT`` commitments (``Closed`` = 1 once closed),
``JCM_MASTER__COMMITMENT_CO`` commitment change orders, ``APM_MASTER__INVOICE`` AP invoices and
``APM_MASTER__PAYMENT`` the checks that paid them (``Void_Date`` set once voided). The driver gives
no change dates, so every read is whole and the caller compares it with what it saw last time.

Imports (comma-separated text, dates mm/dd/yyyy) follow the company's import formats, kept as data in
``sage300_import_layout.json`` (Sage lets each company set them; the file holds the documented
default): Accounts Payable's ``API`` invoice record with one ``APD`` distribution per line, Job Cost's
``C`` commitment with one ``CI`` item per line, and ``CCO`` with one ``CCOI`` line per change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from erp_connectors.sage_sql import SageSqlHook, SageTable


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Commitment(_Row):
    Commitment: str
    Vendor: str
    Description: str
    Revised_Commitment: Decimal
    Amount_Invoiced: Decimal | None = None
    Closed: int = 0


class ChangeOrder(_Row):
    Commitment: str
    Commitment_CO: str
    Description: str
    Amount: Decimal
    Status: str | None = None


class Invoice(_Row):
    Vendor: str
    Invoice: str
    Commitment: str | None = None
    Description: str
    Original_Gross: Decimal
    Retainage: Decimal | None = None  # the retainage held, as the API import's Retainage sets it
    Amount_Paid: Decimal = Field(default=Decimal(0))
    Status: str | None = None


class Payment(_Row):
    Vendor: str
    Invoice: str
    Check: str
    Check_Date: date
    Check_Type: str | None = None
    Amount: Decimal
    Void_Date: date | None = None


COMMITMENTS = SageTable("JCM_MASTER__COMMITMENT", ("Commitment",), Commitment, "Description", "Vendor")
CHANGE_ORDERS = SageTable("JCM_MASTER__COMMITMENT_CO", ("Commitment", "Commitment_CO"), ChangeOrder, "Description")
INVOICES = SageTable("APM_MASTER__INVOICE", ("Vendor", "Invoice"), Invoice, "Description", "Vendor")
PAYMENTS = SageTable("APM_MASTER__PAYMENT", ("Vendor", "Invoice", "Check"), Payment, "Check", "Vendor")


class Sage300Hook(SageSqlHook):
    vendor = "sage300"
    conn_name_attr = "conn_id"
    default_conn_name = "sage300_default"
    conn_type = "generic"
    hook_name = "Sage 300 CRE (ODBC)"
    change_column = None  # no change dates over ODBC: callers compare with the last read

    def vendors(self) -> dict[str, str]:
        rows = self.select("MASTER_APM_VENDOR", ["Vendor", "Name", "Status"])
        return {row["Vendor"]: row["Name"] for row in rows
                if row["Vendor"] and row["Name"] and (row["Status"] or "Active") == "Active"}

    @cached_property
    def layout(self) -> ImportLayout:
        """The company's import format: the connection extra ``import_layout`` (a file), else the default."""
        configured = self.connection.extra_dejson.get("import_layout")
        return ImportLayout.load(Path(configured) if configured else DEFAULT_LAYOUT)


@dataclass(frozen=True)
class ImportLayout:
    """Which field goes where in each import record, as the company set up Sage's import formats."""

    records: dict[str, list[str]]

    @classmethod
    def load(cls, path: Path) -> ImportLayout:
        return cls(json.loads(path.read_text())["records"])

    def record(self, record_id: str, values: dict[str, Any]) -> list[Any]:
        fields = self.records[record_id]
        unknown = set(values) - set(fields)
        if unknown:
            raise ValueError(f"the {record_id} import record has no field {sorted(unknown)}")
        return [record_id, *(values.get(name) for name in fields[1:])]

    def read(self, record: list[str]) -> dict[str, str]:
        """A record of an import file by field name (what Sage's import does with the format)."""
        return dict(zip(self.records[record[0]], record, strict=False))


DEFAULT_LAYOUT = Path(__file__).with_name("sage300_import_layout.json")
