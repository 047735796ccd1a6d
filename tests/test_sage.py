"""Sage 300 CRE and Sage 100 Contractor: export through Sage's import files, refresh from the tables,
on SQLite, PostgreSQL and MariaDB alike; bad rows in the Sage tables."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal

import pytest
from conftest import SAGE_INTEGRATIONS

from erp_sync.jobs.hourly_sync import export_integration, refresh_integration
from erp_sync.models import ErpKind
from erp_sync.store import Store
from seed_links import link_sandbox_references

SYSTEM = {"granite-sage300": "sage300", "prairie-sage100": "sage100"}
MARK_COLUMN = {"sage300": {"JCM_MASTER__COMMITMENT": "Description", "JCM_MASTER__COMMITMENT_CO": "Description",
                           "APM_MASTER__INVOICE": "Description"},
               "sage100": {"subcon": "usrdf1", "sbcgln": "usrdf1", "acpinv": "usrdf1"}}


@pytest.fixture
def sage_store(tmp_path) -> Store:
    store = Store.from_url(f"sqlite:///{tmp_path / 'erp_sync.db'}")
    store.upgrade()
    return store


def add_sage_integrations(store: Store, sandbox) -> dict[str, dict]:
    for integration in SAGE_INTEGRATIONS:
        store.save_integration(integration)
    link_sandbox_references(store, sandbox)
    return {row["name"]: row for row in store.integrations()}


def links(store: Store, integration: dict) -> list[dict]:
    return store.rows("active_links", integration_id=integration["id"])


def colours(store: Store, integration: dict) -> Counter[str]:
    return Counter(link["colour"] for link in links(store, integration))


def marks_in_sage(office, system: str) -> Counter[str]:
    """How many Sage records carry each pipeline mark: each must be exactly one."""
    found: Counter[str] = Counter()
    for table, column in MARK_COLUMN[system].items():
        for row in office.rows(table):
            text = row[column] or ""
            if "PC-" in text:
                found[text[text.index("PC-"):].rstrip("]")] += 1
    return found


def sync_until_settled(store: Store, integration: dict, office) -> list[dict]:
    """Export, let Sage import, and again, until nothing waits: commitments first, then their CCOs."""
    summaries = []
    for _ in range(3):
        summaries.append(export_integration(store, integration, "test"))
        office.run_imports()
    summaries.append(export_integration(store, integration, "test"))
    return summaries


@pytest.mark.parametrize("sage", ["sqlite", "postgresql", "mariadb"], indirect=True)
def test_export_waits_for_sages_import_then_links_each_record_once(sandbox, sage_store, sage):
    integrations = add_sage_integrations(sage_store, sandbox)
    for name, integration in integrations.items():
        office = sage.offices[SYSTEM[name]]
        first = export_integration(sage_store, integration, "first")["counts"]
        queued = first["queued_for_import"]
        assert queued > 0 and len(list(office.import_dir.glob("*.csv"))) == queued
        # the change orders and invoices wait, BLUE, for their commitments in Sage's import: no RED, no alert
        children = [link for link in links(sage_store, integration) if link["record_type"] != "commitment"]
        assert children and first["waiting_parent_on_its_way"] == len(children) and "new_red" not in first
        assert {(link["colour"], link["reason_code"]) for link in children} == {("BLUE", "parent_on_its_way")}
        erp = ErpKind(integration["erp_kind"]).display_name
        assert all(re.fullmatch(rf"The (commitment change order|subcontractor invoice) waits for its commitment "
                                rf"(PO-001|SC-002), which is on its way to {re.escape(erp)}; it is exported at the "
                                rf"first sync after the commitment is there\.", link["message"]) for link in children)
        assert colours(sage_store, integration)["BLUE"] == queued + len(children)

        again = export_integration(sage_store, integration, "again")
        assert again["counts"]["queued_for_import"] == queued
        assert again["counts"].get(f"{SYSTEM[name]}_files_written", 0) == 0  # still waiting: not written twice

        assert set(office.run_imports().values()) == {"imported"}
        settled = sync_until_settled(sage_store, integration, office)
        assert settled[0]["counts"]["found_in_erp"] == queued

        active = links(sage_store, integration)
        green = [link for link in active if link["colour"] == "GREEN"]
        assert not [link for link in active if link["colour"] != "GREEN"]
        assert {link["record_type"] for link in green} == {"commitment", "commitment_change_order",
                                                           "subcontractor_invoice"}
        assert all(count == 1 for count in marks_in_sage(office, SYSTEM[name]).values())
        assert len(marks_in_sage(office, SYSTEM[name])) == len(green)
        origin = {row["origin_id"] for table in ("work_order_contracts", "purchase_order_contracts",
                                                  "commitment_change_orders", "requisitions")
                  for row in sandbox.procore_rows(table) if row["origin_id"]}
        assert {link["erp_ref"] for link in green} <= origin

        refreshed = refresh_integration(sage_store, integration, "refresh")["counts"]
        assert refreshed["erp_open"] == len(green)
        quiet = refresh_integration(sage_store, integration, "quiet")["counts"]
        assert quiet["erp_unchanged"] == len(green) and not any(k.startswith("erp_open") for k in quiet)


def test_a_file_sages_import_refused_turns_red_with_the_reason_and_is_not_sent_again(sandbox, sage_store, sage):
    integration = add_sage_integrations(sage_store, sandbox)["granite-sage300"]
    office = sage.offices["sage300"]
    export_integration(sage_store, integration, "first")
    office.run_imports()  # the commitments: an invoice follows its commitment into Sage
    export_integration(sage_store, integration, "second")
    invoice_file = next(path for path in office.import_dir.glob("*.csv") if "PC-REQ-" in path.name)
    vendor, invoice = invoice_file.read_text().splitlines()[0].split(",")[1:3]
    office.insert_raw("APM_MASTER__INVOICE", Vendor=vendor, Invoice=invoice, Description="keyed in by hand",
                      Original_Gross=Decimal("10.00"), Amount_Paid=Decimal(0), Status="Open")
    results = office.run_imports()
    assert results[invoice_file.stem].startswith("rejected: APM_MASTER__INVOICE already holds")

    summary = export_integration(sage_store, integration, "after the import")
    assert summary["counts"]["red_erp_validation"] == 1
    red = next(link for link in links(sage_store, integration) if link["reason_code"] == "erp_validation")
    assert red["message"].startswith("Sage 300 CRE®'s import refused the subcontractor invoice: APM_MASTER__INVOICE "
                                     "already holds")
    assert not (office.import_dir / invoice_file.name).exists()

    export_integration(sage_store, integration, "an hour later")
    assert not (office.import_dir / invoice_file.name).exists()  # nothing changed in Procore: not sent again
    assert all(count == 1 for count in marks_in_sage(office, "sage300").values())
