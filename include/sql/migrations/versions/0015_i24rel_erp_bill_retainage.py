"""What each ERP bill holds and releases of retainage (``erp_bills.retainage``, ``erp_bills.released_from``), so
the reconciliation counts the retainage of bills entered in the ERP directly and sees a release made in Acumatica:
a retainage bill of its own ("Retainage for Bill 000123"), kept with the bill it releases from. Each ERP's refresh
bookmark is dropped once, so the next refresh reads every bill again (retainage bills made before this revision
were not kept, and a kept bill's retainage is unknown until it is read again).

Revision ID: 0015_i24rel
Revises: 0014_i24
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_i24rel"
down_revision = "0014_i24"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("erp_bills") as table:
        table.add_column(sa.Column("retainage", sa.Numeric(14, 2)))
        table.add_column(sa.Column("released_from", sa.String(200)))
    op.execute(sa.text("DELETE FROM watermarks WHERE stream LIKE :refresh").bindparams(refresh="%:refresh"))


def downgrade() -> None:
    with op.batch_alter_table("erp_bills") as table:
        table.drop_column("released_from")
        table.drop_column("retainage")
