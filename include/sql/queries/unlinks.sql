-- name: file_unlink_request
INSERT INTO unlink_requests (integration, record_type, procore_id, project_id, record_number, requested_by,
                             filed_by, filed_at, status)
VALUES (:integration, :record_type, :procore_id, :project_id, :record_number, :requested_by, :filed_by, :now,
        'pending')
RETURNING id;

-- name: unlink_request
SELECT id, integration, record_type, procore_id, project_id, record_number, requested_by, filed_by, filed_by_role,
       filed_at, status, colour, message, processed_at, processed_by_run, claimed_by, claimed_at, attempts, retry_at
FROM unlink_requests
WHERE id = :id;

-- name: unanswered_unlink_requests
-- Requests not yet answered, with what was typed into them (no timestamps: they may not be readable).
SELECT id, integration, status FROM unlink_requests
WHERE status NOT IN ('done', 'rejected')
ORDER BY id;

-- name: integrations_named_by_open_unlink_request
SELECT DISTINCT integration FROM unlink_requests
WHERE integration IS NOT NULL AND status NOT IN ('done', 'rejected');

-- name: normalise_unlink_request_status
-- A status typed another way ('Pending', ' PENDING ') in the queue's spelling, unless the queue has meanwhile
-- changed it.
UPDATE unlink_requests
SET status = :status
WHERE id = :id AND status = :typed_status;

-- name: integrations_with_pending_unlink_request
-- Due: pending and not backing off after transient trouble, or claimed by a worker that died. On SQLite
-- a typed time that is not a time counts as long past, so such a row is never left waiting.
SELECT DISTINCT integration FROM unlink_requests
WHERE (status = 'pending' AND COALESCE(julianday(retry_at), 0) <= julianday(:now))
   OR (status = 'processing' AND COALESCE(julianday(claimed_at), 0) < julianday(:stale_before));

-- name: integrations_with_pending_unlink_request.postgresql
SELECT DISTINCT integration FROM unlink_requests
WHERE (status = 'pending' AND (retry_at IS NULL OR retry_at <= :now))
   OR (status = 'processing' AND (claimed_at IS NULL OR claimed_at < :stale_before));

-- name: claim_unlink_request
-- One worker claims a request in one statement: SQLite runs one writer at a time, and PostgreSQL
-- skips rows another worker has locked. A claim older than stale_before belongs to a worker that
-- died and is taken over. It claims requests naming the integration as spelt in names, and with unnamed
-- those that name none. Only
-- what every row can hold is returned: the rest is read per request (unlink_request).
UPDATE unlink_requests
SET status = 'processing', claimed_by = :worker, claimed_at = :now, attempts = attempts + 1
WHERE id = (
    SELECT id FROM unlink_requests
    WHERE ((status = 'pending' AND COALESCE(julianday(retry_at), 0) <= julianday(:now))
           OR (status = 'processing' AND COALESCE(julianday(claimed_at), 0) < julianday(:stale_before)))
      AND (integration IN :names OR (:unnamed AND integration IS NULL))
    ORDER BY id
    LIMIT 1
)
RETURNING id, integration, status, attempts;

-- name: claim_unlink_request.postgresql
UPDATE unlink_requests
SET status = 'processing', claimed_by = :worker, claimed_at = :now, attempts = attempts + 1
WHERE id = (
    SELECT id FROM unlink_requests
    WHERE ((status = 'pending' AND (retry_at IS NULL OR retry_at <= :now))
           OR (status = 'processing' AND (claimed_at IS NULL OR claimed_at < :stale_before)))
      AND (integration IN :names OR (CAST(:unnamed AS BOOLEAN) AND integration IS NULL))
    ORDER BY id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING id, integration, status, attempts;

-- name: claim_typed_unlink_request
-- A row typed with a status of its own, claimed to be answered, unless the queue has meanwhile changed it.
UPDATE unlink_requests
SET status = 'processing', claimed_by = :worker, claimed_at = :now, attempts = attempts + 1
WHERE id = :id AND status = :typed_status
RETURNING id, integration, status, attempts;

-- name: finish_unlink_request
UPDATE unlink_requests
SET status = :status, colour = :colour, message = :message, processed_at = :now, processed_by_run = :run_id,
    retry_at = NULL
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
WHERE status = 'waiting' AND integration IN :names AND filed_at < :synced_from;

-- name: release_unlink_request
-- Back to pending: to be retried at retry_at (trouble with this request: the attempt counts), or
-- at once by the next run (trouble with the whole integration: the attempt is given back).
UPDATE unlink_requests
SET status = 'pending', message = :message, claimed_by = NULL, claimed_at = NULL, retry_at = :retry_at,
    attempts = attempts - :given_back
WHERE id = :id AND claimed_by = :worker;

-- name: active_link_of_record
SELECT id, record_type, procore_id, procore_project_id, procore_number, erp_ref, erp_key_json, state, colour,
       message, reason_code, erp_status, erp_present, erp_condition, erp_amount, erp_balance, erp_retainage,
       erp_seen_at,
       erp_modified_at, erp_number, procore_updated_at, procore_json, fingerprint, exported_at, created_at,
       updated_at
FROM record_links
WHERE integration_id = :integration_id AND record_type = :record_type AND procore_id = :procore_id
  AND ended_at IS NULL;

-- name: active_link_by_number
SELECT id, record_type, procore_id, procore_project_id, procore_number, erp_ref, erp_key_json, state, colour,
       message, reason_code, erp_status, erp_present, erp_condition, erp_amount, erp_balance, erp_retainage,
       erp_seen_at,
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
