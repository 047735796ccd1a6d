-- name: upsert_integration
INSERT INTO integrations (name, procore_conn_id, procore_company_id, erp_kind, erp_conn_id, enabled,
                          sync_schedule, max_staleness_hours, export_mode)
VALUES (:name, :procore_conn_id, :procore_company_id, :erp_kind, :erp_conn_id, :enabled,
        :sync_schedule, :max_staleness_hours, :export_mode)
ON CONFLICT (name) DO UPDATE SET
    procore_conn_id = excluded.procore_conn_id,
    procore_company_id = excluded.procore_company_id,
    erp_kind = excluded.erp_kind,
    erp_conn_id = excluded.erp_conn_id,
    enabled = excluded.enabled,
    sync_schedule = excluded.sync_schedule,
    max_staleness_hours = excluded.max_staleness_hours,
    export_mode = excluded.export_mode,
    updated_at = CURRENT_TIMESTAMP
RETURNING id;

-- name: enabled_integrations
SELECT id, name, procore_conn_id, procore_company_id, procore_company_name, erp_kind, erp_conn_id, sync_schedule,
       max_staleness_hours, export_mode
FROM integrations
WHERE enabled
ORDER BY name;

-- name: integration_by_name
SELECT id, name, procore_conn_id, procore_company_id, procore_company_name, erp_kind, erp_conn_id, enabled,
       sync_schedule, max_staleness_hours, export_mode
FROM integrations
WHERE name = :name;

-- name: set_export_mode
UPDATE integrations
SET export_mode = :export_mode, updated_at = CURRENT_TIMESTAMP
WHERE name = :name
RETURNING id;

-- name: set_procore_company_name
-- The company's name as Procore gives it, kept when the reference data is read.
UPDATE integrations
SET procore_company_name = :procore_company_name
WHERE id = :integration_id AND COALESCE(procore_company_name, '') <> :procore_company_name;
