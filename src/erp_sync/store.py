"""The status store: the integration's own database (never Airflow's metadata database).

It is reached through the Airflow connection ``erp_sync_db`` (a SQLite file by default, PostgreSQL
in production). The schema is versioned with Alembic in ``include/sql/migrations`` and every
statement is a named query in ``include/sql/queries``, so the SQL stays reviewable as SQL.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine

from erp_sync.credentials import seal, unseal
from erp_sync.models import ExportMode, Integration, integration_name

STORE_CONN_ID = "erp_sync_db"
ROW_ID_MAX = 2**31 - 1  # the store's own row ids are INTEGER columns (PostgreSQL's is 32 bits)
SQL_DIR = Path(os.environ.get("ERP_SYNC_SQL_DIR", Path(__file__).resolve().parents[2] / "include" / "sql"))
_QUERY_HEADER = re.compile(r"^--\s*name:\s*(\S+)\s*$", re.MULTILINE)
_SQLITE_TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f"


@cache
def load_queries(directory: Path = SQL_DIR / "queries") -> dict[str, str]:
    """Named queries from ``-- name: x`` blocks; ``x.postgresql`` overrides ``x`` on that dialect."""
    queries: dict[str, str] = {}
    for path in sorted(directory.glob("*.sql")):
        parts = _QUERY_HEADER.split(path.read_text())
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in queries:
                raise ValueError(f"query {name!r} is defined twice (second time in {path.name})")
            queries[name] = body.strip().rstrip(";")
    return queries


def utcnow() -> datetime:
    return datetime.now(UTC)


class Transaction:
    """Named queries run on one connection inside one transaction."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self.dialect = connection.dialect.name
        self._queries = load_queries()

    def execute(self, query: str, /, **params: Any) -> sa.CursorResult:
        """A list or tuple parameter stands for the values of ``IN :name`` (of text, unless it holds other
        values)."""
        statement = self._sql(query).bindparams(*(
            sa.bindparam(key, expanding=True, type_=sa.String() if all(isinstance(v, str) for v in value) else None)
            for key, value in params.items() if isinstance(value, list | tuple)))
        return self.connection.execute(statement, {k: self._bind(v) for k, v in params.items()})

    def execute_many(self, query: str, rows: list[Mapping[str, Any]]) -> None:
        if rows:
            self.connection.execute(self._sql(query), [{k: self._bind(v) for k, v in row.items()} for row in rows])

    def _sql(self, query: str) -> sa.TextClause:
        return sa.text(self._queries.get(f"{query}.{self.dialect}") or self._queries[query])

    def rows(self, query: str, /, **params: Any) -> list[dict[str, Any]]:
        return [_decode(row) for row in self.execute(query, **params).mappings()]

    def one(self, query: str, /, **params: Any) -> dict[str, Any] | None:
        row = self.execute(query, **params).mappings().first()
        return _decode(row) if row is not None else None

    def scalar(self, query: str, /, **params: Any) -> Any:
        return self.execute(query, **params).scalar()

    def _bind(self, value: Any) -> Any:
        # SQLite has no timestamp type: keep one UTC text format that sorts like CURRENT_TIMESTAMP.
        if isinstance(value, datetime) and self.dialect == "sqlite":
            return value.astimezone(UTC).strftime(_SQLITE_TIMESTAMP)
        if isinstance(value, Decimal) and self.dialect == "sqlite":
            return str(value)  # NUMERIC affinity stores it as a number; the driver has no Decimal
        return value


class UnreadableValue(ValueError):
    """A stored value that is not what its column holds: SQLite keeps whatever is typed into a row."""

    def __init__(self, column: str, value: Any, kind: str):
        super().__init__(f"{column} holds {value!r}, which is not {kind}")
        self.column, self.value, self.kind = column, value, kind


def _decode(row: Mapping[str, Any]) -> dict[str, Any]:
    """Timestamps come back as aware UTC datetimes (columns named ``*_at``) and money as Decimal
    (``amount``, ``*_amount``, ``*_balance``, ``*_retainage``) on every dialect; a value that is neither raises
    ``UnreadableValue`` naming its column."""
    decoded = dict(row)
    for key, value in decoded.items():
        if key.endswith("_at") or key == "at":
            decoded[key] = _as_utc(key, value)
        elif value is not None and (key == "amount" or key.endswith(("_amount", "_balance", "_retainage"))):
            decoded[key] = _as_decimal(key, value)
    return decoded


def _as_utc(column: str, value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as error:
            raise UnreadableValue(column, value, "a date and time") from error
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _as_decimal(column: str, value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation as error:
        raise UnreadableValue(column, value, "an amount") from error


class Store:
    def __init__(self, engine: Engine):
        self.engine = engine
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _tune_sqlite)

    @classmethod
    def from_connection(cls, conn_id: str = STORE_CONN_ID) -> Store:
        from airflow.sdk import BaseHook

        hook = BaseHook.get_connection(conn_id).get_hook()
        return cls(hook.get_sqlalchemy_engine())

    @classmethod
    def from_url(cls, url: str, **engine_options: Any) -> Store:
        return cls(sa.create_engine(url, **engine_options))

    def upgrade(self) -> None:
        """Bring the schema to the newest version; an existing database keeps its data."""
        config = Config()
        config.set_main_option("script_location", str(SQL_DIR / "migrations"))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self.engine.begin() as connection:
            yield Transaction(connection)

    def rows(self, query: str, /, **params: Any) -> list[dict[str, Any]]:
        with self.transaction() as tx:
            return tx.rows(query, **params)

    def one(self, query: str, /, **params: Any) -> dict[str, Any] | None:
        with self.transaction() as tx:
            return tx.one(query, **params)

    @cached_property
    def session_role(self) -> str | None:
        """The database role this store connects as (PostgreSQL); None where the database has no roles."""
        return self.one("session_role")["role_name"]

    # Integrations -------------------------------------------------------------------------
    def save_integration(self, integration: Integration) -> int:
        with self.transaction() as tx:
            integration_id = tx.scalar("upsert_integration", **integration.model_dump())
            audit(tx, "integration", integration.name, "saved", actor="config",
                  integration_id=integration_id, detail=integration.model_dump())
            return integration_id

    def request_names(self, table: str = "unlink_request") -> dict[str, list[str]]:
        """How the rows of a queue (``unlink_request``, ``export_decision``) not yet answered spell each
        integration's name, by the name they mean: a row typed with spaces around the name is matched by its
        spelling (what a row names is never rewritten)."""
        spellings: dict[str, list[str]] = {}
        for row in self.rows(f"integrations_named_by_open_{table}"):
            spellings.setdefault(integration_name(row["integration"]), []).append(row["integration"])
        return spellings

    def integrations(self) -> list[dict[str, Any]]:
        return self.rows("enabled_integrations")

    def set_export_mode(self, name: str, mode: ExportMode, actor: str) -> None:
        """Acceptance or direct export for one integration; ValueError names an unknown integration."""
        with self.transaction() as tx:
            old = tx.one("integration_by_name", name=name)
            if old is None:
                raise ValueError(f"There is no integration named '{name}'; `python -m erp_sync integrations` lists them.")
            tx.execute("set_export_mode", name=name, export_mode=mode.value)
            audit(tx, "integration", name, "export_mode", actor=actor, integration_id=old["id"],
                  old_state=old["export_mode"], new_state=mode.value)

    # Runs and watermarks ------------------------------------------------------------------
    def start_run(self, job: str, integration_id: int | None, airflow_run_id: str | None,
                  worker: str | None = None, task: Mapping[str, Any] | None = None) -> int:
        """``worker`` names the process running it (host:pid), so that a run whose process died can be told;
        ``task`` is the Airflow task running the job (``dag_id``, ``task_id``, ``map_index``), when one is."""
        task = task or {}
        with self.transaction() as tx:
            return tx.scalar("start_run", job=job, integration_id=integration_id, airflow_run_id=airflow_run_id,
                             dag_id=task.get("dag_id"), task_id=task.get("task_id"), map_index=task.get("map_index"),
                             started_at=utcnow(), worker=worker)

    def finish_run(self, run_id: int, status: str, counts: Mapping[str, int],
                   api_calls: Mapping[str, int], error: str | None = None,
                   rate_limits: Mapping[str, int] | None = None) -> None:
        with self.transaction() as tx:
            tx.execute("finish_run", run_id=run_id, status=status, error=error, finished_at=utcnow(),
                       counts_json=json.dumps(dict(counts), sort_keys=True),
                       api_calls_json=json.dumps(dict(api_calls), sort_keys=True),
                       rate_limits_json=json.dumps(dict(rate_limits or {}), sort_keys=True))

    def watermark(self, integration_id: int, stream: str) -> str | None:
        row = self.one("get_watermark", integration_id=integration_id, stream=stream)
        return row["value"] if row else None

    def set_watermark(self, integration_id: int, stream: str, value: str) -> None:
        with self.transaction() as tx:
            tx.execute("set_watermark", integration_id=integration_id, stream=stream, value=value,
                       updated_at=utcnow())


class RefreshTokens:
    """The newest OAuth refresh token of each connection (QuickBooks rotates them), kept in the store
    sealed with Airflow's Fernet key."""

    def __init__(self, store: Store):
        self.store = store

    def load(self, conn_id: str) -> str | None:
        row = self.store.one("get_refresh_token", conn_id=conn_id)
        return unseal(row["refresh_token_sealed"]) if row else None

    def save(self, conn_id: str, refresh_token: str) -> None:
        with self.store.transaction() as tx:
            tx.execute("save_refresh_token", conn_id=conn_id, refresh_token_sealed=seal(refresh_token),
                       updated_at=utcnow())


def audit(tx: Transaction, entity: str, entity_id: Any, action: str, *, actor: str,
          integration_id: int | None = None, old_state: str | None = None,
          new_state: str | None = None, detail: Mapping[str, Any] | None = None) -> None:
    """Every state change is written in the same transaction as the change itself."""
    tx.execute("record_audit", at=utcnow(), integration_id=integration_id, entity=entity,
               entity_id=str(entity_id), action=action, old_state=old_state, new_state=new_state,
               actor=actor, detail_json=json.dumps(detail, default=str) if detail else None)


def _tune_sqlite(dbapi_connection, _record) -> None:
    # Several Airflow workers write at once: WAL lets readers go on, the timeout queues writers.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
