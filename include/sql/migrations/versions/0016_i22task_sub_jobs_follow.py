"""Sub jobs follow their project's ERP job: a sub job's link ended because its project was linked to another job
(or unlinked) says so (``reference_links.ended_with_project``). Such an end is no person's or drift's judgement
of the sub job, so an exact code within the project's new job links it again by itself.

Revision ID: 0016_i22task
Revises: 0015_i24rel
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_i22task"
down_revision = "0015_i24rel"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reference_links") as table:
        table.add_column(sa.Column("ended_with_project", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("reference_links") as table:
        table.drop_column("ended_with_project")
