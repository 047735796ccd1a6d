-- name: project_streams_of_integration
SELECT project_id, stream, bookmark, read_at, changed_at, resume_json
FROM project_streams
WHERE integration_id = :integration_id;

-- name: save_project_stream
INSERT INTO project_streams (integration_id, project_id, stream, bookmark, read_at, changed_at, resume_json)
VALUES (:integration_id, :project_id, :stream, :bookmark, :read_at, :changed_at, :resume_json)
ON CONFLICT (integration_id, project_id, stream) DO UPDATE SET
    bookmark = excluded.bookmark,
    read_at = excluded.read_at,
    changed_at = excluded.changed_at,
    resume_json = excluded.resume_json;
