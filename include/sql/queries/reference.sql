-- name: note_procore_reference_item
-- What a reading saw of a Procore item; an item seen again is no longer deleted.
INSERT INTO procore_reference_items (integration_id, kind, procore_id, project_id, code, name, active, detail_json,
                                     seen_at, deleted_at)
VALUES (:integration_id, :kind, :procore_id, :project_id, :code, :name, :active, :detail_json, :seen_at, NULL)
ON CONFLICT (integration_id, kind, procore_id) DO UPDATE SET
    project_id = excluded.project_id,
    code = excluded.code,
    name = excluded.name,
    active = excluded.active,
    detail_json = excluded.detail_json,
    seen_at = excluded.seen_at,
    deleted_at = NULL;

-- name: note_erp_reference_item
INSERT INTO erp_reference_items (integration_id, kind, erp_id, erp_project, code, name, active, posts_to, detail_json,
                                 seen_at, deleted_at)
VALUES (:integration_id, :kind, :erp_id, :erp_project, :code, :name, :active, :posts_to, :detail_json, :seen_at, NULL)
ON CONFLICT (integration_id, kind, erp_id) DO UPDATE SET
    erp_project = excluded.erp_project,
    code = excluded.code,
    name = excluded.name,
    active = excluded.active,
    posts_to = excluded.posts_to,
    detail_json = excluded.detail_json,
    seen_at = excluded.seen_at,
    deleted_at = NULL;

-- name: know_procore_reference_item
-- A link names a Procore item no reading has seen yet (a script, a test): keep it, change nothing known.
INSERT INTO procore_reference_items (integration_id, kind, procore_id, project_id, code, name, active, seen_at)
VALUES (:integration_id, :kind, :procore_id, :project_id, :code, :name, :active, :seen_at)
ON CONFLICT (integration_id, kind, procore_id) DO NOTHING;

-- name: know_erp_reference_item
INSERT INTO erp_reference_items (integration_id, kind, erp_id, code, name, active, posts_to, seen_at)
VALUES (:integration_id, :kind, :erp_id, :code, :name, :active, :posts_to, :seen_at)
ON CONFLICT (integration_id, kind, erp_id) DO NOTHING;

-- name: confirmed_reference_links
SELECT l.kind, l.procore_id, e.erp_id, e.code, e.name, e.active, e.posts_to
FROM reference_links l
JOIN erp_reference_items e
  ON e.integration_id = l.integration_id AND e.kind = l.kind AND e.erp_id = l.erp_id
WHERE l.integration_id = :integration_id AND l.ended_at IS NULL;

-- name: open_reference_link
SELECT id, kind, procore_id, procore_project_id, erp_id, reason, started_at, started_by
FROM reference_links
WHERE integration_id = :integration_id AND kind = :kind AND procore_id = :procore_id AND ended_at IS NULL;

-- name: open_reference_link_of_erp_item
SELECT l.id, l.kind, l.procore_id, l.erp_id, p.code AS procore_code, p.name AS procore_name
FROM reference_links l
LEFT JOIN procore_reference_items p
  ON p.integration_id = l.integration_id AND p.kind = l.kind AND p.procore_id = l.procore_id
WHERE l.integration_id = :integration_id AND l.kind = :kind AND l.procore_project_id = :procore_project_id
  AND l.erp_id = :erp_id AND l.ended_at IS NULL;

-- name: start_reference_link
INSERT INTO reference_links (integration_id, kind, procore_id, procore_project_id, erp_id, reason, started_at,
                             started_by)
VALUES (:integration_id, :kind, :procore_id, :procore_project_id, :erp_id, :reason, :started_at, :started_by);

-- name: end_reference_link
UPDATE reference_links SET ended_at = :ended_at, ended_by = :ended_by, ended_reason = :ended_reason
WHERE id = :id AND ended_at IS NULL;

-- name: reference_link_history
SELECT kind, procore_id, erp_id, reason, started_at, started_by, ended_at, ended_by, ended_reason
FROM reference_links
WHERE integration_id = :integration_id AND kind = :kind AND procore_id = :procore_id
ORDER BY id;
