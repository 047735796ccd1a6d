-- name: commitment_snapshot_of_project
-- A commitment's snapshot names its project (CCOs and invoices carry only the project's id).
SELECT procore_json FROM record_links
WHERE integration_id = :integration_id AND procore_project_id = :project_id AND record_type = 'commitment'
  AND procore_json IS NOT NULL
ORDER BY id DESC
LIMIT 1;

-- name: end_link_in_state
-- Ends a link only while it is still in the state its reader saw (a decision racing another).
UPDATE record_links
SET ended_at = :now, ended_by = :ended_by, ended_reason = :reason, state = 'unlinked', updated_at = :now
WHERE id = :id AND ended_at IS NULL AND state = :from_state;
