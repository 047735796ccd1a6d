"""Sage 300 CRE (Timberline): read over its ODBC driver, written through Sage's import files.

Tables (ODBC names, ``docs/rules.md`` "Vendor facts the code relies on" and Timberline queries in public AP tools):
``MASTER_APM_VENDOR`` vendors, ``JCM_MASTER__COMMITMENT`` commitments (``Closed`` = 1 once closed),
``JCM_MASTER__COMMITMENT_CO`` commitment change orders, ``APM_MASTER__INVOICE`` AP invoices and
``APM_MASTER__PAYMENT`` the checks that paid them (``Void_Date`` set once voided). The driver gives
no change dates, so every read is whole and the caller compares it with what it saw last time.

Imports (comma-separated text, dates mm/dd/yyyy): Accounts Payable's invoice import takes an
``API`` record (vendor, invoice, description, amount, invoice date, payment date, accounting date,
commitment) followed by ``APD`` distribution records (commitment, commitment line, expense account,
amount, description), the Timberline layout that AP tools publish; Job Cost's commitment import
takes a ``C`` record (commitment, vendor, description, type, date, job) with ``CI`` items and a
``CCO`` record per commitment change order.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

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

    @staticmethod
    def commitment_import(commitment: str, vendor: str, job: str, description: str, kind: str, on: str | None,
                          amount: Decimal) -> list[list]:
        return [["C", commitment, vendor, description, kind, on, job],
                ["CI", commitment, 1, description, f"{amount:.2f}"]]

    @staticmethod
    def change_order_import(commitment: str, change_order: str, description: str, on: str | None,
                            amount: Decimal) -> list[list]:
        return [["CCO", commitment, change_order, description, on, f"{amount:.2f}"]]

    @staticmethod
    def invoice_import(vendor: str, invoice: str, description: str, amount: Decimal, on: str | None,
                       commitment: str | None) -> list[list]:
        return [["API", vendor, invoice, description, f"{amount:.2f}", on, on, on, commitment],
                ["APD", commitment, 1, "", f"{amount:.2f}", description]]
