-- name: upsert_integration
INSERT INTO integrations (name, procore_conn_id, procore_company_id, erp_kind, erp_conn_id, enabled)
VALUES (:name, :procore_conn_id, :procore_company_id, :erp_kind, :erp_conn_id, :enabled)
ON CONFLICT (name) DO UPDATE SET
    procore_conn_id = excluded.procore_conn_id,
    procore_company_id = excluded.procore_company_id,
    erp_kind = excluded.erp_kind,
    erp_conn_id = excluded.erp_conn_id,
    enabled = excluded.enabled,
    updated_at = CURRENT_TIMESTAMP
RETURNING id;

-- name: enabled_integrations
SELECT id, name, procore_conn_id, procore_company_id, erp_kind, erp_conn_id
FROM integrations
WHERE enabled
ORDER BY name;

-- name: integration_by_name
SELECT id, name, procore_conn_id, procore_company_id, erp_kind, erp_conn_id, enabled
FROM integrations
WHERE name = :name;
