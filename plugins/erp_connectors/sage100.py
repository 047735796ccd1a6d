"""Sage 100 Contractor: read from its SQL Server database, written through import files.

Tables (Sage 100 Contractor's data dictionary; column lists as in vimalgupta1980/dotnetlibs
``SysconCommon/SMBClasses``): ``actpay`` vendors (``recnum``, ``vndnme``, ``status``), ``subcon``
6-7-1 Subcontracts (``ctcnum``, ``vndnum``, ``ctcttl`` the revised total), ``sbcgln`` subcontract
change order lines (``chgnum``, ``vndctc`` the subcontract, ``bdgprc``, ``chgsts``), ``acpinv``
4-2 Payable Invoices (``invnum``, ``vndnum``, ``invttl``, ``amtpad``, ``invbal``, ``status``)
with its grid ``apivln``, and ``acppmt`` the payments of an invoice (``recnum`` the invoice,
``chknum``, ``chkdte``, ``amount``, ``paytyp``, ``vodrec`` non-zero once the check was voided).
Every table carries ``insdte``/``upddte``, so reads ask only for rows changed since the last one.

Imports: the 4-2 Payable Invoices layout (``APINV`` with an ``H`` header: invoice no, vendor no,
description, invoice date, due date, discount date, status, type, PO no, subcontract no, job; and
``D`` lines), the 6-7-1 Subcontracts layout (``PJSC`` ``H``/``D``), and ``PJSCCO`` for a
subcontract change order, as Sage 100 Contractor import templates lay them out.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from erp_connectors.sage_sql import SageSqlHook, SageTable

PAID_STATUS = 4
CREDIT_CARD_PAYMENT = 2


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Subcontract(_Row):
    recnum: int
    ctcnum: str
    vndnum: int
    usrdf1: str
    ctcttl: Decimal
    status: int | None = None


class ChangeOrder(_Row):
    recnum: int
    linnum: int
    chgnum: str
    vndctc: int
    usrdf1: str
    bdgprc: Decimal
    chgsts: int | None = None


class Invoice(_Row):
    recnum: int
    invnum: str
    vndnum: int
    ctcnum: str | None = None  # the subcontract the invoice bills (its record number, as the import writes it)
    usrdf1: str
    invttl: Decimal
    invbal: Decimal | None = None
    status: int | None = None


class Payment(_Row):
    recnum: int
    linnum: int
    chknum: str
    chkdte: date
    amount: Decimal
    paytyp: int | None = None
    vodrec: int = 0
    upddte: datetime | None = None


SUBCONTRACTS = SageTable("subcon", ("recnum",), Subcontract, "usrdf1", "vndnum")
CHANGE_ORDERS = SageTable("sbcgln", ("recnum", "linnum"), ChangeOrder, "usrdf1")
INVOICES = SageTable("acpinv", ("recnum",), Invoice, "usrdf1", "vndnum")
PAYMENTS = SageTable("acppmt", ("recnum", "linnum"), Payment, "chknum")


class Sage100Hook(SageSqlHook):
    vendor = "sage100"
    conn_name_attr = "conn_id"
    default_conn_name = "sage100_default"
    conn_type = "generic"
    hook_name = "Sage 100 Contractor (SQL Server)"
    change_column = "upddte"

    def vendors(self) -> dict[str, str]:
        rows = self.select("actpay", ["recnum", "vndnme", "status"])
        return {str(row["recnum"]): row["vndnme"] for row in rows if row["vndnme"] and (row["status"] or 1) == 1}

    @staticmethod
    def subcontract_import(number: str, vendor: str, job: str, description: str, mark: str, on: date | None,
                           amount: Decimal) -> list[list]:
        return [["PJSC", "H", number, on, vendor, job, description, "", "", mark, "", 4],
                ["PJSC", "D", number, description, f"{amount:.2f}"]]

    @staticmethod
    def change_order_import(subcontract: str, number: str, description: str, mark: str, on: date | None,
                            amount: Decimal) -> list[list]:
        return [["PJSCCO", "H", subcontract, number, on, description, mark, 1],
                ["PJSCCO", "D", subcontract, number, description, f"{amount:.2f}"]]

    @staticmethod
    def invoice_import(number: str, vendor: str, description: str, mark: str, on: date | None,
                       subcontract: str | None, job: str, amount: Decimal) -> list[list]:
        return [["APINV", "H", number, vendor, description, on, on, on, 1, 1, "", subcontract, job, "", "", "",
                 mark],
                ["APINV", "D", number, description, f"{amount:.2f}"]]
