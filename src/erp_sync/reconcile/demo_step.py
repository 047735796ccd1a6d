"""The demo's reconciliation step: an Acumatica user keys in a bill against a synced subcontract and changes
another subcontract's amount (through the sandbox's control API, as a user of the ERP would); after the next
hourly sync and reconciliation both show on the Reconciliation page with their causes.

The demo calls, after a sync has exported the demo data::

    print(show_a_difference(store, SANDBOX_URL))           # the drift, in the ERP
    demo.wait({"erp_hourly_sync": demo.trigger("erp_hourly_sync", {})})
    demo.wait({"erp_reconciliation": demo.trigger("erp_reconciliation", {"integration": DEMO_INTEGRATION})})
    print(what_differs(store, AIRFLOW_URL))                 # the causes, and where the page is
"""

from __future__ import annotations

import requests

from erp_sync.reconcile.report import PAGE_PATH, Report
from erp_sync.store import Store

DEMO_INTEGRATION = "summit-acumatica"
KEYED_BILL = {"amount": "4250.00", "vendor_ref": "KEYED-4250"}


def show_a_difference(store: Store, sandbox_url: str) -> str:
    """Key in a bill against the first synced subcontract and raise the second one by 1,000.00 in Acumatica."""
    integration = store.one("integration_by_name", name=DEMO_INTEGRATION)
    subcontracts = [row for row in store.rows("active_links", integration_id=integration["id"])
                    if row["record_type"] == "commitment" and row["erp_ref"] and row["erp_amount"] is not None]
    if len(subcontracts) < 2:
        return f"{DEMO_INTEGRATION} has fewer than two synced subcontracts: nothing to change in Acumatica yet."
    keyed_on, raised = subcontracts[0], subcontracts[1]
    control = f"{sandbox_url}/control/acumatica"
    listed = requests.get(f"{control}/Subcontract", timeout=30)
    listed.raise_for_status()
    vendor = next(row["VendorID"]["value"] for row in listed.json()
                  if row["SubcontractNbr"]["value"] == keyed_on["erp_ref"])
    requests.post(f"{control}/bills", timeout=30, json={"vendor": vendor, "subcontract": keyed_on["erp_ref"],
                                                        **KEYED_BILL}).raise_for_status()
    requests.post(f"{control}/Subcontract/{raised['erp_ref']}/amount", timeout=30,
                  json={"amount": str(raised["erp_amount"] + 1000)}).raise_for_status()
    return (f"In Acumatica, a user keyed in bill {KEYED_BILL['vendor_ref']} ({KEYED_BILL['amount']}) against "
            f"subcontract {keyed_on['erp_ref']} ({keyed_on['procore_number']}) and raised subcontract "
            f"{raised['erp_ref']} ({raised['procore_number']}) by 1,000.00.")


def what_differs(store: Store, airflow_url: str) -> str:
    integration = store.one("integration_by_name", name=DEMO_INTEGRATION)
    page = airflow_url.rstrip("/") + PAGE_PATH.format(name=DEMO_INTEGRATION)
    return f"{Report.of(store, integration).text()}\nReconciliation page: {page}"
