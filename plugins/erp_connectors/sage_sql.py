"""What the two on-premises Sage connectors share: reads over SQL, writes as import files.

Sage 300 CRE and Sage 100 Contractor have no web API. Their data is read over SQL with SQLAlchemy
(Sage 300 CRE through its ODBC driver, Sage 100 Contractor from its SQL Server database), with the
database in an Airflow connection; neither supports writing records through that path (the
Sage 300 CRE ODBC driver is read-only; Sage 100 Contractor's database is written only by Sage, which
posts the ledger as it saves). Records go in the way Sage documents for imports: a file in the
import layout, dropped into the folder Sage's import reads (the connection's ``import_dir``
extra). The hook's tasks run on the ``sage_onprem`` queue, on a worker inside the contractor's
network, which can reach both the database and that folder.

Connection: ``sqlalchemy_url`` in the extras (``mssql+pyodbc://...?driver=...`` for Sage 100
Contractor, ``mssql+pyodbc:///?odbc_connect=DSN%3DTimberline...`` style for the Sage 300 CRE
ODBC data source), or a ``sqlite``/``postgres``/``mysql`` connection as the sandbox uses; plus
``import_dir``. Every read is counted (statements and rows) for the run summary.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import sqlalchemy as sa
from airflow.sdk.bases.hook import BaseHook
from pydantic import BaseModel, ValidationError

DIALECTS = {"sqlite": "sqlite", "postgres": "postgresql+psycopg", "mysql": "mysql+pymysql",
            "mssql": "mssql+pyodbc"}


@dataclass(frozen=True)
class SageTable:
    """One Sage table as the sync reads it: its key, the shape a row must have, where the pipeline's
    mark goes, and which column names the vendor (checked against the vendor table)."""

    name: str
    key: tuple[str, ...]
    model: type[BaseModel]
    mark_column: str
    vendor_column: str | None = None

    def ref(self, row: Mapping[str, Any]) -> str:
        return "/".join(str(row[name]).strip() for name in self.key)

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys([*self.key, *self.model.model_fields]))


@dataclass(frozen=True)
class BadRow:
    """A row the connector could not read, and why, in words an accountant can act on."""

    table: str
    key: str
    reason: str


class SageSqlHook(BaseHook):
    """Base for one Sage system's hook; subclasses name the vendor and the tables."""

    vendor: ClassVar[str]
    change_column: ClassVar[str | None]  # the column with each row's last change, if the tables keep one

    def __init__(self, conn_id: str):
        super().__init__()
        self.conn_id = conn_id
        self.total_calls = 0
        self.rows_read = 0
        self.files_written = 0
        self.bad_rows: list[BadRow] = []

    @cached_property
    def connection(self):
        return self.get_connection(self.conn_id)

    @cached_property
    def engine(self) -> sa.Engine:
        return sa.create_engine(self.database_url(), pool_pre_ping=True)

    def database_url(self) -> sa.URL | str:
        connection = self.connection
        extras = connection.extra_dejson
        if extras.get("sqlalchemy_url"):
            return extras["sqlalchemy_url"]
        if connection.conn_type not in DIALECTS:
            raise ValueError(f"Connection {self.conn_id}: set the 'sqlalchemy_url' extra, or use one of the "
                             f"connection types {', '.join(DIALECTS)}")
        if connection.conn_type == "sqlite":
            return f"sqlite:///{connection.host}"
        return sa.URL.create(DIALECTS[connection.conn_type], username=connection.login or None,
                             password=connection.password or None, host=connection.host or None,
                             port=connection.port or None, database=connection.schema or None)

    @property
    def import_dir(self) -> Path:
        folder = self.connection.extra_dejson.get("import_dir")
        if not folder:
            raise ValueError(f"Connection {self.conn_id} has no 'import_dir' extra: the folder Sage imports from")
        return Path(folder)

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
            del self.__dict__["engine"]

    # Reads ---------------------------------------------------------------------------------
    def select(self, table: str, columns: Iterable[str], *, changed_since: datetime | None = None,
               equals: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows of a table as dicts; the SQL is built by SQLAlchemy for whichever engine it is."""
        statement = sa.select(*[sa.column(name) for name in columns]).select_from(sa.table(table))
        for name, value in (equals or {}).items():
            statement = statement.where(sa.column(name) == value)
        if changed_since is not None:
            statement = statement.where(sa.column(self.change_column) > changed_since.replace(tzinfo=None))
        with self.engine.connect() as connection:
            rows = [dict(row) for row in connection.execute(statement).mappings()]
        self.total_calls += 1
        self.rows_read += len(rows)
        return rows

    def vendors(self) -> dict[str, str]:
        """Vendor id -> name, for every active vendor."""
        raise NotImplementedError

    @cached_property
    def vendor_ids(self) -> set[str]:
        return {str(vendor_id) for vendor_id in self.vendors()}

    def documents(self, table: SageTable, changed_since: datetime | None = None,
                  **equals: Any) -> dict[str, BaseModel]:
        """The table's readable rows by reference; unreadable ones go to ``bad_rows`` with the reason."""
        rows = self.select(table.name, table.columns, changed_since=changed_since, equals=equals)
        return dict(self.readable(table, rows))

    def refs(self, table: SageTable) -> set[str]:
        """Every key in the table: what is still there, whatever changed."""
        return {table.ref(row) for row in self.select(table.name, table.key) if None not in row.values()}

    def readable(self, table: SageTable, rows: list[dict[str, Any]]) -> list[tuple[str, BaseModel]]:
        good = []
        for row in rows:
            ref = table.ref(row)
            vendor = row.get(table.vendor_column) if table.vendor_column else None
            if vendor is not None and str(vendor).strip() not in self.vendor_ids:
                self.bad_rows.append(BadRow(table.name, ref, f"vendor {vendor} is not an active vendor in Sage"))
                continue
            try:
                good.append((ref, table.model.model_validate(row)))
            except ValidationError as error:
                self.bad_rows.append(BadRow(table.name, ref, _reason(error)))
        return good

    def check(self) -> dict[str, int]:
        """One read of the vendor table, and the import folder must be there to write into."""
        if not self.import_dir.is_dir():
            raise FileNotFoundError(f"Connection {self.conn_id}: the import folder {self.import_dir} is not there; "
                                    "mount Sage's import share on the on-premises worker")
        return {f"{self.vendor}_vendors": len(self.vendors())}

    # Writes: import files -------------------------------------------------------------------
    def import_file(self, name: str) -> Path:
        return self.import_dir / f"{name}.csv"

    def awaiting_import(self, name: str) -> bool:
        """The file is still in the import folder: Sage has not imported it yet."""
        return self.import_file(name).exists()

    def import_refusal(self, name: str) -> str | None:
        """Why Sage's import refused this file, once: its report lies in ``rejected/`` beside the file (the
        import run moves refused files there); it is set aside as read, so a later export may try again."""
        report = self.import_dir / "rejected" / f"{name}.txt"
        if not report.exists():
            return None
        reason = report.read_text(encoding="utf-8").strip()
        report.replace(report.with_suffix(".read"))
        return reason

    def drop_import(self, name: str, records: list[list[Any]]) -> Path:
        """Write one import file whole or not at all (a temporary file renamed into place), so Sage's
        import never reads half a file and writing it again replaces it."""
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerows([_field(value) for value in record] for record in records)
        self.import_dir.mkdir(parents=True, exist_ok=True)
        target = self.import_file(name)
        with tempfile.NamedTemporaryFile("w", dir=self.import_dir, prefix=".", suffix=".part", delete=False,
                                         newline="", encoding="utf-8") as handle:
            handle.write(buffer.getvalue())
        os.replace(handle.name, target)
        self.files_written += 1
        return target


def _field(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "strftime"):
        return value.strftime("%m/%d/%Y")
    return str(value)


def _reason(error: ValidationError) -> str:
    parts = []
    for problem in error.errors(include_url=False):
        column = ".".join(str(part) for part in problem["loc"]) or "row"
        value = problem.get("input")
        parts.append(f"{column} is empty" if value is None else f"{column} {problem['msg'].lower()} (got {value!r})")
    return "; ".join(parts)
