"""Sage 100 Contractor: read from its SQL Server database, written through import files.

Tables (Sage 100 Contractor's data dictionary; column lists as in vimalgupta1980/dotnetlibs
``SysconCommon/SMBClasses``): ``actpay`` vendors (``recnum``, ``vndnme``, ``status``), ``subcon``
6-7-1 Subcontracts (``ctcnum``, ``vndnum``, ``ctcttl`` the revised total), ``sbcgln`` subcontract
change order lines (``chgnum``, ``vndctc`` the subcontract, ``bdgprc``, ``chgsts``), ``acpinv``
4-2 Payable Invoices (``invnum``, ``vndnum``, ``invttl``, ``retain``, ``amtpad``, ``invbal``, ``status``)
with its grid ``apivln``, and ``acppmt`` the payments of an invoice (``recnum`` the invoice,
``chknum``, ``chkdte``, ``amount``, ``paytyp``, ``vodrec`` non-zero once the check was voided).
Every table carries ``insdte``/``upddte``, so reads ask only for rows changed since the last one.

Imports: the 4-2 Payable Invoices layout (``APINV`` with an ``H`` header: invoice no, vendor no,
description, invoice date, due date, discount date, status, type, PO no, subcontract no, job; and
``D`` lines), the 6-7-1 Subcontracts layout (``PJSC`` ``H``/``D``), and ``PJSCCO`` for a
subcontract change order, as Sage 100 Contractor import templates lay them out.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    retain: Decimal | None = None  # the retainage held (4-2's Retainage, the import's Retainage Amt)
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
    def subcontract_import(number: str, vendor: str, job: str, phase: str, description: str, mark: str,
                           on: date | None, retention: Decimal | None, lines: list[SubcontractLine]) -> list[list]:
        """6-7-1 ``PJSC``: ``H`` COL3 contract no, 4 date, 5 vendor, 6 job, 7 description, 8 phase, 9 cost
        division, 10 user def 1 (the mark), 12 status (4 = contract), 20 retention; ``D`` per line: COL3 contract
        no, 4 description, 5 cost code, 6 cost type, 7 amount."""
        header = ["PJSC", "H", number, on, vendor, job, description, phase, "", mark, "", 4, *[""] * 7,
                  _money(retention)]
        return [header, *(["PJSC", "D", number, line.description, line.cost_code, line.cost_type,
                           _money(line.amount)] for line in lines)]

    @staticmethod
    def change_order_import(subcontract: str, number: str, description: str, mark: str, on: date | None,
                            lines: list[SubcontractLine]) -> list[list]:
        return [["PJSCCO", "H", subcontract, number, on, description, mark, 1],
                *(["PJSCCO", "D", subcontract, number, line.description, _money(line.amount), line.cost_code,
                   line.cost_type] for line in lines)]

    @staticmethod
    def invoice_import(number: str, vendor: str, description: str, mark: str, on: date | None,
                       subcontract: str | None, job: str, phase: str, retainage: Decimal,
                       lines: list[InvoiceLine]) -> list[list]:
        """4-2 ``APINV``: ``H`` COL3 invoice no, 4 vendor, 5 description, 6-8 dates, 9 status (1 open), 10 type
        (1 contract), 11 PO no, 12 subcontract no, 13 job, 14 phase, 17 user def 1 (the mark), 20 retainage amt;
        ``D`` per line: COL3 invoice no, 4 description, 5 amount, 6 job, 7 phase, 8 cost code, 9 cost type, 10
        retainage (the detail layout is not published; this is ERP Sync's)."""
        header = ["APINV", "H", number, vendor, description, on, on, on, 1, 1, "", subcontract, job, phase, "", "",
                  mark, "", "", _money(retainage)]
        return [header, *(["APINV", "D", number, line.description, _money(line.amount), line.job, line.phase,
                           line.cost_code, line.cost_type, _money(line.retainage)] for line in lines)]


@dataclass(frozen=True)
class SubcontractLine:
    description: str
    cost_code: str
    cost_type: str
    amount: Decimal


@dataclass(frozen=True)
class InvoiceLine(SubcontractLine):
    job: str = ""
    phase: str = ""
    retainage: Decimal = Decimal(0)


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"
