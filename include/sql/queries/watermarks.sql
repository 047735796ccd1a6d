-- name: get_watermark
SELECT value FROM watermarks WHERE integration_id = :integration_id AND stream = :stream;

-- name: set_watermark
INSERT INTO watermarks (integration_id, stream, value, updated_at)
VALUES (:integration_id, :stream, :value, :updated_at)
ON CONFLICT (integration_id, stream) DO UPDATE SET
    value = excluded.value,
    updated_at = excluded.updated_at;
