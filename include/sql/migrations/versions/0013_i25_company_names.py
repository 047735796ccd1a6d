"""Company names: the name Procore gives the integration's company (``GET /rest/v1.0/companies``), kept
when the reference data is read, so the pages name the company as Procore does rather than by its id.

Revision ID: 0013_i25
Revises: 0011_i23
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_i25"
down_revision = "0011_i23"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("integrations") as table:
        table.add_column(sa.Column("procore_company_name", sa.String(200)))


def downgrade() -> None:
    with op.batch_alter_table("integrations") as table:
        table.drop_column("procore_company_name")
