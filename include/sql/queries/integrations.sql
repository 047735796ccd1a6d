-- name: upsert_integration
INSERT INTO integrations (name, procore_conn_id, procore_company_id, erp_kind, erp_conn_id, enabled,
                          sync_schedule, max_staleness_hours)
VALUES (:name, :procore_conn_id, :procore_company_id, :erp_kind, :erp_conn_id, :enabled,
        :sync_schedule, :max_staleness_hours)
ON CONFLICT (name) DO UPDATE SET
    procore_conn_id = excluded.procore_conn_id,
    procore_company_id = excluded.procore_company_id,
    erp_kind = excluded.erp_kind,
    erp_conn_id = excluded.erp_conn_id,
    enabled = excluded.enabled,
    sync_schedule = excluded.sync_schedule,
    max_staleness_hours = excluded.max_staleness_hours,
    updated_at = CURRENT_TIMESTAMP
RETURNING id;

-- name: enabled_integrations
SELECT id, name, procore_conn_id, procore_company_id, erp_kind, erp_conn_id, sync_schedule, max_staleness_hours
FROM integrations
WHERE enabled
ORDER BY name;

-- name: integration_by_name
SELECT id, name, procore_conn_id, procore_company_id, erp_kind, erp_conn_id, enabled, sync_schedule,
       max_staleness_hours
FROM integrations
WHERE name = :name;
