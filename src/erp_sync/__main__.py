"""Operator commands: ``python -m erp_sync upgrade | add-integration | integrations | export-mode | runs | map-role``."""

from __future__ import annotations

import argparse
import getpass
import sys

from pydantic import ValidationError

from erp_sync.identity import map_role
from erp_sync.models import ErpKind, ExportMode, Integration
from erp_sync.reports import recent_runs
from erp_sync.store import STORE_CONN_ID, Store


def main(argv: list[str] | None = None) -> int:
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
    role = commands.add_parser("map-role", help="say which Procore user a PostgreSQL role that types unlink "
                                                "requests belongs to (administrators)")
    role.add_argument("--role", required=True)
    role.add_argument("--procore-user-id", required=True, type=int)
    args = parser.parse_args(argv)

    store = Store.from_url(args.db_url) if args.db_url else Store.from_connection()
    if args.command == "upgrade":
        store.upgrade()
        print("status store is at the newest schema")
    elif args.command == "add-integration":
        existing = store.one("integration_by_name", name=args.name)
        export_mode = args.export_mode or (existing["export_mode"] if existing else ExportMode.ACCEPTANCE)
        try:
            integration = Integration(name=args.name, procore_conn_id=args.procore_conn_id,
                                      procore_company_id=args.procore_company_id, erp_kind=args.erp_kind,
                                      erp_conn_id=args.erp_conn_id, enabled=not args.disabled, export_mode=export_mode)
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
        map_role(store, args.role, args.procore_user_id, actor=f"cli:{getpass.getuser()}")
        print(f"database role {args.role} files unlink requests as Procore user {args.procore_user_id}")
    elif args.command == "runs":
        print(recent_runs(store, args.limit).to_string(index=False))
    else:
        for row in store.integrations():
            print(f"{row['id']:>4}  {row['name']:<30} procore={row['procore_conn_id']}/{row['procore_company_id']} "
                  f"erp={row['erp_kind']}/{row['erp_conn_id']} export={row['export_mode']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
