-- The accountant's pages: what her decisions and on-demand runs became.

-- name: export_decisions_with_records
-- Decisions newest first, each with the record it moved as that record is now: the history of a record type
-- (ids empty) or the decisions a page just filed (their ids, record type NULL).
SELECT d.id, d.record_type, d.procore_id, d.decision, d.reason, d.decided_by, d.filed_by, d.filed_at, d.status,
       d.colour, d.message, l.procore_number, l.procore_project_id, l.procore_json, l.erp_ref, l.state AS link_state,
       l.colour AS link_colour, l.message AS link_message, a.procore_name
FROM export_decisions d
JOIN integrations i ON i.name = d.integration
LEFT JOIN procore_accounts a ON a.airflow_user = d.filed_by AND a.procore_conn_id = i.procore_conn_id
                             AND a.procore_user_id = d.decided_by
LEFT JOIN record_links l ON l.integration_id = i.id AND l.record_type = d.record_type
                         AND l.procore_id = d.procore_id AND l.ended_at IS NULL
WHERE d.integration = :integration AND (d.record_type = :record_type OR d.id IN :ids)
ORDER BY d.id DESC
LIMIT :limit;

-- name: decisions_being_carried_out
-- Decisions filed and not yet carried out: their records no longer wait for anyone's tick.
SELECT id, procore_id, decision, filed_by
FROM export_decisions
WHERE integration = :integration AND record_type = :record_type AND status IN ('pending', 'processing')
ORDER BY id;

-- name: run_of_airflow_run
SELECT id, job, airflow_run_id, dag_id, task_id, map_index, status, counts_json, api_calls_json, rate_limits_json, error,
       started_at, finished_at
FROM sync_runs
WHERE integration_id = :integration_id AND job = :job AND airflow_run_id = :airflow_run_id
ORDER BY id DESC
LIMIT 1;

-- name: work_queue
-- Per integration and record type, what needs a person: records waiting for accounting's acceptance, records
-- that failed (RED), and records waiting for a reference link (issue "Reference data" names the link).
SELECT integration_id, record_type,
       SUM(CASE WHEN state = 'ready' AND COALESCE(reason_code, '') <> 'reference_unlinked' THEN 1 ELSE 0 END)
           AS waiting_for_acceptance,
       SUM(CASE WHEN colour = 'RED' THEN 1 ELSE 0 END) AS failed,
       SUM(CASE WHEN reason_code = 'reference_unlinked' THEN 1 ELSE 0 END) AS waiting_for_link
FROM record_links
WHERE ended_at IS NULL
GROUP BY integration_id, record_type;

-- name: commitments_of_change_orders
-- The commitments change orders change, as the sync stored them.
SELECT procore_id, procore_number, procore_json
FROM record_links
WHERE integration_id = :integration_id AND record_type = 'commitment' AND procore_id IN :ids AND ended_at IS NULL;

-- name: procore_projects_of_integration
-- The company's projects as the last reading of Procore's reference data saw them: number and name.
SELECT procore_id, code, name
FROM procore_reference_items
WHERE integration_id = :integration_id AND kind = 'project' AND deleted_at IS NULL;
