-- name: save_procore_account
INSERT INTO procore_accounts (airflow_user, procore_conn_id, procore_user_id, procore_login, procore_name,
                              refresh_token_sealed, connected_at, verified_at)
VALUES (:airflow_user, :procore_conn_id, :procore_user_id, :procore_login, :procore_name, :refresh_token_sealed,
        :now, :now)
ON CONFLICT (airflow_user, procore_conn_id) DO UPDATE SET
    procore_user_id = excluded.procore_user_id,
    procore_login = excluded.procore_login,
    procore_name = excluded.procore_name,
    refresh_token_sealed = excluded.refresh_token_sealed,
    connected_at = excluded.connected_at,
    verified_at = excluded.verified_at;

-- name: procore_accounts_of_user
SELECT airflow_user, procore_conn_id, procore_user_id, procore_login, procore_name, connected_at, verified_at
FROM procore_accounts
WHERE airflow_user = :airflow_user
ORDER BY procore_conn_id;

-- name: lock_procore_account
-- Taking the row's write lock first means two runs never spend the same (single-use) refresh token.
UPDATE procore_accounts
SET verified_at = verified_at
WHERE airflow_user = :airflow_user AND procore_conn_id = :procore_conn_id
RETURNING airflow_user, procore_conn_id, procore_user_id, procore_login, procore_name, refresh_token_sealed;

-- name: rotate_procore_account
UPDATE procore_accounts
SET refresh_token_sealed = :refresh_token_sealed, procore_name = :procore_name, procore_login = :procore_login,
    verified_at = :now
WHERE airflow_user = :airflow_user AND procore_conn_id = :procore_conn_id;

-- name: delete_procore_account
DELETE FROM procore_accounts
WHERE airflow_user = :airflow_user AND procore_conn_id = :procore_conn_id
RETURNING procore_user_id;

-- name: map_role
INSERT INTO role_procore_users (role_name, procore_user_id, mapped_by, mapped_at)
VALUES (:role_name, :procore_user_id, :mapped_by, :now)
ON CONFLICT (role_name) DO UPDATE SET
    procore_user_id = excluded.procore_user_id,
    mapped_by = excluded.mapped_by,
    mapped_at = excluded.mapped_at;

-- name: procore_user_of_role
SELECT role_name, procore_user_id FROM role_procore_users WHERE role_name = :role_name;

-- name: session_role
SELECT CAST(NULL AS TEXT) AS role_name;

-- name: session_role.postgresql
SELECT session_user AS role_name;

-- name: procore_conn_ids
SELECT DISTINCT procore_conn_id FROM integrations WHERE enabled ORDER BY procore_conn_id;
