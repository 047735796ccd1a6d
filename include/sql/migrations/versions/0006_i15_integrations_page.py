"""The ERP Integrations page: which Airflow task touched a link last, the colour tally of each refresh,
and the indexes that keep the page's views fast at tens of thousands of links per integration.

- ``sync_runs`` keeps the Airflow task that ran the job (``dag_id``, ``task_id``, ``map_index`` beside
  the ``airflow_run_id`` it had), so the page links to that task's log, and the hourly budget each
  vendor reported, which the operations chart draws the calls against.
- ``record_links.last_run_id`` is the run that last wrote the link (export, refresh, payment import).
- ``colour_tallies`` holds the links of each colour at the end of every refresh: the RED count over time.

Revision ID: 0006_i15
Revises: 0005_i16
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_i15"
down_revision = "0005_i16"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("dag_id", sa.String(250)))
        batch.add_column(sa.Column("task_id", sa.String(250)))
        batch.add_column(sa.Column("map_index", sa.Integer))
        # The hourly budget each vendor reported during the run (Procore's X-Rate-Limit-Limit).
        batch.add_column(sa.Column("rate_limits_json", sa.Text, nullable=False, server_default="{}"))
    with op.batch_alter_table("record_links") as batch:
        batch.add_column(sa.Column("last_run_id", sa.Integer))
    # A view of a tab (one integration, record type and colour, active or unlinked), newest first, and its count.
    op.create_index("ix_record_links_view", "record_links",
                    ["integration_id", "record_type", "colour", "ended_at", "id"])
    op.create_index("ix_record_links_project", "record_links", ["integration_id", "procore_project_id", "id"])
    op.create_index("ix_payments_invoice", "payments", ["integration_id", "procore_invoice_id"])
    op.create_index("ix_sync_runs_recent", "sync_runs", ["integration_id", "started_at"])
    op.create_table(
        "colour_tallies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("integration_id", sa.Integer, sa.ForeignKey("integrations.id"), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("colour", sa.String(10), nullable=False),
        sa.Column("links", sa.Integer, nullable=False),
    )
    op.create_index("ix_colour_tallies", "colour_tallies", ["integration_id", "taken_at"])


def downgrade() -> None:
    op.drop_table("colour_tallies")
    for index, table in (("ix_sync_runs_recent", "sync_runs"), ("ix_payments_invoice", "payments"),
                         ("ix_record_links_project", "record_links"), ("ix_record_links_view", "record_links")):
        op.drop_index(index, table_name=table)
    with op.batch_alter_table("record_links") as batch:
        batch.drop_column("last_run_id")
    with op.batch_alter_table("sync_runs") as batch:
        for column in ("rate_limits_json", "map_index", "task_id", "dag_id"):
            batch.drop_column(column)
