"""Unlink requests typed into the table get a filing time to the millisecond on SQLite as well.

SQLite's CURRENT_TIMESTAMP has whole seconds, so a request filed in the same second as a sync
started would look filed before it; the Sage 300 CRE rule (wait for a sync that started after the
request) needs the finer time. PostgreSQL's now() is already precise.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SQLITE_NOW_MS = sa.text("(strftime('%Y-%m-%d %H:%M:%f', 'now'))")


def _filed_at_default(default) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("unlink_requests") as batch:
        batch.alter_column("filed_at", existing_type=sa.DateTime(timezone=True), existing_nullable=False,
                           server_default=default)


def upgrade() -> None:
    _filed_at_default(SQLITE_NOW_MS)


def downgrade() -> None:
    _filed_at_default(sa.func.current_timestamp())
