"""People act as themselves: connected Procore accounts, database roles mapped to Procore users, the
filer's role captured by the database, and OAuth refresh tokens sealed with Airflow's Fernet key.

On PostgreSQL a trigger writes ``unlink_requests.filed_by_role`` from ``session_user`` on insert,
whatever the filer typed, and keeps what a request names (requester, record, filer) unchanged
afterwards: only the queue's outcome columns may change. The credential tables are not granted to
anyone: only their owner (the pipeline's role) and superusers may read or change them.

Revision ID: 0005_i16
Revises: 0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from erp_sync.credentials import seal, unseal

revision = "0005_i16"
down_revision = "0004"
branch_labels = None
depends_on = None

NOW = sa.func.current_timestamp()
REQUEST_CONTENT = ("integration", "record_type", "procore_id", "project_id", "record_number", "requested_by",
                   "filed_by", "filed_at", "filed_by_role")
FILER_TRIGGER = f"""
CREATE FUNCTION unlink_request_filer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.filed_by_role := session_user;
    ELSE
        {" ".join(f"NEW.{column} := OLD.{column};" for column in REQUEST_CONTENT)}
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER unlink_request_filer BEFORE INSERT OR UPDATE ON unlink_requests
    FOR EACH ROW EXECUTE FUNCTION unlink_request_filer();
"""
PRIVATE_TABLES = ("procore_accounts", "role_procore_users", "oauth_tokens")


def upgrade() -> None:
    op.create_table(
        "procore_accounts",
        sa.Column("airflow_user", sa.String(250), primary_key=True),
        sa.Column("procore_conn_id", sa.String(250), primary_key=True),
        sa.Column("procore_user_id", sa.BigInteger, nullable=False),
        sa.Column("procore_login", sa.String(250)),
        sa.Column("procore_name", sa.String(250)),
        sa.Column("refresh_token_sealed", sa.Text, nullable=False),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "role_procore_users",
        sa.Column("role_name", sa.String(63), primary_key=True),
        sa.Column("procore_user_id", sa.BigInteger, nullable=False),
        sa.Column("mapped_by", sa.String(250)),
        sa.Column("mapped_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    with op.batch_alter_table("unlink_requests") as batch:
        batch.add_column(sa.Column("filed_by_role", sa.String(63)))
    _recode_oauth_tokens("refresh_token", "refresh_token_sealed", seal)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FILER_TRIGGER)
        for table in PRIVATE_TABLES:
            op.execute(f"REVOKE ALL ON {table} FROM PUBLIC")


def _recode_oauth_tokens(source: str, target: str, recode) -> None:
    """Move every token from one column to another through ``recode`` (seal or unseal)."""
    with op.batch_alter_table("oauth_tokens") as batch:
        batch.add_column(sa.Column(target, sa.Text))
    bind = op.get_bind()
    for conn_id, value in bind.execute(sa.text(f"SELECT conn_id, {source} FROM oauth_tokens")).all():
        bind.execute(sa.text(f"UPDATE oauth_tokens SET {target} = :value WHERE conn_id = :conn_id"),
                     {"value": recode(value), "conn_id": conn_id})
    with op.batch_alter_table("oauth_tokens") as batch:
        batch.drop_column(source)
        batch.alter_column(target, existing_type=sa.Text, nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER unlink_request_filer ON unlink_requests")
        op.execute("DROP FUNCTION unlink_request_filer()")
    _recode_oauth_tokens("refresh_token_sealed", "refresh_token", unseal)
    with op.batch_alter_table("unlink_requests") as batch:
        batch.drop_column("filed_by_role")
    op.drop_table("role_procore_users")
    op.drop_table("procore_accounts")
