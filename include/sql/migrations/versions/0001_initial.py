"""The status store: integrations, record links, runs, watermarks, payments, unlink requests, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NOW = sa.func.current_timestamp()


def timestamp(name: str, **kwargs) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), **kwargs)


def upgrade() -> None:
    op.create_table(
        "integrations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("procore_conn_id", sa.String(250), nullable=False),
        sa.Column("procore_company_id", sa.BigInteger, nullable=False),
        sa.Column("erp_kind", sa.String(30), nullable=False),
        sa.Column("erp_conn_id", sa.String(250), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        timestamp("created_at", nullable=False, server_default=NOW),
        timestamp("updated_at", nullable=False, server_default=NOW),
    )
    op.create_table(
        "record_links",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("integration_id", sa.Integer, sa.ForeignKey("integrations.id"), nullable=False),
        sa.Column("record_type", sa.String(40), nullable=False),
        sa.Column("procore_id", sa.BigInteger, nullable=False),
        sa.Column("procore_project_id", sa.BigInteger),
        sa.Column("procore_number", sa.String(100)),
        sa.Column("erp_ref", sa.String(200)),
        sa.Column("erp_key_json", sa.Text),
        sa.Column("state", sa.String(20), nullable=False, server_default="active"),
        sa.Column("colour", sa.String(10), nullable=False, server_default="BLUE"),
        sa.Column("message", sa.Text),
        sa.Column("erp_status", sa.String(60)),
        sa.Column("erp_present", sa.Boolean),
        timestamp("erp_seen_at"),
        timestamp("procore_updated_at"),
        timestamp("exported_at"),
        timestamp("created_at", nullable=False, server_default=NOW),
        timestamp("updated_at", nullable=False, server_default=NOW),
        timestamp("ended_at"),
        sa.Column("ended_by", sa.String(200)),
        sa.Column("ended_reason", sa.Text),
    )
    op.create_index(
        "uq_record_links_active",
        "record_links",
        ["integration_id", "record_type", "procore_id"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_index("ix_record_links_erp_ref", "record_links", ["integration_id", "erp_ref"])
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("integration_id", sa.Integer, sa.ForeignKey("integrations.id")),
        sa.Column("job", sa.String(40), nullable=False),
        sa.Column("airflow_run_id", sa.String(250)),
        sa.Column("status", sa.String(20), nullable=False, server_default="running"),
        sa.Column("counts_json", sa.Text, nullable=False, server_default="{}"),
        sa.Column("api_calls_json", sa.Text, nullable=False, server_default="{}"),
        sa.Column("error", sa.Text),
        timestamp("started_at", nullable=False, server_default=NOW),
        timestamp("finished_at"),
    )
    op.create_index("ix_sync_runs_job", "sync_runs", ["integration_id", "job", "status"])
    op.create_table(
        "watermarks",
        sa.Column("integration_id", sa.Integer, sa.ForeignKey("integrations.id"), primary_key=True),
        sa.Column("stream", sa.String(80), primary_key=True),
        sa.Column("value", sa.String(100), nullable=False),
        timestamp("updated_at", nullable=False, server_default=NOW),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("integration_id", sa.Integer, sa.ForeignKey("integrations.id"), nullable=False),
        sa.Column("erp_payment_key", sa.String(200), nullable=False),
        sa.Column("erp_bill_ref", sa.String(200), nullable=False),
        sa.Column("procore_invoice_id", sa.BigInteger),
        sa.Column("procore_commitment_id", sa.BigInteger),
        sa.Column("procore_payment_id", sa.BigInteger),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("payment_date", sa.Date),
        sa.Column("payment_method", sa.String(30)),
        sa.Column("check_number", sa.String(60)),
        sa.Column("status", sa.String(20), nullable=False, server_default="active"),
        sa.Column("colour", sa.String(10), nullable=False, server_default="BLUE"),
        sa.Column("message", sa.Text),
        timestamp("voided_at"),
        timestamp("created_at", nullable=False, server_default=NOW),
        timestamp("updated_at", nullable=False, server_default=NOW),
        sa.UniqueConstraint("integration_id", "erp_payment_key", "erp_bill_ref", name="uq_payments_erp"),
    )
    op.create_table(
        "unlink_requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("integration", sa.String(100)),
        sa.Column("record_type", sa.String(40)),
        sa.Column("procore_id", sa.BigInteger),
        sa.Column("project_id", sa.BigInteger),
        sa.Column("record_number", sa.String(100)),
        sa.Column("requested_by", sa.BigInteger),
        sa.Column("filed_by", sa.String(200)),
        timestamp("filed_at", nullable=False, server_default=NOW),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("colour", sa.String(10)),
        sa.Column("message", sa.Text),
        timestamp("processed_at"),
        sa.Column("processed_by_run", sa.String(250)),
        sa.Column("claimed_by", sa.String(250)),
        timestamp("claimed_at"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_unlink_requests_status", "unlink_requests", ["status", "id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        timestamp("at", nullable=False, server_default=NOW),
        sa.Column("integration_id", sa.Integer),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("entity_id", sa.String(100), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("old_state", sa.String(60)),
        sa.Column("new_state", sa.String(60)),
        sa.Column("actor", sa.String(250)),
        sa.Column("detail_json", sa.Text),
    )
    op.create_index("ix_audit_log_entity", "audit_log", ["entity", "entity_id"])


def downgrade() -> None:
    for table in (
        "audit_log", "unlink_requests", "payments", "watermarks", "sync_runs", "record_links", "integrations"
    ):
        op.drop_table(table)
