-- name: document_lines_of_links
SELECT link_id, procore_line_id, position, erp_line, line_json, fingerprint, updated_at
FROM document_lines
WHERE link_id IN :link_ids
ORDER BY link_id, position, procore_line_id;

-- name: delete_document_lines_of_link
DELETE FROM document_lines WHERE link_id = :link_id;

-- name: insert_document_line
INSERT INTO document_lines (link_id, procore_line_id, position, erp_line, line_json, fingerprint, updated_at)
VALUES (:link_id, :procore_line_id, :position, :erp_line, :line_json, :fingerprint, :now);

-- name: links_with_reason
SELECT id, record_type, procore_id, procore_project_id, procore_number, colour, message, reason_code
FROM record_links
WHERE integration_id = :integration_id AND ended_at IS NULL AND reason_code = :reason_code
ORDER BY id;
