"""The Sage tables the connectors read, as SQLAlchemy Core metadata that any engine can create.

The sandbox creates them on SQLite by default, or on PostgreSQL or MariaDB, to show that the
connectors' SQL is not tied to one engine. Names follow the vendors' own databases:

- **Sage 300 CRE** (read over its ODBC driver): ``MASTER_APM_VENDOR``, ``MASTER_JCM_JOB``, ``JCM_MASTER__EXTRA``,
  ``JCM_MASTER__COMMITMENT``, ``JCM_MASTER__COMMITMENT_CO``, ``APM_MASTER__INVOICE`` and
  ``APM_MASTER__PAYMENT``, with Timberline's capitalised, underscore-joined column names
  (``Commitment``, ``Commitment_CO``, ``Vendor``, ``Job``, ``Closed``, ``Amount_Invoiced``, as
  public integrations query them). The ODBC driver exposes no change dates: what changed is found
  by comparing what is read with what was read before.
- **Sage 100 Contractor** (a SQL Server database): ``actpay`` (vendors), ``subcon`` (6-7-1
  Subcontracts), ``sbcgln`` (subcontract change order lines), ``acpinv`` and ``apivln`` (4-2
  Payable Invoices: header and grid, as Sage's help on SQL queries describes the two tables) and
  ``acppmt`` (invoice payments: ``chknum``, ``chkdte``, ``amount``, ``vodrec``). Six-letter column
  names as in Sage 100 Contractor's data dictionary (``recnum``, ``vndnum``, ``invnum``, ``invttl``,
  ``amtpad``, ``ctcnum``); each table carries ``insdte``/``upddte``, which the incremental reads use.

Sources: Procore's ERP articles (``docs/rules.md``); Sage 100 Contractor help, "About Structured
Query Language" and "4-2 Payable Invoices"; the column lists in vimalgupta1980/dotnetlibs
(``SysconCommon/SMBClasses``: acpinv, apivln, acppmt, actpay, subcon, sbcgln); Timberline queries in
public AP tools (``SELECT Commitment, Vendor, Job FROM JCM_MASTER__COMMITMENT WHERE ... Closed=0``).

Amount columns are declared numeric; SQLite still stores whatever text a program writes there,
which is how the tests put "text in a number column" into a Sage table, as older Sage data does.
"""

from __future__ import annotations

import sqlalchemy as sa

SAGE300 = sa.MetaData()
SAGE100 = sa.MetaData()
MONEY = sa.Numeric(14, 2)

sa.Table("MASTER_APM_VENDOR", SAGE300,
         sa.Column("Vendor", sa.String(10), primary_key=True),
         sa.Column("Name", sa.String(30)),
         sa.Column("Status", sa.String(10)))
sa.Table("MASTER_JCM_JOB", SAGE300,
         sa.Column("Job", sa.String(10), primary_key=True),
         sa.Column("Description", sa.String(30)),
         sa.Column("Status", sa.String(10)))
sa.Table("JCM_MASTER__EXTRA", SAGE300,  # a job's extras (Procore's sub jobs)
         sa.Column("Job", sa.String(10), primary_key=True),
         sa.Column("Extra", sa.String(10), primary_key=True),
         sa.Column("Description", sa.String(30)))
sa.Table("JCM_MASTER__COST_CODE", SAGE300,  # a job's cost codes, of the job itself (Extra blank) or of an extra
         sa.Column("Job", sa.String(10), primary_key=True),
         sa.Column("Extra", sa.String(10), primary_key=True, default=""),
         sa.Column("Cost_Code", sa.String(12), primary_key=True),
         sa.Column("Description", sa.String(30)))
sa.Table("JCM_MASTER__CATEGORY", SAGE300,  # the categories (cost types) each cost code of a job takes
         sa.Column("Job", sa.String(10), primary_key=True),
         sa.Column("Extra", sa.String(10), primary_key=True, default=""),
         sa.Column("Cost_Code", sa.String(12), primary_key=True),
         sa.Column("Category", sa.String(3), primary_key=True),
         sa.Column("Description", sa.String(30)))
sa.Table("JCM_MASTER__COMMITMENT", SAGE300,
         sa.Column("Commitment", sa.String(10), primary_key=True),
         sa.Column("Job", sa.String(10)),
         sa.Column("Vendor", sa.String(10)),
         sa.Column("Description", sa.String(60)),
         sa.Column("Commitment_Type", sa.String(20)),
         sa.Column("Date", sa.Date),
         sa.Column("Original_Commitment", MONEY),
         sa.Column("Revised_Commitment", MONEY),
         sa.Column("Amount_Invoiced", MONEY),
         sa.Column("Closed", sa.Integer, server_default="0"))
sa.Table("JCM_MASTER__COMMITMENT_CO", SAGE300,
         sa.Column("Commitment", sa.String(10), primary_key=True),
         sa.Column("Commitment_CO", sa.String(10), primary_key=True),
         sa.Column("Description", sa.String(60)),
         sa.Column("Date", sa.Date),
         sa.Column("Amount", MONEY),
         sa.Column("Status", sa.String(10)))
sa.Table("APM_MASTER__INVOICE", SAGE300,
         sa.Column("Vendor", sa.String(10), primary_key=True),
         sa.Column("Invoice", sa.String(15), primary_key=True),
         sa.Column("Job", sa.String(10)),
         sa.Column("Commitment", sa.String(10)),
         sa.Column("Description", sa.String(60)),
         sa.Column("Invoice_Date", sa.Date),
         sa.Column("Original_Gross", MONEY),
         sa.Column("Retainage", MONEY),
         sa.Column("Amount_Paid", MONEY),
         sa.Column("Status", sa.String(10)))
sa.Table("APM_MASTER__PAYMENT", SAGE300,
         sa.Column("Vendor", sa.String(10), primary_key=True),
         sa.Column("Invoice", sa.String(15), primary_key=True),
         sa.Column("Check", sa.String(10), primary_key=True),
         sa.Column("Check_Date", sa.Date),
         sa.Column("Check_Type", sa.String(15)),
         sa.Column("Amount", MONEY),
         sa.Column("Void_Date", sa.Date))


def _audit_columns() -> list[sa.Column]:
    return [sa.Column("insdte", sa.DateTime), sa.Column("upddte", sa.DateTime)]


sa.Table("actpay", SAGE100,
         sa.Column("recnum", sa.Integer, primary_key=True, autoincrement=False),
         sa.Column("vndnme", sa.String(50)),
         sa.Column("status", sa.Integer),
         *_audit_columns())
sa.Table("actrec", SAGE100,  # jobs; status 4 is "Contract" (under way)
         sa.Column("recnum", sa.Integer, primary_key=True, autoincrement=False),
         sa.Column("jobnme", sa.String(50)),
         sa.Column("status", sa.Integer),
         *_audit_columns())
sa.Table("jobphs", SAGE100,  # a job's phases (Procore's sub jobs), numbered
         sa.Column("recnum", sa.Integer, primary_key=True, autoincrement=False),
         sa.Column("phsnum", sa.Integer, primary_key=True, autoincrement=False),
         sa.Column("phsnme", sa.String(50)),
         *_audit_columns())
sa.Table("cstcde", SAGE100,  # cost codes
         sa.Column("recnum", sa.String(12), primary_key=True),
         sa.Column("cdenme", sa.String(50)),
         *_audit_columns())
sa.Table("subcon", SAGE100,
         sa.Column("recnum", sa.Integer, primary_key=True, autoincrement=False),
         sa.Column("ctcnum", sa.String(20)),
         sa.Column("vndnum", sa.Integer),
         sa.Column("jobnum", sa.Integer),
         sa.Column("dscrpt", sa.String(50)),
         sa.Column("usrdf1", sa.String(50)),
         sa.Column("status", sa.Integer),
         sa.Column("condte", sa.Date),
         sa.Column("cntttl", MONEY),
         sa.Column("chgttl", MONEY),
         sa.Column("ctcttl", MONEY),
         *_audit_columns())
sa.Table("sbcgln", SAGE100,
         sa.Column("recnum", sa.Integer, primary_key=True, autoincrement=False),
         sa.Column("linnum", sa.Integer, primary_key=True, autoincrement=False),
         sa.Column("dscrpt", sa.String(50)),
         sa.Column("usrdf1", sa.String(50)),
         sa.Column("bdgprc", MONEY),
         sa.Column("vndnum", sa.Integer),
         sa.Column("vndctc", sa.Integer),
         sa.Column("chgnum", sa.String(20)),
         sa.Column("chgsts", sa.Integer),
         *_audit_columns())
sa.Table("acpinv", SAGE100,
         sa.Column("recnum", sa.Integer, primary_key=True, autoincrement=False),
         sa.Column("invnum", sa.String(20)),
         sa.Column("vndnum", sa.Integer),
         sa.Column("ctcnum", sa.String(20)),
         sa.Column("jobnum", sa.Integer),
         sa.Column("dscrpt", sa.String(50)),
         sa.Column("usrdf1", sa.String(50)),
         sa.Column("invdte", sa.Date),
         sa.Column("invttl", MONEY),
         sa.Column("retain", MONEY),
         sa.Column("amtpad", MONEY),
         sa.Column("invbal", MONEY),
         sa.Column("status", sa.Integer),
         *_audit_columns())
sa.Table("apivln", SAGE100,
         sa.Column("recnum", sa.Integer, primary_key=True, autoincrement=False),
         sa.Column("linnum", sa.Integer, primary_key=True, autoincrement=False),
         sa.Column("dscrpt", sa.String(50)),
         sa.Column("extttl", MONEY),
         sa.Column("actnum", sa.Integer),
         *_audit_columns())
sa.Table("acppmt", SAGE100,
         sa.Column("recnum", sa.Integer, primary_key=True, autoincrement=False),
         sa.Column("linnum", sa.Integer, primary_key=True, autoincrement=False),
         sa.Column("dscrpt", sa.String(50)),
         sa.Column("chknum", sa.String(20)),
         sa.Column("chkdte", sa.Date),
         sa.Column("paytyp", sa.Integer),
         sa.Column("amount", MONEY),
         sa.Column("vodrec", sa.Integer, server_default="0"),
         *_audit_columns())
