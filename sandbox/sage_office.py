"""A Sage office in a box: the Sage tables in a real SQL database, Sage's import of the files the
connectors drop, and what a Sage user does (delete a commitment or a CCO, pay an invoice in full or
in part, write and void a check, or leave a bad row behind).

The database is any SQLAlchemy URL: SQLite by default, PostgreSQL or MariaDB as well. ``run_imports``
plays Sage's import: each file in the import folder is applied in one transaction and then moved to
``imported/``, or to ``rejected/`` with the reason beside it, as an import run's report would say.

    python -m sandbox.sage_office sage300 sqlite:///sage300.db /tmp/sage300-import   # create and seed
"""

from __future__ import annotations

import csv
import sys
from abc import ABC, abstractmethod
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from erp_connectors.sage300 import DEFAULT_LAYOUT, ImportLayout
from sandbox.common import DEMO_JOBS, DEMO_SUB_JOBS, ERP_COST_CODES
from sandbox.procore_lines import COST_TYPES
from sandbox.sage_tables import SAGE100, SAGE300

LAYOUT = ImportLayout.load(DEFAULT_LAYOUT)  # the demo company keeps Sage's default import formats

# The demo's vendors as each Sage office knows them; Foundry Mechanical is not set up, as in the other ERPs. With
# the mess of docs/reference-data.md: one spelt differently ("Star Framing, LLC" in Procore), two that both look
# like Procore's "Granite Masonry", and Summit Roofing inactive.
SAGE300_VENDORS = {"APEX": "Apex Concrete", "BRIGHT": "Brightline Electric", "CASCADE": "Cascade Plumbing",
                   "DELTA": "Delta Steel Erectors", "EVERGRN": "Evergreen Drywall", "STARFRM": "Star Framing",
                   "GRANITE": "Granite Masonry", "GRANITEINC": "Granite Masonry, Inc."}
SAGE300_INACTIVE_VENDORS = {"SUMROOF": "Summit Roofing"}
SAGE100_VENDORS = {301: "Apex Concrete", 302: "Brightline Electric", 303: "Cascade Plumbing",
                   304: "Delta Steel Erectors", 305: "Evergreen Drywall", 306: "Star Framing", 307: "Granite Masonry",
                   308: "Granite Masonry, Inc."}
SAGE100_INACTIVE_VENDORS = {309: "Summit Roofing"}
SAGE100_INACTIVE = 2  # actpay.status: 1 is active


class ImportRejected(Exception):
    """Sage's import refuses the file; the reason is what its import report would print."""


class SageOffice(ABC):
    metadata: sa.MetaData

    def __init__(self, url: str, import_dir: Path | str):
        self.engine = sa.create_engine(url)
        self.import_dir = Path(import_dir)
        self.tables = self.metadata.tables

    def create(self) -> None:
        """Empty tables holding the seeded vendors, and an empty import folder."""
        self.metadata.drop_all(self.engine)
        self.metadata.create_all(self.engine)
        self.import_dir.mkdir(parents=True, exist_ok=True)
        for path in self.import_dir.glob("*.csv"):
            path.unlink()
        with self.engine.begin() as connection:
            self.seed(connection)

    @abstractmethod
    def seed(self, connection: sa.Connection) -> None:
        ...

    @abstractmethod
    def apply(self, connection: sa.Connection, records: list[list[str]]) -> None:
        """Import one file's records, or raise ImportRejected."""

    def run_imports(self) -> dict[str, str]:
        """Sage's import run: every waiting file, oldest first; what became of each."""
        results = {}
        for path in sorted(self.import_dir.glob("*.csv"), key=lambda p: p.stat().st_mtime):
            with path.open(newline="", encoding="utf-8") as handle:
                records = list(csv.reader(handle))
            try:
                with self.engine.begin() as connection:
                    self.apply(connection, records)
                results[path.stem] = "imported"
                self._move(path, "imported")
            except ImportRejected as rejection:
                results[path.stem] = f"rejected: {rejection}"
                self._move(path, "rejected").with_suffix(".txt").write_text(str(rejection))
        return results

    def _move(self, path: Path, folder: str) -> Path:
        target = self.import_dir / folder / path.name
        target.parent.mkdir(exist_ok=True)
        path.replace(target)
        return target

    # What a Sage user does ---------------------------------------------------------------------
    def rows(self, table: str, **equals: Any) -> list[dict[str, Any]]:
        statement = sa.select(self.tables[table])
        for name, value in equals.items():
            statement = statement.where(self.tables[table].c[name] == value)
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(statement).mappings()]

    def delete(self, table: str, **key: Any) -> int:
        """Delete a record, as a user does in Sage before asking for an unlink."""
        with self.engine.begin() as connection:
            return connection.execute(self._where(sa.delete(self.tables[table]), table, key)).rowcount

    def delete_by_ref(self, table: str, ref: str) -> int:
        """Delete the record the ERP Integrations page shows as ``ref``: its key's values joined by "/"."""
        columns = [column.name for column in self.tables[table].primary_key.columns]
        values = ref.split("/")
        if len(values) != len(columns):
            raise SystemExit(f"{table} records are named {'/'.join(columns)}; {ref!r} is not")
        return self.delete(table, **dict(zip(columns, values)))

    def set_raw(self, table: str, values: dict[str, Any], **key: Any) -> None:
        """Write a column as-is, bypassing Sage's checks: how a bad row (an empty column, text in a
        number column, an unknown vendor) gets into a table. SQLite keeps text in numeric columns."""
        with self.engine.begin() as connection:
            statement = sa.text(f"UPDATE {self._quoted(table)} SET "
                                + ", ".join(f"{self._quoted(name)} = :v_{name}" for name in values)
                                + " WHERE " + " AND ".join(f"{self._quoted(name)} = :k_{name}" for name in key))
            connection.execute(statement, {f"v_{k}": v for k, v in values.items()}
                               | {f"k_{k}": v for k, v in key.items()})

    def insert_raw(self, table: str, **values: Any) -> None:
        """Add a row as-is, bypassing Sage's checks (a payment of a vendor Sage does not know)."""
        with self.engine.begin() as connection:
            connection.execute(sa.insert(self.tables[table]).values(**values))

    def _quoted(self, name: str) -> str:
        return self.engine.dialect.identifier_preparer.quote(name)

    def _where(self, statement, table: str, key: dict[str, Any]):
        for name, value in key.items():
            statement = statement.where(self.tables[table].c[name] == value)
        return statement

    def dispose(self) -> None:
        self.engine.dispose()


class Sage300Office(SageOffice):
    metadata = SAGE300

    def seed(self, connection: sa.Connection) -> None:
        connection.execute(sa.insert(self.tables["MASTER_APM_VENDOR"]),
                           [{"Vendor": vendor, "Name": name, "Status": status}
                            for vendors, status in ((SAGE300_VENDORS, "Active"), (SAGE300_INACTIVE_VENDORS, "Inactive"))
                            for vendor, name in vendors.items()])
        connection.execute(sa.insert(self.tables["MASTER_JCM_JOB"]),  # the jobs of the demo's projects
                           [{"Job": str(job), "Description": f"Job {job}", "Status": "Active"} for job in DEMO_JOBS])
        connection.execute(sa.insert(self.tables["JCM_MASTER__EXTRA"]),  # the extras of the demo's sub jobs
                           [{"Job": str(job), "Extra": sub_job.erp_code, "Description": sub_job.name}
                            for job, sub_jobs in DEMO_SUB_JOBS.items() for sub_job in sub_jobs])
        extras = [(str(job), extra) for job in DEMO_JOBS
                  for extra in ("", *(sub_job.erp_code for sub_job in DEMO_SUB_JOBS.get(job, ())))]
        connection.execute(sa.insert(self.tables["JCM_MASTER__COST_CODE"]),
                           [{"Job": job, "Extra": extra, "Cost_Code": code.full_code, "Description": code.name}
                            for job, extra in extras for code in ERP_COST_CODES])
        connection.execute(sa.insert(self.tables["JCM_MASTER__CATEGORY"]),
                           [{"Job": job, "Extra": extra, "Cost_Code": code.full_code, "Category": kind.code,
                             "Description": kind.name} for job, extra in extras for code in ERP_COST_CODES
                            for kind in COST_TYPES])

    def apply(self, connection: sa.Connection, records: list[list[str]]) -> None:
        """Reads each record by the company's import format (the same layout file the connector writes with)."""
        vendors = {row[0] for row in connection.execute(sa.select(self.tables["MASTER_APM_VENDOR"].c.Vendor))}
        for record in records:
            if record[0] not in LAYOUT.records:
                raise ImportRejected(f"unknown record type {record[0]!r}")
            fields = LAYOUT.read(record)
            kind = fields["Record ID"]
            if kind == "C":
                _known(fields["Vendor"], vendors)
                self._insert(connection, "JCM_MASTER__COMMITMENT", Commitment=fields["Commitment"],
                             Vendor=fields["Vendor"], Description=fields["Description"],
                             Commitment_Type=fields["Commitment Type"], Date=_day(fields["Date"]), Job=fields["Job"],
                             Original_Commitment=0, Revised_Commitment=0, Amount_Invoiced=0, Closed=0)
            elif kind == "CI":
                self._add(connection, "JCM_MASTER__COMMITMENT", {"Commitment": fields["Commitment"]},
                          Decimal(fields["Amount"]), "Original_Commitment", "Revised_Commitment")
            elif kind == "CCO":
                self._add(connection, "JCM_MASTER__COMMITMENT", {"Commitment": fields["Commitment"]},
                          Decimal(fields["Amount"]), "Revised_Commitment")
                self._insert(connection, "JCM_MASTER__COMMITMENT_CO", Commitment=fields["Commitment"],
                             Commitment_CO=fields["Commitment CO"], Description=fields["Description"],
                             Date=_day(fields["Date"]), Amount=fields["Amount"], Status="Approved")
            elif kind == "API":
                _known(fields["Vendor"], vendors)
                self._insert(connection, "APM_MASTER__INVOICE", Vendor=fields["Vendor"], Invoice=fields["Invoice"],
                             Description=fields["Description"], Original_Gross=fields["Amount"],
                             Retainage=fields["Retainage"] or 0, Amount_Paid=0,
                             Invoice_Date=_day(fields["Invoice Date"]), Commitment=fields["Commitment"] or None,
                             Status="Open")

    def pay(self, vendor: str, invoice: str, amount: Decimal | str, check: str, on: date,
            check_type: str = "Check") -> None:
        amount = Decimal(str(amount))
        with self.engine.begin() as connection:
            self._insert(connection, "APM_MASTER__PAYMENT", Vendor=vendor, Invoice=invoice, Check=check,
                         Check_Date=on, Check_Type=check_type, Amount=amount)
            self._settle(connection, vendor, invoice)

    def enter_invoice(self, vendor: str, invoice: str, amount: Decimal | str, commitment: str, on: date,
                      retainage: Decimal | str = 0) -> None:
        """An AP invoice a Sage user keys in against a commitment, not imported from ERP Sync's files; ``amount``
        is its gross, ``retainage`` what it holds of it."""
        with self.engine.begin() as connection:
            self._insert(connection, "APM_MASTER__INVOICE", Vendor=vendor, Invoice=invoice, Commitment=commitment,
                         Description="Keyed in Sage", Original_Gross=Decimal(str(amount)),
                         Retainage=Decimal(str(retainage)), Amount_Paid=0, Invoice_Date=on, Status="Open")

    def void_check(self, vendor: str, check: str, on: date) -> None:
        with self.engine.begin() as connection:
            payments = self.tables["APM_MASTER__PAYMENT"]
            of_check = (payments.c.Vendor == vendor, payments.c.Check == check)
            voided = connection.execute(sa.select(payments.c.Invoice).where(*of_check)).scalars().all()
            connection.execute(sa.update(payments).where(*of_check).values(Void_Date=on))
            for invoice in voided:
                self._settle(connection, vendor, invoice)

    def _settle(self, connection: sa.Connection, vendor: str, invoice: str) -> None:
        payments, invoices = self.tables["APM_MASTER__PAYMENT"], self.tables["APM_MASTER__INVOICE"]
        paid = connection.execute(sa.select(sa.func.coalesce(sa.func.sum(payments.c.Amount), 0)).where(
            payments.c.Vendor == vendor, payments.c.Invoice == invoice, payments.c.Void_Date.is_(None))).scalar()
        gross = connection.execute(sa.select(invoices.c.Original_Gross).where(
            invoices.c.Vendor == vendor, invoices.c.Invoice == invoice)).scalar()
        status = "Paid" if Decimal(str(paid)) >= Decimal(str(gross)) else "Open"
        connection.execute(sa.update(invoices).where(invoices.c.Vendor == vendor, invoices.c.Invoice == invoice)
                           .values(Amount_Paid=paid, Status=status))

    def _insert(self, connection: sa.Connection, table: str, **values: Any) -> None:
        try:
            connection.execute(sa.insert(self.tables[table]).values(**values))
        except sa.exc.IntegrityError as error:
            raise ImportRejected(f"{table} already holds {values}") from error

    def _add(self, connection: sa.Connection, table: str, key: dict[str, Any], amount: Decimal,
             *columns: str) -> None:
        target = self.tables[table]
        statement = self._where(sa.update(target), table, key).values(
            {name: target.c[name] + amount for name in columns})
        if connection.execute(statement).rowcount == 0:
            raise ImportRejected(f"{table} has no record {key}")


class Sage100Office(SageOffice):
    metadata = SAGE100

    def seed(self, connection: sa.Connection) -> None:
        connection.execute(sa.insert(self.tables["actpay"]),
                           [{"recnum": number, "vndnme": name, "status": status, "insdte": _now(), "upddte": _now()}
                            for vendors, status in ((SAGE100_VENDORS, 1), (SAGE100_INACTIVE_VENDORS, SAGE100_INACTIVE))
                            for number, name in vendors.items()])
        connection.execute(sa.insert(self.tables["actrec"]),
                           [{"recnum": job, "jobnme": f"Job {job}", "status": 4, "insdte": _now(), "upddte": _now()}
                            for job in DEMO_JOBS])
        connection.execute(sa.insert(self.tables["jobphs"]),  # phases are numbered: only numeric codes are phases
                           [{"recnum": job, "phsnum": int(sub_job.erp_code), "phsnme": sub_job.name, "insdte": _now(),
                             "upddte": _now()}
                            for job, sub_jobs in DEMO_SUB_JOBS.items() for sub_job in sub_jobs
                            if sub_job.erp_code.isdigit()])
        connection.execute(sa.insert(self.tables["cstcde"]),
                           [{"recnum": code.full_code, "cdenme": code.name, "insdte": _now(), "upddte": _now()}
                            for code in ERP_COST_CODES])

    def apply(self, connection: sa.Connection, records: list[list[str]]) -> None:
        vendors = {str(row[0]) for row in connection.execute(sa.select(self.tables["actpay"].c.recnum))}
        header: dict[str, Any] = {}
        for record in records:
            layout, line, fields = record[0], record[1], record[2:]
            if (layout, line) == ("PJSC", "H"):
                number, on, vendor, job, description, _phase, _division, mark = fields[:8]
                _known(vendor, vendors)
                header = self._insert(connection, "subcon", ctcnum=number, condte=_day(on), vndnum=int(vendor),
                                      jobnum=int(job), dscrpt=description, usrdf1=mark, status=4, cntttl=0,
                                      chgttl=0, ctcttl=0)
            elif (layout, line) == ("PJSC", "D"):  # contract no, description, cost code, cost type, amount
                _cost_type(fields[3])
                self._add(connection, "subcon", header["recnum"], Decimal(fields[4]), "cntttl", "ctcttl")
            elif (layout, line) == ("PJSCCO", "H"):
                subcontract, number, _on, description, mark = fields[:5]
                parent = connection.execute(sa.select(self.tables["subcon"]).where(
                    self.tables["subcon"].c.recnum == int(subcontract))).mappings().first()
                if parent is None:
                    raise ImportRejected(f"subcontract record {subcontract} does not exist")
                header = {"vndctc": parent["recnum"], "vndnum": parent["vndnum"], "chgnum": number,
                          "dscrpt": description, "usrdf1": mark}
            elif (layout, line) == ("PJSCCO", "D"):  # the change's lines add up on its one row
                _cost_type(fields[5])
                amount = Decimal(fields[3])
                if "recnum" in header:
                    self._add(connection, "sbcgln", header["recnum"], amount, "bdgprc")
                else:
                    header = self._insert(connection, "sbcgln", linnum=1, bdgprc=amount, chgsts=1, **header)
                self._add(connection, "subcon", header["vndctc"], amount, "chgttl", "ctcttl")
            elif (layout, line) == ("APINV", "H"):
                number, vendor, description, on = fields[:4]
                subcontract, job, mark, retainage = fields[9], fields[10], fields[14], fields[17]
                _known(vendor, vendors)
                header = self._insert(connection, "acpinv", invnum=number, vndnum=int(vendor), dscrpt=description,
                                      invdte=_day(on), ctcnum=subcontract or None, jobnum=int(job), usrdf1=mark,
                                      invttl=0, retain=Decimal(retainage or 0), amtpad=0, invbal=0, status=1)
            elif (layout, line) == ("APINV", "D"):
                _cost_type(fields[6])
                amount = Decimal(fields[2])
                header["lines"] = header.get("lines", 0) + 1
                self._insert(connection, "apivln", recnum=header["recnum"], linnum=header["lines"], dscrpt=fields[1],
                             extttl=amount, keep_recnum=True)
                self._add(connection, "acpinv", header["recnum"], amount, "invttl", "invbal")
            else:
                raise ImportRejected(f"unknown record {layout} {line}")

    def pay(self, invoice: int, amount: Decimal | str, check: str, on: date, credit_card: bool = False) -> None:
        amount = Decimal(str(amount))
        with self.engine.begin() as connection:
            payments = self.tables["acppmt"]
            line = connection.execute(sa.select(sa.func.coalesce(sa.func.max(payments.c.linnum), 0)).where(
                payments.c.recnum == invoice)).scalar() + 1
            self._insert(connection, "acppmt", recnum=invoice, linnum=line, chknum=check, chkdte=on, amount=amount,
                         paytyp=2 if credit_card else 1, vodrec=0, keep_recnum=True)
            self._settle(connection, invoice)

    def enter_invoice(self, number: str, vendor: int, amount: Decimal | str, subcontract: int, on: date,
                      retainage: Decimal | str = 0) -> int:
        """A 4-2 payable invoice a Sage user keys in against a subcontract (its record number), not imported
        from ERP Sync's files, holding ``retainage`` of its total; returns the invoice's record number."""
        amount = Decimal(str(amount))
        with self.engine.begin() as connection:
            header = self._insert(connection, "acpinv", invnum=number, vndnum=vendor, dscrpt="Keyed in Sage",
                                  invdte=on, ctcnum=str(subcontract), usrdf1="", invttl=amount,
                                  retain=Decimal(str(retainage)), amtpad=0, invbal=amount, status=1)
            self._insert(connection, "apivln", recnum=header["recnum"], linnum=1, dscrpt="Keyed in Sage",
                         extttl=amount, keep_recnum=True)
        return header["recnum"]

    def void_check(self, check: str) -> None:
        with self.engine.begin() as connection:
            payments = self.tables["acppmt"]
            invoices = connection.execute(sa.select(payments.c.recnum).where(payments.c.chknum == check)).scalars().all()
            connection.execute(sa.update(payments).where(payments.c.chknum == check).values(vodrec=1, upddte=_now()))
            for invoice in invoices:
                self._settle(connection, invoice)

    def _settle(self, connection: sa.Connection, invoice: int) -> None:
        payments, invoices = self.tables["acppmt"], self.tables["acpinv"]
        paid = Decimal(str(connection.execute(sa.select(sa.func.coalesce(sa.func.sum(payments.c.amount), 0)).where(
            payments.c.recnum == invoice, payments.c.vodrec == 0)).scalar()))
        total = Decimal(str(connection.execute(sa.select(invoices.c.invttl).where(invoices.c.recnum == invoice)).scalar()))
        connection.execute(sa.update(invoices).where(invoices.c.recnum == invoice).values(
            amtpad=paid, invbal=total - paid, status=4 if paid >= total else 1, upddte=_now()))

    def _insert(self, connection: sa.Connection, table: str, keep_recnum: bool = False, **values: Any) -> dict:
        """A new row, stamped as Sage stamps them; a header gets the next record number."""
        target = self.tables[table]
        if not keep_recnum:
            values["recnum"] = (connection.execute(sa.select(sa.func.coalesce(sa.func.max(target.c.recnum), 0)))
                                .scalar() + 1)
        values |= {"insdte": _now(), "upddte": _now()}
        connection.execute(sa.insert(target).values(**values))
        return values

    def _add(self, connection: sa.Connection, table: str, recnum: int, amount: Decimal, *columns: str) -> None:
        target = self.tables[table]
        connection.execute(sa.update(target).where(target.c.recnum == recnum).values(
            {name: target.c[name] + amount for name in columns} | {"upddte": _now()}))


OFFICES: dict[str, type[SageOffice]] = {"sage300": Sage300Office, "sage100": Sage100Office}


def _known(vendor: str, vendors: set[str]) -> None:
    if vendor not in vendors:
        raise ImportRejected(f"vendor {vendor!r} does not exist")


def _cost_type(text: str) -> None:
    """Sage 100 Contractor's cost types are the numbers 1-9."""
    if text not in {str(number) for number in range(1, 10)}:
        raise ImportRejected(f"cost type {text!r} is not one of 1-9")


def _day(text: str) -> date | None:
    return datetime.strptime(text, "%m/%d/%Y").date() if text else None


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


if __name__ == "__main__":
    if sys.argv[1] == "delete":  # delete sage300|sage100 URL TABLE REF: what a Sage user does
        system, url, table, ref = sys.argv[2:6]
        deleted = OFFICES[system](url, ".").delete_by_ref(table, ref)
        print(f"{system}: {deleted} {table} record {ref} deleted" if deleted else f"{system}: no {table} record {ref}")
        sys.exit(0 if deleted else 1)
    system, url, folder = sys.argv[1:4]
    OFFICES[system](url, folder).create()
    print(f"{system}: tables created and seeded at {url}; import folder {folder}")
