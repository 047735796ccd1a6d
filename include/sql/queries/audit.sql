-- name: record_audit
INSERT INTO audit_log (at, integration_id, entity, entity_id, action, old_state, new_state, actor, detail_json)
VALUES (:at, :integration_id, :entity, :entity_id, :action, :old_state, :new_state, :actor, :detail_json);

-- name: audit_trail
SELECT at, integration_id, entity, entity_id, action, old_state, new_state, actor, detail_json
FROM audit_log
WHERE entity = :entity AND entity_id = :entity_id
ORDER BY id;
