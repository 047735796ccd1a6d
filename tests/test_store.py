"""The status store on SQLite and PostgreSQL: schema, upgrades, named queries, the hand-filed row."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from erp_sync.models import ErpKind, Integration
from erp_sync.store import SQL_DIR, RefreshTokens, Store, load_queries

README = Path(__file__).resolve().parents[1] / "README.md"
ACME = Integration(name="acme-acumatica", procore_conn_id="procore_default", procore_company_id=42,
                   erp_kind=ErpKind.ACUMATICA, erp_conn_id="acumatica_default")


def readme_insert() -> str:
    """The example INSERT a person is told to use in the README, exactly as written there."""
    block = re.search(r"```sql\n(INSERT INTO unlink_requests.*?)```", README.read_text(), re.DOTALL)
    assert block, "README must show an example INSERT INTO unlink_requests"
    return block.group(1)


def test_schema_has_every_table(store):
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"integrations", "record_links", "sync_runs", "watermarks", "payments", "unlink_requests",
            "audit_log", "erp_sync_schema_version"} <= tables


def test_upgrade_again_keeps_data(store):
    store.save_integration(ACME)
    store.upgrade()
    assert [row["name"] for row in store.integrations()] == ["acme-acumatica"]
    with store.engine.connect() as connection:
        versions = connection.execute(sa.text("SELECT version_num FROM erp_sync_schema_version")).scalars().all()
    assert versions == [ScriptDirectory(str(SQL_DIR / "migrations")).get_current_head()]


def store_at(tmp_path: Path, revision: str, *statements: str) -> Store:
    """A SQLite store at an older schema version, holding what ``statements`` insert."""
    store = Store.from_url(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(SQL_DIR / "migrations"))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        for statement in statements:
            connection.execute(sa.text(statement))
    return store


FIRST_VERSION_INTEGRATION = ("INSERT INTO integrations (name, procore_conn_id, procore_company_id, erp_kind, erp_conn_id) "
                             "VALUES ('acme-acumatica', 'procore_default', 42, 'acumatica', 'acumatica_default')")


def test_a_database_of_the_first_version_upgrades_without_losing_data(tmp_path):
    store = store_at(tmp_path, "0001", FIRST_VERSION_INTEGRATION)  # later columns do not exist yet
    store.upgrade()
    assert [row["name"] for row in store.integrations()] == ["acme-acumatica"]
    assert {"procore_json", "erp_condition"} <= {c["name"] for c in sa.inspect(store.engine).get_columns("record_links")}


def test_integrations_from_before_acceptance_keep_direct_export_and_new_ones_wait_for_acceptance(tmp_path):
    store = store_at(tmp_path, "0005_i16", FIRST_VERSION_INTEGRATION)
    store.upgrade()
    store.save_integration(ACME.model_copy(update={"name": "new-acumatica"}))
    with store.engine.begin() as connection:  # a row typed in without a mode gets Procore's default too
        connection.execute(sa.text("INSERT INTO integrations (name, procore_conn_id, procore_company_id, erp_kind, "
                                   "erp_conn_id) VALUES ('typed', 'p', 1, 'acumatica', 'a')"))
    modes = {row["name"]: row["export_mode"] for row in store.integrations()}
    assert modes == {"acme-acumatica": "direct", "new-acumatica": "acceptance", "typed": "acceptance"}


def test_an_upgrade_seals_the_plain_refresh_tokens_older_versions_kept(tmp_path):
    store = store_at(tmp_path, "0004", "INSERT INTO oauth_tokens (conn_id, refresh_token) VALUES ('qbo', 'AB11-plain')")

    store.upgrade()

    with store.engine.connect() as connection:
        kept = connection.execute(sa.text("SELECT * FROM oauth_tokens")).mappings().one()
    assert "refresh_token" not in kept and "AB11-plain" not in kept["refresh_token_sealed"]
    assert RefreshTokens(store).load("qbo") == "AB11-plain"


def test_saving_an_integration_twice_updates_it_and_audits_both(store):
    first = store.save_integration(ACME)
    second = store.save_integration(ACME.model_copy(update={"erp_conn_id": "acumatica_prod"}))
    assert first == second
    assert [row["erp_conn_id"] for row in store.integrations()] == ["acumatica_prod"]
    trail = store.rows("audit_trail", entity="integration", entity_id="acme-acumatica")
    assert [entry["action"] for entry in trail] == ["saved", "saved"]
    assert trail[0]["at"].tzinfo is not None


def test_disabled_integrations_are_not_listed(store):
    store.save_integration(ACME)
    store.save_integration(ACME.model_copy(update={"name": "old-qbo", "enabled": False}))
    assert [row["name"] for row in store.integrations()] == ["acme-acumatica"]


def test_runs_record_counts_calls_and_utc_times(store):
    integration_id = store.save_integration(ACME)
    run_id = store.start_run("hourly_sync", integration_id, "manual__1")
    store.finish_run(run_id, "success", {"exported": 3}, {"procore": 7, "acumatica": 4})
    last = store.one("last_finished_run", integration_id=integration_id, job="hourly_sync")
    assert last["id"] == run_id
    assert last["counts_json"] == '{"exported": 3}'
    assert last["api_calls_json"] == '{"acumatica": 4, "procore": 7}'
    assert last["finished_at"].tzinfo is not None
    assert abs(last["finished_at"] - datetime.now(UTC)) < timedelta(minutes=1)


def test_failed_runs_do_not_count_as_finished(store):
    integration_id = store.save_integration(ACME)
    store.finish_run(store.start_run("hourly_sync", integration_id, "r1"), "failed", {}, {}, error="boom")
    assert store.one("last_finished_run", integration_id=integration_id, job="hourly_sync") is None


def test_watermarks_move_forward(store):
    integration_id = store.save_integration(ACME)
    assert store.watermark(integration_id, "procore.requisitions") is None
    store.set_watermark(integration_id, "procore.requisitions", "2026-11-01T00:00:00+00:00")
    store.set_watermark(integration_id, "procore.requisitions", "2026-11-02T00:00:00+00:00")
    assert store.watermark(integration_id, "procore.requisitions") == "2026-11-02T00:00:00+00:00"


def test_one_active_link_per_record_but_ended_links_stay(store):
    integration_id = store.save_integration(ACME)
    insert = sa.text("INSERT INTO record_links (integration_id, record_type, procore_id, erp_ref, ended_at) "
                     "VALUES (:i, 'subcontractor_invoice', 77, :ref, :ended)")
    with store.engine.begin() as connection:
        connection.execute(insert, {"i": integration_id, "ref": "AP-1", "ended": datetime.now(UTC)})
        connection.execute(insert, {"i": integration_id, "ref": "AP-2", "ended": None})
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as connection:
        connection.execute(insert, {"i": integration_id, "ref": "AP-3", "ended": None})


def test_the_readme_insert_files_a_pending_request(store):
    with store.engine.begin() as connection:
        connection.execute(sa.text(readme_insert()))
        row = connection.execute(sa.text("SELECT * FROM unlink_requests")).mappings().one()
    assert row["status"] == "pending"
    assert row["record_type"] == "subcontractor_invoice"
    assert row["filed_at"] is not None
    assert row["colour"] is None and row["message"] is None


def test_named_queries_are_unique_and_not_empty():
    queries = load_queries()
    assert {"upsert_integration", "start_run", "finish_run", "set_watermark", "record_audit"} <= set(queries)
    assert all(sql.strip() for sql in queries.values())
