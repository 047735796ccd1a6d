-- name: active_links
SELECT id, record_type, procore_id, procore_project_id, procore_number, erp_ref, erp_key_json, state, colour,
       message, reason_code, erp_status, erp_present, erp_condition, erp_amount, erp_balance, erp_retainage,
       erp_seen_at,
       erp_modified_at, erp_number, procore_updated_at, procore_json, fingerprint, exported_at, created_at,
       updated_at, export_claimed_by
FROM record_links
WHERE integration_id = :integration_id AND ended_at IS NULL
ORDER BY id;

-- name: insert_link
INSERT INTO record_links (integration_id, record_type, procore_id, procore_project_id, procore_number, state, colour,
                          message, reason_code, procore_json, procore_updated_at, fingerprint, last_run_id, created_at,
                          updated_at)
VALUES (:integration_id, :record_type, :procore_id, :procore_project_id, :procore_number, :state, :colour,
        :message, :reason_code, :procore_json, :procore_updated_at, :fingerprint, :run_id, :now, :now)
RETURNING id;

-- name: update_link
UPDATE record_links
SET procore_number = :procore_number, erp_ref = :erp_ref, erp_key_json = :erp_key_json, state = :state,
    colour = :colour, message = :message, reason_code = :reason_code, procore_json = :procore_json,
    procore_updated_at = :procore_updated_at, fingerprint = :fingerprint, exported_at = :exported_at,
    last_run_id = COALESCE(:run_id, last_run_id), updated_at = :now
WHERE id = :id AND ended_at IS NULL;

-- name: update_link_erp_view
UPDATE record_links
SET erp_status = :erp_status, erp_present = :erp_present, erp_condition = :erp_condition,
    erp_amount = :erp_amount, erp_balance = :erp_balance, erp_retainage = :erp_retainage,
    erp_modified_at = :erp_modified_at, erp_number = :erp_number,
    erp_seen_at = :erp_seen_at, state = :state, colour = :colour, message = :message,
    last_run_id = COALESCE(:run_id, last_run_id), updated_at = :erp_seen_at
WHERE id = :id AND ended_at IS NULL;

-- name: mark_links_seen
UPDATE record_links
SET erp_seen_at = :erp_seen_at, last_run_id = COALESCE(:run_id, last_run_id)
WHERE id = :id AND ended_at IS NULL;

-- name: links_by_colour
SELECT i.name AS integration, l.record_type, l.colour, COUNT(*) AS links
FROM record_links l JOIN integrations i ON i.id = l.integration_id
WHERE l.ended_at IS NULL
GROUP BY i.name, l.record_type, l.colour
ORDER BY i.name, l.record_type, l.colour;
