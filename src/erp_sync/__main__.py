"""Operator commands: ``python -m erp_sync upgrade | add-integration | integrations | export-mode | runs |
map-role | reference | reconcile``.

The status store is found as Airflow finds it: the connection ``erp_sync_db`` in the environment, a
secrets backend or Airflow's metadata database of ``AIRFLOW_HOME``; with ``AIRFLOW_HOME`` unset, the
checkout's ``.airflow`` (where ``make demo`` keeps it), or ``--db-url``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import sqlalchemy as sa
from pydantic import ValidationError

from erp_sync.models import ErpKind, ExportMode, Integration, SyncSchedule
from erp_sync.reference.links import ReferenceRefused, unlink
from erp_sync.reference.model import ReferenceKind
from erp_sync.reference.reading import refresh
from erp_sync.reference.tab import confirm, confirm_all, link_chosen, tab_rows
from erp_sync.reports import recent_runs
from erp_sync.runs import close_dead_runs
from erp_sync.store import STORE_CONN_ID, Store

CHECKOUT = Path(__file__).resolve().parents[2]


class StoreNotFound(Exception):
    """The command cannot tell where the status store is; the message says what to do."""


def airflow_home(environ: Mapping[str, str], checkout: Path = CHECKOUT) -> str | None:
    """The ``AIRFLOW_HOME`` to read connections from: the one set, else the checkout's ``.airflow`` that
    ``make`` uses, if it exists (else Airflow's own default)."""
    if environ.get("AIRFLOW_HOME"):
        return environ["AIRFLOW_HOME"]
    local = checkout / ".airflow"
    return str(local) if local.is_dir() else None


def operator_store() -> Store:
    """The store behind the ``erp_sync_db`` connection, read as Airflow's own CLI reads connections (this
    is a person's command, not a task)."""
    home = airflow_home(os.environ)
    if home:
        os.environ["AIRFLOW_HOME"] = home  # before Airflow is imported: it reads its home once
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models import Connection

    try:
        connection = Connection.get_connection_from_secrets(STORE_CONN_ID)
    except AirflowNotFoundException as error:
        raise StoreNotFound(
            f"No status store found: the Airflow connection {STORE_CONN_ID} is not defined in AIRFLOW_HOME "
            f"{home or '(Airflow default)'}. Run `make demo` first, set AIRFLOW_HOME to your Airflow's home, "
            "or pass --db-url.") from error
    # Hand it to the hook through the environment, the one way the Task SDK's lookup shares with Airflow's.
    os.environ[f"AIRFLOW_CONN_{STORE_CONN_ID.upper()}"] = connection.as_json()
    return Store.from_connection()


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except StoreNotFound as problem:
        print(problem, file=sys.stderr)
        return 2
    except (sa.exc.OperationalError, sa.exc.ProgrammingError) as error:
        print(f"The status store cannot be read ({error.orig}). If it is new, `python -m erp_sync upgrade` "
              "creates its tables.", file=sys.stderr)
        return 2


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m erp_sync", description=__doc__)
    parser.add_argument("--db-url", help=f"SQLAlchemy URL of the status store (default: Airflow connection {STORE_CONN_ID})")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("upgrade", help="create or upgrade the status store's schema")
    add = commands.add_parser("add-integration", help="add or change an integration")
    add.add_argument("--name", required=True)
    add.add_argument("--procore-conn-id", required=True)
    add.add_argument("--procore-company-id", required=True, type=int)
    add.add_argument("--erp-kind", required=True, choices=[kind.value for kind in ErpKind])
    add.add_argument("--erp-conn-id", required=True)
    add.add_argument("--disabled", action="store_true")
    add.add_argument("--sync-schedule", default=SyncSchedule.HOURLY.value, choices=[s.value for s in SyncSchedule])
    add.add_argument("--max-staleness-hours", type=int, default=6,
                     help="the longest a change in Procore may wait for the sync (1 to 24; default 6)")
    add.add_argument("--export-mode", choices=[mode.value for mode in ExportMode],
                     help="acceptance (records wait for accounting; the default for a new integration) or direct; "
                          "an existing integration keeps its mode unless given")
    mode = commands.add_parser("export-mode", help="turn accounting acceptance on or off (direct export) for an "
                                                   "integration")
    mode.add_argument("--integration", required=True)
    mode.add_argument("--mode", required=True, choices=[mode.value for mode in ExportMode])
    commands.add_parser("integrations", help="list the enabled integrations")
    runs = commands.add_parser("runs", help="recent runs: status, time, API calls per vendor, counts")
    runs.add_argument("--limit", type=int, default=20)
    reconcile = commands.add_parser("reconcile", help="reconcile an integration now (Procore and the ERP side by side "
                                                      "per commitment; no vendor calls) and print what differs and why")
    reconcile.add_argument("--integration", required=True)
    reconcile.add_argument("--json", action="store_true", help="print JSON instead of text")
    role = commands.add_parser("map-role", help="say which Procore user a PostgreSQL role that types unlink "
                                                "requests belongs to (administrators)")
    role.add_argument("--role", required=True)
    role.add_argument("--procore-user-id", required=True, type=int)
    reference = commands.add_parser("reference", help="reference data: refresh both sides, list each Procore item "
                                                      "with its link or suggestion, link, unlink")
    reference.add_argument("action", choices=["refresh", "list", "link", "unlink"])
    reference.add_argument("--integration", required=True)
    reference.add_argument("--kind", choices=[kind.value for kind in ReferenceKind],
                           help="list: one kind (default: all); link and unlink: the kind of --procore-id")
    reference.add_argument("--procore-id", help="link, unlink: the Procore item")
    reference.add_argument("--erp-id", help="link: the ERP item (default: confirm the suggestion)")
    reference.add_argument("--all", action="store_true", help="link: confirm every suggestion of --kind")
    reference.add_argument("--json", action="store_true", help="answer in JSON")
    args = parser.parse_args(argv)

    store = Store.from_url(args.db_url) if args.db_url else operator_store()
    if args.command == "upgrade":
        store.upgrade()
        print("status store is at the newest schema")
    elif args.command == "add-integration":
        existing = store.one("integration_by_name", name=args.name)
        export_mode = args.export_mode or (existing["export_mode"] if existing else ExportMode.ACCEPTANCE)
        try:
            integration = Integration(name=args.name, procore_conn_id=args.procore_conn_id,
                                      procore_company_id=args.procore_company_id, erp_kind=args.erp_kind,
                                      erp_conn_id=args.erp_conn_id, enabled=not args.disabled,
                                      sync_schedule=args.sync_schedule, max_staleness_hours=args.max_staleness_hours,
                                      export_mode=export_mode)
        except ValidationError as error:
            print(f"integration not saved: {error}", file=sys.stderr)
            return 2
        print(f"integration {integration.name} saved with id {store.save_integration(integration)}")
    elif args.command == "export-mode":
        try:
            store.set_export_mode(args.integration, ExportMode(args.mode), actor=f"cli:{getpass.getuser()}")
        except ValueError as problem:
            print(problem, file=sys.stderr)
            return 2
        print(f"integration {args.integration} exports in {args.mode} mode")
    elif args.command == "map-role":
        from erp_sync.identity import map_role  # here: it imports Airflow, which must see AIRFLOW_HOME first

        map_role(store, args.role, args.procore_user_id, actor=f"cli:{getpass.getuser()}")
        print(f"database role {args.role} files unlink requests as Procore user {args.procore_user_id}")
    elif args.command == "reference":
        return reference_command(store, args, f"cli:{getpass.getuser()}")
    elif args.command == "reconcile":
        return reconcile_now(store, args.integration, args.json)
    elif args.command == "runs":
        close_dead_runs(store, "the runs were listed")
        print(recent_runs(store, args.limit).to_string(index=False))
    else:
        for row in store.integrations():
            print(f"{row['id']:>4}  {row['name']:<30} procore={row['procore_conn_id']}/{row['procore_company_id']} "
                  f"erp={row['erp_kind']}/{row['erp_conn_id']} schedule={row['sync_schedule']} "
                  f"staleness<={row['max_staleness_hours']}h export={row['export_mode']}")
    return 0


def reference_command(store: Store, args: argparse.Namespace, by: str) -> int:
    integration = store.one("integration_by_name", name=args.integration)
    if integration is None:
        print(f"There is no integration named '{args.integration}'; `python -m erp_sync integrations` lists them.",
              file=sys.stderr)
        return 2
    kinds = [ReferenceKind(args.kind)] if args.kind else list(ReferenceKind)
    try:
        answer = reference_action(store, integration, args, kinds, by)
    except (ReferenceRefused, ValueError) as refused:
        print(refused, file=sys.stderr)
        return 2
    print(json.dumps(answer, indent=2, default=str) if args.json else reference_text(answer))
    return 0


def reference_action(store: Store, integration: dict, args: argparse.Namespace, kinds: list[ReferenceKind],
                     by: str) -> dict:
    if args.action == "refresh":
        return {"refreshed": dict(refresh(store, integration, by=by))}
    if args.action == "list":
        return {"items": [row.as_json() for kind in kinds for row in tab_rows(store, integration, kind)]}
    if not args.kind or not (args.procore_id or (args.action == "link" and args.all)):
        raise ValueError(f"reference {args.action} needs --kind and --procore-id" +
                         (" (or --all)" if args.action == "link" else ""))
    kind = ReferenceKind(args.kind)
    if args.action == "unlink":
        return {"unlinked": unlink(store, integration, kind, args.procore_id, by=by)}
    if args.all:
        return {"linked": confirm_all(store, integration, kind, by=by)}
    if args.erp_id:
        return {"linked": int(link_chosen(store, integration, kind, args.procore_id, args.erp_id, by=by))}
    return {"linked": int(confirm(store, integration, kind, args.procore_id, by=by))}


def reference_text(answer: dict) -> str:
    if "items" not in answer:
        return ", ".join(f"{key}: {value}" for key, value in answer.items())
    lines = []
    for item in answer["items"]:
        found = item["suggestion"]
        state = (f"linked to {item['linked']['code']} \"{item['linked']['name']}\" ({item['link_reason']})"
                 if item["linked"] else f"suggested {found['erp_id']}: {found['reason']}" if found and found["erp_id"]
                 else found["reason"] if found else "no suggestion")
        blocks = f"; blocks {item['blocks']} waiting record(s)" if item["blocks"] else ""
        lines.append(f"{item['kind']:<10} {item['procore_id']:>8}  {item['code'] or '-':<10} {item['name']:<32} "
                     f"{state}{blocks}")
    return "\n".join(lines) or "no reference data read yet: run `python -m erp_sync reference refresh` first"


def reconcile_now(store: Store, name: str, as_json: bool) -> int:
    from erp_sync.reconcile.job import reconcile_integration
    from erp_sync.reconcile.report import Report

    integration = next((row for row in store.integrations() if row["name"] == name.strip()), None)
    if integration is None:
        print(f"There is no enabled integration named '{name}'; `python -m erp_sync integrations` lists them.",
              file=sys.stderr)
        return 2
    reconcile_integration(store, integration, f"cli:{getpass.getuser()}")
    report = Report.of(store, integration)
    print(json.dumps(report.as_json(), indent=2) if as_json else report.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
