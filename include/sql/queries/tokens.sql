-- name: get_refresh_token
SELECT refresh_token_sealed FROM oauth_tokens WHERE conn_id = :conn_id;

-- name: save_refresh_token
INSERT INTO oauth_tokens (conn_id, refresh_token_sealed, updated_at)
VALUES (:conn_id, :refresh_token_sealed, :updated_at)
ON CONFLICT (conn_id) DO UPDATE SET
    refresh_token_sealed = excluded.refresh_token_sealed,
    updated_at = excluded.updated_at;
