"""The Procore API budget shared by every task and process, each project-stream's reading state, and
each integration's sync schedule and maximum staleness.

Revision ID: 0007_i18
Revises: 0006_i19
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_i18"
down_revision = "0006_i19"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(  # one row per Procore connection: what the current rate window holds
        "procore_budget",
        sa.Column("conn_id", sa.String(250), primary_key=True),
        sa.Column("window_reset", sa.BigInteger),  # X-Rate-Limit-Reset of the current window (epoch s)
        sa.Column("rate_limit", sa.Integer, nullable=False),
        sa.Column("remaining", sa.Integer, nullable=False),
        sa.Column("sync_calls", sa.Integer, nullable=False, server_default="0"),
        sa.Column("on_demand_calls", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(  # when each project's stream was last read and last changed; where a stopped read resumes
        "project_streams",
        sa.Column("integration_id", sa.Integer, sa.ForeignKey("integrations.id"), primary_key=True),
        sa.Column("project_id", sa.BigInteger, primary_key=True),
        sa.Column("stream", sa.String(80), primary_key=True),
        sa.Column("bookmark", sa.String(40)),
        sa.Column("read_at", sa.DateTime(timezone=True)),
        sa.Column("changed_at", sa.DateTime(timezone=True)),
        sa.Column("resume_json", sa.Text),
    )
    with op.batch_alter_table("integrations") as batch:
        batch.add_column(sa.Column("sync_schedule", sa.String(20), nullable=False, server_default="hourly"))
        batch.add_column(sa.Column("max_staleness_hours", sa.Integer, nullable=False, server_default="6"))


def downgrade() -> None:
    with op.batch_alter_table("integrations") as batch:
        batch.drop_column("max_staleness_hours")
        batch.drop_column("sync_schedule")
    op.drop_table("project_streams")
    op.drop_table("procore_budget")
