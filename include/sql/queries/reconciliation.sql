-- The ERP's bills as the hourly refresh read them (include/sql/migrations/versions/0012_i24_reconciliation.py,
-- 0015_i24rel_erp_bill_retainage.py): those naming a commitment, and retainage bills naming the bill they release.

-- name: erp_bills_of_integration
SELECT erp_ref, commitment_ref, erp_number, amount, erp_balance, retainage, released_from, erp_modified_at, seen_at,
       gone_at
FROM erp_bills
WHERE integration_id = :integration_id;

-- name: upsert_erp_bill
INSERT INTO erp_bills (integration_id, erp_ref, commitment_ref, erp_number, amount, erp_balance, retainage,
                       released_from, erp_modified_at, seen_at, gone_at)
VALUES (:integration_id, :erp_ref, :commitment_ref, :erp_number, :amount, :erp_balance, :retainage, :released_from,
        :erp_modified_at, :seen_at, :gone_at)
ON CONFLICT (integration_id, erp_ref) DO UPDATE SET
    commitment_ref = excluded.commitment_ref,
    erp_number = excluded.erp_number,
    amount = excluded.amount,
    erp_balance = excluded.erp_balance,
    retainage = excluded.retainage,
    released_from = excluded.released_from,
    erp_modified_at = excluded.erp_modified_at,
    seen_at = excluded.seen_at,
    gone_at = excluded.gone_at;

-- name: erp_bill_gone
UPDATE erp_bills SET gone_at = :gone_at WHERE integration_id = :integration_id AND erp_ref = :erp_ref;

-- name: live_erp_bills
SELECT erp_ref, commitment_ref, erp_number, amount, erp_balance, retainage, released_from, erp_modified_at, seen_at
FROM erp_bills
WHERE integration_id = :integration_id AND gone_at IS NULL
  AND (commitment_ref IS NOT NULL OR released_from IS NOT NULL);

-- name: unlinked_records_for_reconciliation
-- Records whose link an unlink request ended and that have no link since: Procore still has them, the
-- ERP no longer does (an unlink follows the document's deletion in the ERP).
SELECT l.record_type, l.procore_id, l.procore_number, l.procore_json, l.erp_ref, l.ended_at, l.ended_by
FROM record_links l
WHERE l.integration_id = :integration_id AND l.ended_at IS NOT NULL AND l.ended_by LIKE 'unlink request%'
  AND NOT EXISTS (SELECT 1 FROM record_links a
                  WHERE a.integration_id = l.integration_id AND a.record_type = l.record_type
                    AND a.procore_id = l.procore_id AND a.ended_at IS NULL)
ORDER BY l.ended_at, l.id;

-- name: imported_payments_for_reconciliation
-- What Procore's Payments Issued holds because the payment import wrote it (a voided payment stays at 0).
SELECT erp_bill_ref, procore_commitment_id, SUM(amount) AS amount
FROM payments
WHERE integration_id = :integration_id AND status = 'active' AND procore_payment_id IS NOT NULL
GROUP BY erp_bill_ref, procore_commitment_id;

-- name: delete_reconciliation_figures
DELETE FROM reconciliation_figures WHERE integration_id = :integration_id;

-- name: delete_reconciliation_projects
DELETE FROM reconciliation_projects WHERE integration_id = :integration_id;

-- name: insert_reconciliation_project
INSERT INTO reconciliation_projects (integration_id, procore_project_id, project_name, commitments, differing,
                                     procore_revised_amount, erp_revised_amount, procore_invoiced_amount,
                                     erp_invoiced_amount, procore_paid_amount, erp_paid_amount, difference_amount,
                                     reconciled_at)
VALUES (:integration_id, :procore_project_id, :project_name, :commitments, :differing, :procore_revised_amount,
        :erp_revised_amount, :procore_invoiced_amount, :erp_invoiced_amount, :procore_paid_amount,
        :erp_paid_amount, :difference_amount, :reconciled_at);

-- name: insert_reconciliation_figures
INSERT INTO reconciliation_figures (
    integration_id, procore_commitment_id, procore_project_id, project_name, commitment_number, commitment_title,
    erp_ref, procore_original_amount, erp_original_amount, procore_change_orders_amount, erp_change_orders_amount,
    procore_revised_amount, erp_revised_amount, procore_invoiced_amount, erp_invoiced_amount,
    procore_retainage_amount, erp_retainage_amount, procore_paid_amount, erp_paid_amount, differs,
    difference_amount, causes, reconciled_at)
VALUES (
    :integration_id, :procore_commitment_id, :procore_project_id, :project_name, :commitment_number,
    :commitment_title, :erp_ref, :procore_original_amount, :erp_original_amount, :procore_change_orders_amount,
    :erp_change_orders_amount, :procore_revised_amount, :erp_revised_amount, :procore_invoiced_amount,
    :erp_invoiced_amount, :procore_retainage_amount, :erp_retainage_amount, :procore_paid_amount, :erp_paid_amount,
    :differs, :difference_amount, :causes, :reconciled_at);

-- name: open_reconciliation_differences
SELECT id, procore_commitment_id, figure, cause, subject
FROM reconciliation_differences
WHERE integration_id = :integration_id AND closed_at IS NULL;

-- name: open_reconciliation_difference
INSERT INTO reconciliation_differences (integration_id, procore_commitment_id, procore_project_id, figure, cause,
                                        subject, sentence, procore_amount, erp_amount, first_seen_at, last_seen_at)
VALUES (:integration_id, :procore_commitment_id, :procore_project_id, :figure, :cause, :subject, :sentence,
        :procore_amount, :erp_amount, :now, :now);

-- name: see_reconciliation_difference
UPDATE reconciliation_differences
SET sentence = :sentence, procore_amount = :procore_amount, erp_amount = :erp_amount, last_seen_at = :now
WHERE id = :id;

-- name: close_reconciliation_difference
UPDATE reconciliation_differences SET closed_at = :now WHERE id = :id;

-- The Reconciliation view: one page of commitments, differing first, then by project and number.

-- name: reconciliation_page
SELECT f.procore_commitment_id, f.procore_project_id, f.project_name, f.commitment_number, f.commitment_title,
       f.erp_ref, f.procore_original_amount, f.erp_original_amount, f.procore_change_orders_amount,
       f.erp_change_orders_amount, f.procore_revised_amount, f.erp_revised_amount, f.procore_invoiced_amount,
       f.erp_invoiced_amount, f.procore_retainage_amount, f.erp_retainage_amount, f.procore_paid_amount,
       f.erp_paid_amount, f.differs, f.difference_amount, f.causes, f.reconciled_at
FROM reconciliation_figures f
WHERE f.integration_id = :integration_id
  AND (CAST(:project_id AS BIGINT) IS NULL OR f.procore_project_id = CAST(:project_id AS BIGINT))
  AND (:only_differences = 0 OR f.differs = 1)
  AND (CAST(:cause AS VARCHAR(30)) IS NULL OR f.procore_commitment_id IN (
        SELECT d.procore_commitment_id FROM reconciliation_differences d
        WHERE d.integration_id = :integration_id AND d.cause = CAST(:cause AS VARCHAR(30)) AND d.closed_at IS NULL))
ORDER BY f.differs DESC, f.procore_project_id, f.commitment_number
LIMIT :limit OFFSET :offset;

-- name: reconciliation_page_count
SELECT COUNT(*) FROM reconciliation_figures f
WHERE f.integration_id = :integration_id
  AND (CAST(:project_id AS BIGINT) IS NULL OR f.procore_project_id = CAST(:project_id AS BIGINT))
  AND (:only_differences = 0 OR f.differs = 1)
  AND (CAST(:cause AS VARCHAR(30)) IS NULL OR f.procore_commitment_id IN (
        SELECT d.procore_commitment_id FROM reconciliation_differences d
        WHERE d.integration_id = :integration_id AND d.cause = CAST(:cause AS VARCHAR(30)) AND d.closed_at IS NULL));

-- name: open_differences_of_integration
SELECT id, procore_commitment_id, procore_project_id, project_name, commitment_number, figure, cause, subject,
       sentence, procore_amount, erp_amount, first_seen_at, last_seen_at
FROM reconciliation_open_differences
WHERE integration_id = :integration_id
ORDER BY procore_project_id, commitment_number, figure, id;

-- name: differences_of_commitments
-- Open and closed, newest first: a row of the view opens to these.
SELECT id, procore_commitment_id, figure, cause, subject, sentence, procore_amount, erp_amount, first_seen_at,
       last_seen_at, closed_at
FROM reconciliation_differences
WHERE integration_id = :integration_id AND procore_commitment_id IN :commitment_ids
ORDER BY procore_commitment_id, CASE WHEN closed_at IS NULL THEN 0 ELSE 1 END, first_seen_at DESC, id DESC;

-- name: reconciliation_projects_of_integration
SELECT procore_project_id, project_name, commitments, differing, procore_revised_amount, erp_revised_amount,
       procore_invoiced_amount, erp_invoiced_amount, procore_paid_amount, erp_paid_amount, difference_amount,
       reconciled_at
FROM reconciliation_projects
WHERE integration_id = :integration_id
ORDER BY differing DESC, difference_amount DESC, procore_project_id
LIMIT :limit;

-- name: reconciliation_totals
SELECT COALESCE(SUM(commitments), 0) AS commitments, COALESCE(SUM(differing), 0) AS differing,
       COALESCE(SUM(difference_amount), 0) AS difference_amount, MAX(reconciled_at) AS reconciled_at
FROM reconciliation_projects
WHERE integration_id = :integration_id;

-- name: open_causes_of_integration
SELECT cause, COUNT(DISTINCT procore_commitment_id) AS commitments
FROM reconciliation_differences
WHERE integration_id = :integration_id AND closed_at IS NULL
GROUP BY cause
ORDER BY cause;

-- name: links_of_projects_for_reconciliation
SELECT id, record_type, procore_id, procore_number, procore_json, erp_ref, erp_amount, erp_present, erp_condition, colour
FROM record_links
WHERE integration_id = :integration_id AND ended_at IS NULL AND procore_project_id IN :project_ids
  AND procore_json IS NOT NULL
ORDER BY record_type, procore_number;

-- name: erp_bills_of_projects_for_reconciliation
SELECT b.erp_ref, b.erp_number, b.amount, f.procore_commitment_id
FROM erp_bills b
JOIN reconciliation_figures f ON f.integration_id = b.integration_id AND f.erp_ref = b.commitment_ref
WHERE b.integration_id = :integration_id AND b.gone_at IS NULL AND b.released_from IS NULL
  AND f.procore_project_id IN :project_ids
  AND NOT EXISTS (SELECT 1 FROM record_links l
                  WHERE l.integration_id = b.integration_id AND l.erp_ref = b.erp_ref AND l.ended_at IS NULL
                    AND l.record_type = 'subcontractor_invoice')
ORDER BY b.erp_ref;

-- name: retainage_bills_for_reconciliation
-- Acumatica's retainage bills (releases made there) of these bills.
SELECT erp_ref, amount, released_from
FROM erp_bills
WHERE integration_id = :integration_id AND gone_at IS NULL AND released_from IN :bill_refs
ORDER BY erp_ref;

-- name: reconciliation_figures_of_commitment
SELECT procore_commitment_id, procore_project_id, project_name, commitment_number, commitment_title, erp_ref,
       procore_original_amount, erp_original_amount, procore_change_orders_amount, erp_change_orders_amount,
       procore_revised_amount, erp_revised_amount, procore_invoiced_amount, erp_invoiced_amount,
       procore_retainage_amount, erp_retainage_amount, procore_paid_amount, erp_paid_amount, differs,
       difference_amount, causes, reconciled_at
FROM reconciliation_figures
WHERE integration_id = :integration_id AND procore_commitment_id = :procore_commitment_id;

-- name: links_for_reconciliation
-- The active links with what the reconciliation compares (fewer columns than active_links: it reads them all).
SELECT id, record_type, procore_id, erp_ref, state, colour, message, reason_code, erp_present, erp_condition,
       erp_amount, erp_balance, erp_retainage, erp_number, erp_modified_at, erp_seen_at, exported_at, procore_json
FROM record_links
WHERE integration_id = :integration_id AND ended_at IS NULL AND procore_json IS NOT NULL;

-- name: invoice_lines_for_reconciliation
-- The lines each invoice was exported with (its bill's amount is their gross, not the payment due), checked with
-- while it waits for acceptance, or refused with by the ERP.
SELECT dl.link_id, dl.line_json
FROM document_lines dl
JOIN record_links l ON l.id = dl.link_id
WHERE l.integration_id = :integration_id AND l.ended_at IS NULL AND l.record_type = 'subcontractor_invoice';
