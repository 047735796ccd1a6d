"""Document lines: the line map of each exported record (Procore line id <-> ERP line), so an update
changes the matching ERP line and never adds a second one, and the page can show a record's lines.

Revision ID: 0011_i23
Revises: 0012_i24
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_i23"
down_revision = "0012_i24"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_lines",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("link_id", sa.Integer, sa.ForeignKey("record_links.id"), nullable=False),
        sa.Column("procore_line_id", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("erp_line", sa.String(100)),   # the ERP's key of the line: a detail id, a line number
        sa.Column("line_json", sa.Text, nullable=False),  # the line as exported: coding, amounts, retainage
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("link_id", "procore_line_id", name="uq_document_lines_link_line"),
    )


def downgrade() -> None:
    op.drop_table("document_lines")
