-- name: start_run
INSERT INTO sync_runs (integration_id, job, airflow_run_id, dag_id, task_id, map_index, status, started_at)
VALUES (:integration_id, :job, :airflow_run_id, :dag_id, :task_id, :map_index, 'running', :started_at)
RETURNING id;

-- name: finish_run
UPDATE sync_runs
SET status = :status, counts_json = :counts_json, api_calls_json = :api_calls_json,
    rate_limits_json = :rate_limits_json, error = :error, finished_at = :finished_at
WHERE id = :run_id;

-- name: last_finished_run
SELECT id, status, counts_json, api_calls_json, started_at, finished_at
FROM sync_runs
WHERE integration_id = :integration_id AND job = :job AND status = 'success'
ORDER BY finished_at DESC, id DESC
LIMIT 1;

-- name: runs_of_airflow_run
SELECT r.id, i.name AS integration, r.job, r.status, r.counts_json, r.api_calls_json, r.error,
       r.started_at, r.finished_at
FROM sync_runs r LEFT JOIN integrations i ON i.id = r.integration_id
WHERE r.airflow_run_id = :airflow_run_id
ORDER BY r.id;

-- name: recent_runs
SELECT r.id, i.name AS integration, r.job, r.airflow_run_id, r.status, r.counts_json,
       r.api_calls_json, r.error, r.started_at, r.finished_at
FROM sync_runs r LEFT JOIN integrations i ON i.id = r.integration_id
ORDER BY r.id DESC
LIMIT :limit;
