"""An unlink request that met transient trouble waits before its retry; a run says which process runs it
and when it last showed a sign of life, so a run whose process died can be closed as such.

Revision ID: 0006_i19
Revises: 0005_i16
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_i19"
down_revision = "0005_i16"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("unlink_requests") as batch:
        batch.add_column(sa.Column("retry_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("worker", sa.String(250)))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("worker")
    with op.batch_alter_table("unlink_requests") as batch:
        batch.drop_column("retry_at")
