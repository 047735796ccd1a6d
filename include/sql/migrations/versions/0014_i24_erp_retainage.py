"""The ERP's retainage held on each linked bill, as the hourly refresh read it (``record_links.erp_retainage``),
so the reconciliation compares retainage held on both sides: Acumatica's bill lines less the bill's ``Amount``,
QuickBooks' negative lines to the retainage item, Sage 300 CRE's ``APM_MASTER__INVOICE.Retainage`` and Sage 100
Contractor's ``acpinv.retain``. Each ERP's refresh bookmark is dropped once, so the next refresh reads every
linked document again and fills the column (an incremental read would leave unchanged bills unknown).

Revision ID: 0014_i24
Revises: 0013_i25
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_i24"
down_revision = "0013_i25"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("record_links") as table:
        table.add_column(sa.Column("erp_retainage", sa.Numeric(14, 2)))
    op.execute(sa.text("DELETE FROM watermarks WHERE stream LIKE :refresh").bindparams(refresh="%:refresh"))


def downgrade() -> None:
    with op.batch_alter_table("record_links") as table:
        table.drop_column("erp_retainage")
