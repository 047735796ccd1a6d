"""What the hourly sync keeps per link (the Procore snapshot, the ERP's view) and OAuth refresh tokens.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("record_links") as batch:
        batch.add_column(sa.Column("procore_json", sa.Text))
        batch.add_column(sa.Column("fingerprint", sa.String(64)))
        batch.add_column(sa.Column("reason_code", sa.String(40)))
        batch.add_column(sa.Column("erp_condition", sa.String(20)))
        batch.add_column(sa.Column("erp_amount", sa.Numeric(14, 2)))
        batch.add_column(sa.Column("erp_balance", sa.Numeric(14, 2)))
        batch.add_column(sa.Column("erp_modified_at", sa.DateTime(timezone=True)))
    op.create_table(
        "oauth_tokens",
        sa.Column("conn_id", sa.String(250), primary_key=True),
        sa.Column("refresh_token", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.current_timestamp()),
    )


def downgrade() -> None:
    op.drop_table("oauth_tokens")
    with op.batch_alter_table("record_links") as batch:
        for column in ("erp_modified_at", "erp_balance", "erp_amount", "erp_condition", "reason_code", "fingerprint",
                       "procore_json"):
            batch.drop_column(column)
