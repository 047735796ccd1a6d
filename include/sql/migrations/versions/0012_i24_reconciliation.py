"""Reconciliation: Procore and the ERP side by side per commitment, each difference with its cause.

- ``erp_bills`` holds the ERP's bills as the hourly refresh read them, with the commitment (subcontract,
  purchase order) each names where the ERP's list says so: how bills entered in the ERP directly, not by
  ERP Sync, are known without a read of their own.
- ``reconciliation_figures`` holds one row per linked commitment: committed (original, approved change
  orders, revised), invoiced, retainage held and paid to date in Procore and in the ERP, whether they
  differ and by how much. Rewritten by every reconciliation.
- ``reconciliation_differences`` holds each difference with its cause, its sentence and both figures; it
  is opened when first seen and closed (``closed_at``) when a reconciliation no longer sees it, and kept.
- The views ``reconciliation_projects`` (totals per project) and ``reconciliation_open_differences``
  are what engineers query; ``docs/reconciliation.md`` describes every column.

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

PROJECTS_VIEW = """
CREATE VIEW reconciliation_projects AS
SELECT integration_id, procore_project_id, MAX(project_name) AS project_name, COUNT(*) AS commitments,
       SUM(differs) AS differing,
       SUM(procore_revised_amount) AS procore_revised_amount, SUM(erp_revised_amount) AS erp_revised_amount,
       SUM(procore_invoiced_amount) AS procore_invoiced_amount, SUM(erp_invoiced_amount) AS erp_invoiced_amount,
       SUM(procore_paid_amount) AS procore_paid_amount, SUM(erp_paid_amount) AS erp_paid_amount,
       SUM(difference_amount) AS difference_amount, MAX(reconciled_at) AS reconciled_at
FROM reconciliation_figures
GROUP BY integration_id, procore_project_id
"""

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
    op.execute(PROJECTS_VIEW)
    op.execute(OPEN_DIFFERENCES_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW reconciliation_open_differences")
    op.execute("DROP VIEW reconciliation_projects")
    op.drop_table("reconciliation_differences")
    op.drop_table("reconciliation_figures")
    op.drop_table("erp_bills")
