"""Payment import: what was last written to Procore per payment application, the ERP bill number.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("record_links") as batch:
        batch.add_column(sa.Column("erp_number", sa.String(100)))  # the bill number the ERP shows (VendorRef, DocNumber)
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("origin_id", sa.String(250)))
        batch.add_column(sa.Column("procore_project_id", sa.BigInteger))
        batch.add_column(sa.Column("invoice_number", sa.String(100)))
        batch.add_column(sa.Column("erp_bill_number", sa.String(100)))
        batch.add_column(sa.Column("fingerprint", sa.String(64)))
        batch.add_column(sa.Column("erp_modified_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        for column in ("erp_modified_at", "fingerprint", "erp_bill_number", "invoice_number", "procore_project_id",
                       "origin_id"):
            batch.drop_column(column)
    with op.batch_alter_table("record_links") as batch:
        batch.drop_column("erp_number")
