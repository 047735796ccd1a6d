"""Reference data: both sides' projects, sub jobs, cost codes, cost types and vendors, and the links
between them.

``procore_reference_items`` and ``erp_reference_items`` hold what the last reading saw of each side, per
integration and kind (``deleted_at`` once an item is gone, ``active`` as the system says). A
``reference_links`` row links one Procore item to one ERP item from ``started_at`` until ``ended_at``; a
link is ended (with who and why), never deleted. At most one open link per Procore item, and per ERP item
within a Procore project (a cost code of the ERP's list serves each project's own cost code).

Revision ID: 0010_i22
Revises: 0009_i17
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_i22"
down_revision = "0009_i17"
branch_labels = None
depends_on = None

NOW = sa.func.current_timestamp()
OPEN = sa.text("ended_at IS NULL")


def timestamp(name: str, **kwargs) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), **kwargs)


def item_columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("integration_id", sa.Integer, sa.ForeignKey("integrations.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("code", sa.String(200), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("detail_json", sa.Text),
        timestamp("seen_at", nullable=False, server_default=NOW),
        timestamp("deleted_at"),
    ]


def upgrade() -> None:
    op.create_table(
        "procore_reference_items",
        *item_columns(),
        sa.Column("procore_id", sa.String(64), nullable=False),
        sa.Column("project_id", sa.BigInteger),  # sub jobs and cost codes belong to a project
        sa.UniqueConstraint("integration_id", "kind", "procore_id", name="uq_procore_reference_items"),
    )
    op.create_table(
        "erp_reference_items",
        *item_columns(),
        sa.Column("erp_id", sa.String(200), nullable=False),
        sa.Column("erp_project", sa.String(200)),  # the ERP job a task, extra or phase (or job cost code) is of
        sa.Column("posts_to", sa.String(200)),     # Acumatica: the expense account of a cost type's account group
        sa.UniqueConstraint("integration_id", "kind", "erp_id", name="uq_erp_reference_items"),
    )
    op.create_table(
        "reference_links",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("integration_id", sa.Integer, sa.ForeignKey("integrations.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("procore_id", sa.String(64), nullable=False),
        sa.Column("procore_project_id", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("erp_id", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        timestamp("started_at", nullable=False, server_default=NOW),
        sa.Column("started_by", sa.String(250), nullable=False),
        timestamp("ended_at"),
        sa.Column("ended_by", sa.String(250)),
        sa.Column("ended_reason", sa.Text),
    )
    op.create_index("uq_reference_links_procore", "reference_links", ["integration_id", "kind", "procore_id"],
                    unique=True, sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_index("uq_reference_links_erp", "reference_links",
                    ["integration_id", "kind", "procore_project_id", "erp_id"],
                    unique=True, sqlite_where=OPEN, postgresql_where=OPEN)


def downgrade() -> None:
    for table in ("reference_links", "erp_reference_items", "procore_reference_items"):
        op.drop_table(table)
