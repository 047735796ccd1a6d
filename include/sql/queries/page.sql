-- The ERP Integrations page: a tab's views, a page at a time, and what each row needs.

-- name: colour_counts
SELECT colour, COUNT(*) AS links
FROM record_links
WHERE integration_id = :integration_id AND record_type = :record_type AND ended_at IS NULL
GROUP BY colour;

-- A view is the active links of one colour (Synced, Waiting, Failed, Rejected in the ERP), or the links that
-- were unlinked. Project and number narrow it when given; the number matches anywhere in it, in any case.
-- Each view has a query of its own so that the index (integration, type, colour, ended_at, id) serves it.

-- name: links_of_colour
SELECT l.id, l.record_type, l.procore_id, l.procore_project_id, l.procore_number, l.erp_ref, l.colour, l.state,
       l.reason_code, l.message, l.erp_seen_at, l.procore_json, l.ended_at, l.ended_by, l.ended_reason,
       r.airflow_run_id, r.dag_id, r.task_id, r.map_index
FROM record_links l LEFT JOIN sync_runs r ON r.id = l.last_run_id
WHERE l.integration_id = :integration_id AND l.record_type = :record_type AND l.colour = :colour
  AND l.ended_at IS NULL
  AND (CAST(:project_id AS BIGINT) IS NULL OR l.procore_project_id = CAST(:project_id AS BIGINT))
  AND (CAST(:number AS VARCHAR(100)) IS NULL OR LOWER(l.procore_number) LIKE CAST(:number AS VARCHAR(100)) ESCAPE '!')
ORDER BY l.id DESC
LIMIT :limit OFFSET :offset;

-- name: links_of_colour_count
SELECT COUNT(*) FROM record_links l
WHERE l.integration_id = :integration_id AND l.record_type = :record_type AND l.colour = :colour
  AND l.ended_at IS NULL
  AND (CAST(:project_id AS BIGINT) IS NULL OR l.procore_project_id = CAST(:project_id AS BIGINT))
  AND (CAST(:number AS VARCHAR(100)) IS NULL OR LOWER(l.procore_number) LIKE CAST(:number AS VARCHAR(100)) ESCAPE '!');

-- name: unlinked_links
SELECT l.id, l.record_type, l.procore_id, l.procore_project_id, l.procore_number, l.erp_ref, l.colour, l.state,
       l.message, l.erp_seen_at, l.procore_json, l.ended_at, l.ended_by, l.ended_reason,
       r.airflow_run_id, r.dag_id, r.task_id, r.map_index
FROM record_links l LEFT JOIN sync_runs r ON r.id = l.last_run_id
WHERE l.integration_id = :integration_id AND l.record_type = :record_type AND l.ended_at IS NOT NULL
  AND (CAST(:project_id AS BIGINT) IS NULL OR l.procore_project_id = CAST(:project_id AS BIGINT))
  AND (CAST(:number AS VARCHAR(100)) IS NULL OR LOWER(l.procore_number) LIKE CAST(:number AS VARCHAR(100)) ESCAPE '!')
ORDER BY l.ended_at DESC, l.id DESC
LIMIT :limit OFFSET :offset;

-- name: unlinked_links_count
SELECT COUNT(*) FROM record_links l
WHERE l.integration_id = :integration_id AND l.record_type = :record_type AND l.ended_at IS NOT NULL
  AND (CAST(:project_id AS BIGINT) IS NULL OR l.procore_project_id = CAST(:project_id AS BIGINT))
  AND (CAST(:number AS VARCHAR(100)) IS NULL OR LOWER(l.procore_number) LIKE CAST(:number AS VARCHAR(100)) ESCAPE '!');

-- name: projects_of_integration
-- Each project once, with the snapshot of its oldest link: usually its first commitment, whose snapshot
-- names the project (invoices carry only the project's id).
SELECT procore_project_id, procore_json FROM record_links
WHERE id IN (SELECT MIN(id) FROM record_links
             WHERE integration_id = :integration_id AND procore_project_id IS NOT NULL
             GROUP BY procore_project_id);

-- name: payments_of_invoices
SELECT procore_invoice_id, amount, payment_date, payment_method, check_number, invoice_number, erp_bill_number,
       status, colour, message, voided_at, origin_id
FROM payments
WHERE integration_id = :integration_id AND procore_invoice_id IN :invoice_ids
ORDER BY payment_date, id;

-- name: payment_history
SELECT entity_id, at, action, detail_json FROM audit_log
WHERE entity = 'payment' AND integration_id = :integration_id AND entity_id IN :origin_ids
ORDER BY id;

-- name: latest_unlink_request_of_records
SELECT id, procore_id, status, colour, message
FROM unlink_requests
WHERE id IN (SELECT MAX(id) FROM unlink_requests
             WHERE integration = :integration AND record_type = :record_type AND procore_id IN :procore_ids
             GROUP BY procore_id);
