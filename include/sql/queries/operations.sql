-- The operations view of the ERP Integrations page: runs, API calls, the colour tally over time.

-- name: tally_colours
INSERT INTO colour_tallies (integration_id, taken_at, colour, links)
SELECT integration_id, :now, colour, COUNT(*)
FROM record_links
WHERE integration_id = :integration_id AND ended_at IS NULL
GROUP BY integration_id, colour;

-- name: red_over_time
SELECT taken_at, SUM(CASE WHEN colour = 'RED' THEN links ELSE 0 END) AS red
FROM colour_tallies
WHERE integration_id = :integration_id AND taken_at >= :since
GROUP BY taken_at
ORDER BY taken_at;

-- name: runs_of_integration
SELECT id, job, airflow_run_id, dag_id, task_id, map_index, status, counts_json, api_calls_json, rate_limits_json, error,
       started_at, finished_at
FROM sync_runs
WHERE integration_id = :integration_id AND started_at >= :since
ORDER BY id DESC
LIMIT :limit;

-- name: latest_run_of_job
SELECT id, job, airflow_run_id, dag_id, task_id, map_index, status, counts_json, api_calls_json, rate_limits_json, error,
       started_at, finished_at
FROM sync_runs
WHERE integration_id = :integration_id AND job = :job
ORDER BY id DESC
LIMIT 1;
