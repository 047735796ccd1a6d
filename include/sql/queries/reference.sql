-- name: note_procore_reference_item
-- What a reading saw of a Procore item; an item seen again is no longer deleted. A company's standard cost code,
-- listed with the same id by every project, keeps the project it was first recorded under.
INSERT INTO procore_reference_items (integration_id, kind, procore_id, project_id, code, name, active, detail_json,
                                     seen_at, deleted_at)
VALUES (:integration_id, :kind, :procore_id, :project_id, :code, :name, :active, :detail_json, :seen_at, NULL)
ON CONFLICT (integration_id, kind, procore_id) DO UPDATE SET
    project_id = COALESCE(procore_reference_items.project_id, excluded.project_id),
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
INSERT INTO procore_reference_items (integration_id, kind, procore_id, project_id, code, name, active, detail_json,
                                     seen_at)
VALUES (:integration_id, :kind, :procore_id, :project_id, :code, :name, :active, :detail_json, :seen_at)
ON CONFLICT (integration_id, kind, procore_id) DO NOTHING;

-- name: know_erp_reference_item
INSERT INTO erp_reference_items (integration_id, kind, erp_id, erp_project, code, name, active, posts_to, detail_json,
                                 seen_at)
VALUES (:integration_id, :kind, :erp_id, :erp_project, :code, :name, :active, :posts_to, :detail_json, :seen_at)
ON CONFLICT (integration_id, kind, erp_id) DO NOTHING;

-- name: confirmed_reference_links
SELECT l.kind, l.procore_id, e.erp_id, e.code, e.name, e.active, e.posts_to, e.erp_project
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
UPDATE reference_links SET ended_at = :ended_at, ended_by = :ended_by, ended_reason = :ended_reason,
                           ended_with_project = :ended_with_project
WHERE id = :id AND ended_at IS NULL;

-- name: open_sub_job_links_of_project
-- The open links of a Procore project's sub jobs, with the ERP job of each linked task, extra or phase.
SELECT l.id, l.kind, l.procore_id, l.erp_id, e.erp_project
FROM reference_links l
JOIN erp_reference_items e
  ON e.integration_id = l.integration_id AND e.kind = l.kind AND e.erp_id = l.erp_id
WHERE l.integration_id = :integration_id AND l.kind = 'sub_job' AND l.procore_project_id = :procore_project_id
  AND l.ended_at IS NULL
ORDER BY l.id;

-- name: erp_tasks_with_detail
-- The ERP's tasks that say more than their columns do (Acumatica's task marked Default on its project).
SELECT kind, erp_id, code, name, active, posts_to, erp_project, detail_json
FROM erp_reference_items
WHERE integration_id = :integration_id AND kind = 'sub_job' AND deleted_at IS NULL AND active
  AND detail_json IS NOT NULL
ORDER BY erp_project, code;

-- name: reference_link_history
SELECT kind, procore_id, erp_id, reason, started_at, started_by, ended_at, ended_by, ended_reason
FROM reference_links
WHERE integration_id = :integration_id AND kind = :kind AND procore_id = :procore_id
ORDER BY id;

-- name: mark_unseen_procore_reference_items
UPDATE procore_reference_items SET deleted_at = :seen_before
WHERE integration_id = :integration_id AND kind = :kind AND seen_at < :seen_before AND deleted_at IS NULL;

-- name: mark_unseen_erp_reference_items
UPDATE erp_reference_items SET deleted_at = :seen_before
WHERE integration_id = :integration_id AND kind = :kind AND seen_at < :seen_before AND deleted_at IS NULL;

-- name: drifted_reference_links
-- Open links whose ERP item is deleted or inactive, or whose Procore item is deleted.
SELECT l.id, l.kind, l.procore_id, l.erp_id, p.deleted_at AS procore_deleted_at, e.deleted_at AS erp_deleted_at,
       e.code AS erp_code
FROM reference_links l
JOIN procore_reference_items p
  ON p.integration_id = l.integration_id AND p.kind = l.kind AND p.procore_id = l.procore_id
JOIN erp_reference_items e
  ON e.integration_id = l.integration_id AND e.kind = l.kind AND e.erp_id = l.erp_id
WHERE l.integration_id = :integration_id AND l.ended_at IS NULL
  AND (p.deleted_at IS NOT NULL OR e.deleted_at IS NOT NULL OR NOT e.active)
ORDER BY l.id;

-- name: unlinked_procore_reference_items
SELECT p.kind, p.procore_id, p.project_id, p.code, p.name, p.active, p.detail_json
FROM procore_reference_items p
WHERE p.integration_id = :integration_id AND p.deleted_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM reference_links l
                  WHERE l.integration_id = p.integration_id AND l.kind = p.kind AND l.procore_id = p.procore_id
                    AND l.ended_at IS NULL)
ORDER BY p.kind, p.code, p.name;

-- name: procore_reference_names
-- How the reading names what an export's sentence can name: every project, and every item without an open link.
SELECT p.kind, p.procore_id, p.project_id, p.code, p.name
FROM procore_reference_items p
WHERE p.integration_id = :integration_id AND p.deleted_at IS NULL
  AND (p.kind = 'project'
       OR NOT EXISTS (SELECT 1 FROM reference_links l
                      WHERE l.integration_id = p.integration_id AND l.kind = p.kind AND l.procore_id = p.procore_id
                        AND l.ended_at IS NULL));

-- name: erp_reference_items_of
SELECT kind, erp_id, code, name, active, posts_to, erp_project
FROM erp_reference_items
WHERE integration_id = :integration_id AND deleted_at IS NULL
ORDER BY kind, code;

-- name: open_reference_links_of
SELECT kind, procore_id, procore_project_id, erp_id
FROM reference_links
WHERE integration_id = :integration_id AND ended_at IS NULL;

-- name: reference_tab_rows
-- Each Procore item of a kind still in Procore, with its open link (if any) and why its last link ended.
SELECT p.kind, p.procore_id, p.project_id, p.code, p.name, p.active, p.detail_json,
       l.erp_id, l.reason AS link_reason, l.started_by, l.started_at,
       e.code AS erp_code, e.name AS erp_name, e.active AS erp_active, e.posts_to, e.erp_project,
       (SELECT x.ended_reason FROM reference_links x
        WHERE x.integration_id = p.integration_id AND x.kind = p.kind AND x.procore_id = p.procore_id
          AND x.ended_at IS NOT NULL
        ORDER BY x.id DESC LIMIT 1) AS last_ended_reason
FROM procore_reference_items p
LEFT JOIN reference_links l
  ON l.integration_id = p.integration_id AND l.kind = p.kind AND l.procore_id = p.procore_id AND l.ended_at IS NULL
LEFT JOIN erp_reference_items e
  ON e.integration_id = l.integration_id AND e.kind = l.kind AND e.erp_id = l.erp_id
WHERE p.integration_id = :integration_id AND p.kind = :kind AND p.deleted_at IS NULL
ORDER BY p.code, p.name;

-- name: procore_reference_item
SELECT kind, procore_id, project_id, code, name, active, detail_json
FROM procore_reference_items
WHERE integration_id = :integration_id AND kind = :kind AND procore_id = :procore_id AND deleted_at IS NULL;

-- name: erp_reference_item
SELECT kind, erp_id, code, name, active, posts_to, erp_project
FROM erp_reference_items
WHERE integration_id = :integration_id AND kind = :kind AND erp_id = :erp_id AND deleted_at IS NULL;

-- name: reference_waiting_messages
SELECT message FROM record_links
WHERE integration_id = :integration_id AND ended_at IS NULL AND reason_code = 'reference_unlinked';

-- name: reference_items_linked_before
-- Procore items whose link was ended (by a person or by drift): an exact code does not link them again by itself.
-- A sub job whose link ended only because its project moved to another job is matched again within that job.
SELECT DISTINCT kind, procore_id FROM reference_links
WHERE integration_id = :integration_id AND ended_at IS NOT NULL AND NOT ended_with_project;

-- name: lines_waiting_for_reference_links
-- The kept lines of records waiting for a reference link, with the record's project.
SELECT l.procore_project_id, d.line_json
FROM record_links l
JOIN document_lines d ON d.link_id = l.id
WHERE l.integration_id = :integration_id AND l.ended_at IS NULL AND l.reason_code = 'reference_unlinked';

-- name: met_procore_reference_items
-- Which of these Procore items a reading has met (and not since found deleted).
SELECT kind, procore_id FROM procore_reference_items
WHERE integration_id = :integration_id AND procore_id IN :procore_ids AND deleted_at IS NULL;
