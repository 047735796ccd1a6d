"""Accounting acceptance: each integration's export mode and the ``export_decisions`` table.

Integrations that exist before this version keep today's behaviour (``direct``: approved records go
straight to the ERP); integrations added afterwards start in ``acceptance`` (Procore's default), where
an approved record waits under Ready to Export until an accounting approver accepts or rejects it.

``export_decisions`` takes accept and reject decisions from the page and from people and tools that
insert rows. As for ``unlink_requests``, on PostgreSQL a trigger writes ``filed_by_role`` from
``session_user`` on insert, whatever was typed, and keeps what a decision names unchanged afterwards.

Revision ID: 0009_i17
Revises: 0008_i15
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_i17"
down_revision = "0008_i15"
branch_labels = None
depends_on = None

NOW = sa.func.current_timestamp()
DECISION_CONTENT = ("integration", "record_type", "procore_id", "decision", "reason", "decided_by", "filed_by",
                    "filed_at", "filed_by_role")
FILER_TRIGGER = f"""
CREATE FUNCTION export_decision_filer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.filed_by_role := session_user;
    ELSE
        {" ".join(f"NEW.{column} := OLD.{column};" for column in DECISION_CONTENT)}
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER export_decision_filer BEFORE INSERT OR UPDATE ON export_decisions
    FOR EACH ROW EXECUTE FUNCTION export_decision_filer();
"""


def upgrade() -> None:
    with op.batch_alter_table("integrations") as batch:
        batch.add_column(sa.Column("export_mode", sa.String(20), nullable=False, server_default="direct"))
    with op.batch_alter_table("integrations") as batch:
        batch.alter_column("export_mode", existing_type=sa.String(20), server_default="acceptance")
    with op.batch_alter_table("record_links") as batch:  # the run whose task exports an accepted record
        batch.add_column(sa.Column("export_claimed_by", sa.String(250)))
    op.create_table(
        "export_decisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("integration", sa.String(100)),
        sa.Column("record_type", sa.String(40)),
        sa.Column("procore_id", sa.BigInteger),
        sa.Column("decision", sa.String(20)),
        sa.Column("reason", sa.Text),
        sa.Column("decided_by", sa.BigInteger),
        sa.Column("filed_by", sa.String(200)),
        sa.Column("filed_by_role", sa.String(63)),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("colour", sa.String(10)),
        sa.Column("message", sa.Text),
        sa.Column("processed_at", sa.DateTime(timezone=True)),
        sa.Column("processed_by_run", sa.String(250)),
        sa.Column("claimed_by", sa.String(250)),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("retry_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_export_decisions_status", "export_decisions", ["status", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FILER_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER export_decision_filer ON export_decisions")
        op.execute("DROP FUNCTION export_decision_filer()")
    op.drop_table("export_decisions")
    with op.batch_alter_table("record_links") as batch:
        batch.drop_column("export_claimed_by")
    with op.batch_alter_table("integrations") as batch:
        batch.drop_column("export_mode")
