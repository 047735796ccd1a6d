-- name: payments_of_integration
SELECT id, erp_payment_key, erp_bill_ref, origin_id, procore_invoice_id, procore_commitment_id, procore_project_id,
       procore_payment_id, amount, payment_date, payment_method, check_number, invoice_number, erp_bill_number,
       status, colour, message, fingerprint, voided_at, created_at, updated_at
FROM payments
WHERE integration_id = :integration_id
ORDER BY id;

-- name: upsert_payment
INSERT INTO payments (integration_id, erp_payment_key, erp_bill_ref, origin_id, procore_invoice_id,
                      procore_commitment_id, procore_project_id, procore_payment_id, amount, payment_date,
                      payment_method, check_number, invoice_number, erp_bill_number, status, colour, message,
                      fingerprint, voided_at, erp_modified_at, created_at, updated_at)
VALUES (:integration_id, :erp_payment_key, :erp_bill_ref, :origin_id, :procore_invoice_id,
        :procore_commitment_id, :procore_project_id, :procore_payment_id, :amount, :payment_date,
        :payment_method, :check_number, :invoice_number, :erp_bill_number, :status, :colour, :message,
        :fingerprint, :voided_at, :erp_modified_at, :now, :now)
ON CONFLICT (integration_id, erp_payment_key, erp_bill_ref) DO UPDATE SET
    origin_id = excluded.origin_id,
    procore_payment_id = COALESCE(excluded.procore_payment_id, payments.procore_payment_id),
    amount = excluded.amount,
    payment_date = excluded.payment_date,
    payment_method = excluded.payment_method,
    check_number = excluded.check_number,
    invoice_number = excluded.invoice_number,
    erp_bill_number = excluded.erp_bill_number,
    status = excluded.status,
    colour = excluded.colour,
    message = excluded.message,
    fingerprint = excluded.fingerprint,
    voided_at = excluded.voided_at,
    erp_modified_at = excluded.erp_modified_at,
    updated_at = excluded.updated_at;
