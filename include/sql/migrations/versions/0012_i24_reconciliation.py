"""Reconciliation: Procore and the ERP side by side per commitment, each difference with its cause.

- ``erp_bills`` holds the ERP's bills as the hourly refresh read them, with the commitment (subcontract,
  purchase order) each names where the ERP's list says so: how bills entered in the ERP directly, not by
  ERP Sync, are known without a read of their own.
- ``reconciliation_figures`` holds one row per linked commitment: committed (original, approved change
  orders, revised), invoiced, retainage held and paid to date in Procore and in the ERP, whether they
  differ and by how much. Rewritten by every reconciliation.
- ``reconciliation_differences`` holds each difference with its cause, its sentence and both figures; it
  is opened when first seen and closed (``closed_at``) when a reconciliation no longer sees it, and kept.
- ``reconciliation_projects`` holds the totals per project, written with the figures (the page reads it
  without adding up thousands of rows); the view ``reconciliation_open_differences`` joins the open
  differences to their commitments. ``docs/reconciliation.md`` describes every column.

Revision ID: 0012_i24
Revises: 0010_i22
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_i24"
down_revision = "0010_i22"
branch_labels = None
depends_on = None

FIGURES = ("original", "change_orders", "revised", "invoiced", "retainage", "paid")

OPEN_DIFFERENCES_VIEW = """
CREATE VIEW reconciliation_open_differences AS
SELECT d.id, d.integration_id, d.procore_commitment_id, d.procore_project_id, f.project_name, f.commitment_number,
       d.figure, d.cause, d.subject, d.sentence, d.procore_amount, d.erp_amount, d.first_seen_at, d.last_seen_at
FROM reconciliation_differences d
JOIN reconciliation_figures f
  ON f.integration_id = d.integration_id AND f.procore_commitment_id = d.procore_commitment_id
WHERE d.closed_at IS NULL
"""


def money(name: str) -> sa.Column:
    return sa.Column(name, sa.Numeric(14, 2))


def upgrade() -> None:
    op.create_table(
        "erp_bills",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("integration_id", sa.Integer, sa.ForeignKey("integrations.id"), nullable=False),
        sa.Column("erp_ref", sa.String(200), nullable=False),
        sa.Column("commitment_ref", sa.String(200)),
        sa.Column("erp_number", sa.String(100)),
        money("amount"),
        money("erp_balance"),
        sa.Column("erp_modified_at", sa.DateTime(timezone=True)),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("gone_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("integration_id", "erp_ref", name="uq_erp_bills"),
    )
    op.create_index("ix_erp_bills_commitment", "erp_bills", ["integration_id", "commitment_ref"])
    op.create_table(
        "reconciliation_figures",
        sa.Column("integration_id", sa.Integer, sa.ForeignKey("integrations.id"), primary_key=True),
        sa.Column("procore_commitment_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("procore_project_id", sa.BigInteger, nullable=False),
        sa.Column("project_name", sa.String(200)),
        sa.Column("commitment_number", sa.String(100), nullable=False),
        sa.Column("commitment_title", sa.String(300)),
        sa.Column("erp_ref", sa.String(200)),
        *[money(f"{side}_{figure}_amount") for figure in FIGURES for side in ("procore", "erp")],
        sa.Column("differs", sa.Integer, nullable=False, server_default="0"),
        money("difference_amount"),
        sa.Column("causes", sa.String(300)),
        sa.Column("reconciled_at", sa.DateTime(timezone=True), nullable=False),
    )
    # The page: one integration, differing first, then by project and number, a page at a time.
    op.create_index("ix_reconciliation_page", "reconciliation_figures",
                    ["integration_id", sa.text("differs DESC"), "procore_project_id", "commitment_number"])
    op.create_table(
        "reconciliation_differences",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("integration_id", sa.Integer, sa.ForeignKey("integrations.id"), nullable=False),
        sa.Column("procore_commitment_id", sa.BigInteger, nullable=False),
        sa.Column("procore_project_id", sa.BigInteger, nullable=False),
        sa.Column("figure", sa.String(20), nullable=False),
        sa.Column("cause", sa.String(30), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False, server_default=""),
        sa.Column("sentence", sa.Text, nullable=False),
        money("procore_amount"),
        money("erp_amount"),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("uq_reconciliation_open", "reconciliation_differences",
                    ["integration_id", "procore_commitment_id", "figure", "cause", "subject"], unique=True,
                    sqlite_where=sa.text("closed_at IS NULL"), postgresql_where=sa.text("closed_at IS NULL"))
    op.create_index("ix_reconciliation_cause", "reconciliation_differences",
                    ["integration_id", "cause", "closed_at", "procore_commitment_id"])
    op.create_index("ix_reconciliation_history", "reconciliation_differences",
                    ["integration_id", "procore_commitment_id", "first_seen_at"])
    op.create_table(
        "reconciliation_projects",
        sa.Column("integration_id", sa.Integer, sa.ForeignKey("integrations.id"), primary_key=True),
        sa.Column("procore_project_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("project_name", sa.String(200)),
        sa.Column("commitments", sa.Integer, nullable=False),
        sa.Column("differing", sa.Integer, nullable=False),
        *[money(f"{side}_{figure}_amount") for figure in ("revised", "invoiced", "paid") for side in ("procore", "erp")],
        money("difference_amount"),
        sa.Column("reconciled_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_reconciliation_projects", "reconciliation_projects",
                    ["integration_id", sa.text("differing DESC"), sa.text("difference_amount DESC")])
    op.execute(OPEN_DIFFERENCES_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW reconciliation_open_differences")
    op.drop_table("reconciliation_projects")
    op.drop_table("reconciliation_differences")
    op.drop_table("reconciliation_figures")
    op.drop_table("erp_bills")
