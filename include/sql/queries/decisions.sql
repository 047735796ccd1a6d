-- name: file_export_decision
INSERT INTO export_decisions (integration, record_type, procore_id, decision, reason, decided_by, filed_by, filed_at,
                              status)
VALUES (:integration, :record_type, :procore_id, :decision, :reason, :decided_by, :filed_by, :now, 'pending')
RETURNING id;

-- name: export_decision
SELECT id, integration, record_type, procore_id, decision, reason, decided_by, filed_by, filed_by_role, filed_at,
       status, colour, message, processed_at, processed_by_run, claimed_by, claimed_at, attempts, retry_at
FROM export_decisions
WHERE id = :id;

-- name: unanswered_export_decisions
-- As unanswered_unlink_requests: decisions not yet answered, with what was typed into them.
SELECT id, integration, status FROM export_decisions
WHERE status NOT IN ('done', 'rejected')
ORDER BY id;

-- name: normalise_export_decision_status
UPDATE export_decisions
SET status = :status
WHERE id = :id AND status = :typed_status;

-- name: claim_typed_export_decision
-- As claim_typed_unlink_request.
UPDATE export_decisions
SET status = 'processing', claimed_by = :worker, claimed_at = :now, attempts = attempts + 1
WHERE id = :id AND status = :typed_status
RETURNING id, integration, status, attempts;

-- name: integrations_named_by_open_export_decision
SELECT DISTINCT integration FROM export_decisions
WHERE integration IS NOT NULL AND status NOT IN ('done', 'rejected');

-- name: integrations_with_pending_export_decision
-- As integrations_with_pending_unlink_request: due, or claimed by a worker that died.
SELECT DISTINCT integration FROM export_decisions
WHERE (status = 'pending' AND COALESCE(julianday(retry_at), 0) <= julianday(:now))
   OR (status = 'processing' AND COALESCE(julianday(claimed_at), 0) < julianday(:stale_before));

-- name: integrations_with_pending_export_decision.postgresql
SELECT DISTINCT integration FROM export_decisions
WHERE (status = 'pending' AND (retry_at IS NULL OR retry_at <= :now))
   OR (status = 'processing' AND (claimed_at IS NULL OR claimed_at < :stale_before));

-- name: claim_export_decision
-- As claim_unlink_request: one worker claims a decision in one statement; only what every row can hold
-- is returned, the rest is read per decision (export_decision).
UPDATE export_decisions
SET status = 'processing', claimed_by = :worker, claimed_at = :now, attempts = attempts + 1
WHERE id = (
    SELECT id FROM export_decisions
    WHERE ((status = 'pending' AND COALESCE(julianday(retry_at), 0) <= julianday(:now))
           OR (status = 'processing' AND COALESCE(julianday(claimed_at), 0) < julianday(:stale_before)))
      AND (integration IN :names OR (:unnamed AND integration IS NULL))
    ORDER BY id
    LIMIT 1
)
RETURNING id, integration, status, attempts;

-- name: claim_export_decision.postgresql
UPDATE export_decisions
SET status = 'processing', claimed_by = :worker, claimed_at = :now, attempts = attempts + 1
WHERE id = (
    SELECT id FROM export_decisions
    WHERE ((status = 'pending' AND (retry_at IS NULL OR retry_at <= :now))
           OR (status = 'processing' AND (claimed_at IS NULL OR claimed_at < :stale_before)))
      AND (integration IN :names OR (CAST(:unnamed AS BOOLEAN) AND integration IS NULL))
    ORDER BY id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING id, integration, status, attempts;

-- name: finish_export_decision
UPDATE export_decisions
SET status = :status, colour = :colour, message = :message, processed_at = :now, processed_by_run = :run_id,
    retry_at = NULL
WHERE id = :id AND claimed_by = :worker;

-- name: release_export_decision
-- As release_unlink_request.
UPDATE export_decisions
SET status = 'pending', message = :message, claimed_by = NULL, claimed_at = NULL, retry_at = :retry_at,
    attempts = attempts - :given_back
WHERE id = :id AND claimed_by = :worker;

-- name: export_decisions_of_integration
SELECT id, record_type, procore_id, decision, reason, decided_by, filed_by, filed_at, status, colour, message,
       processed_at
FROM export_decisions
WHERE integration = :integration AND (record_type = :record_type OR CAST(:record_type AS VARCHAR(40)) IS NULL)
ORDER BY id DESC
LIMIT :limit;

-- name: decide_link
-- Only one decision turns a waiting record: the one whose statement finds it still in from_state.
UPDATE record_links
SET state = :state, colour = :colour, message = :message, reason_code = :reason_code, updated_at = :now
WHERE id = :id AND state = :from_state AND ended_at IS NULL;

-- name: claim_accepted_export
-- An accepted record is exported by one run only: the one that moves it on from 'accepted', or a retry
-- of that same run finishing what its crashed attempt left half done.
UPDATE record_links
SET state = CASE WHEN state = 'accepted' THEN 'exporting' ELSE state END, export_claimed_by = :worker,
    updated_at = :now
WHERE id = :id AND ended_at IS NULL
  AND (state = 'accepted' OR (state IN ('exporting', 'exported') AND export_claimed_by = :worker));

-- name: release_accepted_export
UPDATE record_links
SET export_claimed_by = NULL
WHERE id = :id AND export_claimed_by = :worker;

-- name: links_in_state
SELECT id, record_type, procore_id, procore_project_id, procore_number, erp_ref, erp_key_json, state, colour,
       message, reason_code, erp_status, erp_present, erp_condition, erp_amount, erp_balance, erp_retainage,
       erp_seen_at,
       erp_modified_at, erp_number, procore_updated_at, procore_json, fingerprint, exported_at, created_at,
       updated_at
FROM record_links
WHERE integration_id = :integration_id AND state = :state AND ended_at IS NULL
  AND (record_type = :record_type OR CAST(:record_type AS VARCHAR(40)) IS NULL)
ORDER BY procore_number, id;

-- name: failed_links
SELECT id, record_type, procore_id, procore_project_id, procore_number, state, colour, message, reason_code, updated_at
FROM record_links
WHERE integration_id = :integration_id AND colour = 'RED' AND ended_at IS NULL
ORDER BY record_type, procore_number, id;
