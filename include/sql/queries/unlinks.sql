-- name: file_unlink_request
INSERT INTO unlink_requests (integration, record_type, procore_id, project_id, record_number, requested_by,
                             filed_by, filed_at, status)
VALUES (:integration, :record_type, :procore_id, :project_id, :record_number, :requested_by, :filed_by, :now,
        'pending')
RETURNING id;

-- name: unlink_request
SELECT id, integration, record_type, procore_id, project_id, record_number, requested_by, filed_by, filed_by_role, filed_at,
       status, colour, message, processed_at, processed_by_run, claimed_by, claimed_at, attempts
FROM unlink_requests
WHERE id = :id;

-- name: integrations_with_pending_unlink_request
SELECT DISTINCT integration FROM unlink_requests
WHERE status = 'pending' OR (status = 'processing' AND claimed_at < :stale_before);

-- name: claim_unlink_request
-- One worker claims a request in one statement: SQLite runs one writer at a time, and PostgreSQL
-- skips rows another worker has locked. A claim older than stale_before belongs to a worker that
-- died and is taken over. With orphans, it claims requests that name no enabled integration.
UPDATE unlink_requests
SET status = 'processing', claimed_by = :worker, claimed_at = :now, attempts = attempts + 1
WHERE id = (
    SELECT id FROM unlink_requests
    WHERE (status = 'pending' OR (status = 'processing' AND claimed_at < :stale_before))
      AND (integration = :integration
           OR (:orphans AND (integration IS NULL
                             OR integration NOT IN (SELECT name FROM integrations WHERE enabled))))
    ORDER BY id
    LIMIT 1
)
RETURNING id, integration, record_type, procore_id, project_id, record_number, requested_by, filed_by, filed_by_role,
          filed_at, status, attempts;

-- name: claim_unlink_request.postgresql
UPDATE unlink_requests
SET status = 'processing', claimed_by = :worker, claimed_at = :now, attempts = attempts + 1
WHERE id = (
    SELECT id FROM unlink_requests
    WHERE (status = 'pending' OR (status = 'processing' AND claimed_at < :stale_before))
      AND (integration = :integration
           OR (CAST(:orphans AS BOOLEAN) AND (integration IS NULL
                             OR integration NOT IN (SELECT name FROM integrations WHERE enabled))))
    ORDER BY id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING id, integration, record_type, procore_id, project_id, record_number, requested_by, filed_by, filed_by_role,
          filed_at, status, attempts;

-- name: finish_unlink_request
UPDATE unlink_requests
SET status = :status, colour = :colour, message = :message, processed_at = :now, processed_by_run = :run_id
WHERE id = :id AND claimed_by = :worker;

-- name: wait_unlink_request
UPDATE unlink_requests
SET status = :status, colour = :colour, message = :message, claimed_by = NULL, claimed_at = NULL,
    attempts = attempts - 1
WHERE id = :id AND claimed_by = :worker;

-- name: release_requests_waiting_for_sync
-- A successful refresh releases the requests (Sage 300 CRE) filed before it started: it has seen them.
UPDATE unlink_requests
SET status = 'pending'
WHERE status = 'waiting' AND integration = :integration AND filed_at < :synced_from;

-- name: release_unlink_request
UPDATE unlink_requests
SET status = 'pending', message = :message, claimed_by = NULL, claimed_at = NULL
WHERE id = :id AND claimed_by = :worker;

-- name: active_link_of_record
SELECT id, record_type, procore_id, procore_project_id, procore_number, erp_ref, erp_key_json, state, colour,
       message, reason_code, erp_status, erp_present, erp_condition, erp_amount, erp_balance, erp_seen_at,
       erp_modified_at, erp_number, procore_updated_at, procore_json, fingerprint, exported_at, created_at,
       updated_at
FROM record_links
WHERE integration_id = :integration_id AND record_type = :record_type AND procore_id = :procore_id
  AND ended_at IS NULL;

-- name: active_link_by_number
SELECT id, record_type, procore_id, procore_project_id, procore_number, erp_ref, erp_key_json, state, colour,
       message, reason_code, erp_status, erp_present, erp_condition, erp_amount, erp_balance, erp_seen_at,
       erp_modified_at, erp_number, procore_updated_at, procore_json, fingerprint, exported_at, created_at,
       updated_at
FROM record_links
WHERE integration_id = :integration_id AND record_type = :record_type AND procore_project_id = :project_id
  AND LOWER(procore_number) = LOWER(:record_number) AND ended_at IS NULL;

-- name: latest_link_of_record
SELECT id, record_type, procore_id, procore_number, erp_ref, ended_at, ended_by, ended_reason
FROM record_links
WHERE integration_id = :integration_id AND procore_id = :procore_id
ORDER BY id DESC
LIMIT 1;

-- name: end_link
UPDATE record_links
SET ended_at = :now, ended_by = :ended_by, ended_reason = :reason, state = 'unlinked', updated_at = :now
WHERE id = :id AND ended_at IS NULL;

-- name: recent_unlink_requests
SELECT id, integration, record_type, procore_id, requested_by, filed_by, status, colour, message, processed_at
FROM unlink_requests
ORDER BY id DESC
LIMIT :limit;
