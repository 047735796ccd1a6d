"""A record deleted in Procore, or no longer approved, while it waited is never sent to the ERP (issue 28),
on SQLite and PostgreSQL, for each record type: the decisions run asks Procore for it once (from the
on-demand share) and answers the decision with a sentence; where the ERP created the document and
Procore then answers 404 to the write-back, the link turns RED saying what to do in the ERP, is
counted for operations and listed in the daily summary. The hourly sync's direct exports and Sage's
import-file path follow the same rule."""

from __future__ import annotations

import json

import pytest

from conftest import SAGE_INTEGRATIONS
from erp_sync.acceptance import daily_summary
from erp_sync.erps.acumatica import AcumaticaAdapter
from erp_sync.jobs.hourly_sync import export_integration
from erp_sync.models import ErpKind, ExportMode, RecordType
from erp_sync.notify import run_notice
from erp_sync.sync.records import ProcoreRecord
from test_acceptance import Desk, desk  # noqa: F401 - desk is a fixture
from seed_links import link_sandbox_references

ACUMATICA = "summit-acumatica"
NOT_APPROVED = {"work_order_contracts": "Draft", "purchase_order_contracts": "Draft",
                "commitment_change_orders": "draft", "requisitions": "under_review"}


def table(link: dict) -> str:
    return json.loads(link["procore_json"])["stream"]


def change_in_procore(desk: Desk, link: dict, change: str) -> str | None:
    """What a Procore user does meanwhile: delete the record, or take its approval back (the new status)."""
    if change == "deleted":
        desk.sandbox.control("DELETE", f"procore/{table(link)}/{link['procore_id']}")
        return None
    status = NOT_APPROVED[table(link)]
    desk.sandbox.control("PATCH", f"procore/{table(link)}/{link['procore_id']}", json={"status": status})
    return status


def named(desk: Desk, link: dict) -> str:
    record = ProcoreRecord.from_snapshot(link["procore_json"])
    words = record.record_type.words  # ERP Sync's own sentence: "Subcontractor invoice INV-…", never "Requisition"
    return f"{words[0].upper()}{words[1:]} {link['procore_number']} of " \
           f"{desk.sandbox.sandboxes.procore.projects[record.project_id].name}"


def shows_of(desk: Desk, link: dict) -> int:
    """Calls that read this one record from Procore."""
    calls = desk.sandbox.control("GET", "procore/calls").json()
    return sum(count for call, count in calls.items()
               if call.startswith("GET ") and call.endswith(f"{table(link)}/{link['procore_id']}"))


def accept(desk: Desk, link: dict, name: str = ACUMATICA) -> int:
    return desk.decide(name, record_type=link["record_type"], procore_id=link["procore_id"], decision="accept",
                       decided_by=101, filed_by="avery")


def accept_parent(desk: Desk, link: dict) -> None:
    """A CCO or an invoice goes to the ERP after its commitment: accept that first."""
    parent_id = ProcoreRecord.from_snapshot(link["procore_json"]).parent_id
    if parent_id is not None:
        parent = next(row for row in desk.links(ACUMATICA) if row["procore_id"] == parent_id)
        accept(desk, parent)
        desk.run(ACUMATICA, "parent-first")


@pytest.mark.parametrize("change", ["deleted", "unapproved"])
@pytest.mark.parametrize("record_type", list(RecordType))
def test_a_record_deleted_or_unapproved_while_it_waited_is_not_exported(desk, record_type, change):
    link = desk.link(ACUMATICA, record_type)
    status = change_in_procore(desk, link, change)
    budget_before = desk.store.one("budget_of_connection", conn_id="procore_test")
    shown_before = shows_of(desk, link)  # a waiting invoice's lines were read at the same path while it waited
    decision = accept(desk, link)

    desk.run(ACUMATICA)

    expected = (f"{named(desk, link)} was deleted in Procore after it was sent for acceptance; nothing was exported."
                if change == "deleted" else
                f"{named(desk, link)} is no longer approved in Procore (status {status}); nothing was exported.")
    assert desk.outcome(decision) == ("done", "YELLOW", expected)
    ended = desk.link_by_id(link["id"])
    assert ended["ended_at"] is not None and ended["ended_reason"] == expected
    assert link["id"] not in {row["id"] for row in desk.links(ACUMATICA)}
    assert desk.erp_documents(ACUMATICA) == 0 and desk.procore_origins() == []
    assert shows_of(desk, link) == shown_before + 1
    budget = desk.store.one("budget_of_connection", conn_id="procore_test")
    assert budget["sync_calls"] == budget_before["sync_calls"]  # the check came from the on-demand share
    assert budget["on_demand_calls"] > budget_before["on_demand_calls"]
    trail = [entry["action"] for entry in desk.store.rows("audit_trail", entity="record_link",
                                                           entity_id=str(link["id"]))]
    assert "accepted" not in trail
    assert trail[-2:] == ["ended", "deleted_in_procore" if change == "deleted" else "no_longer_approved"]


@pytest.mark.parametrize("record_type", list(RecordType))
def test_a_record_deleted_between_the_erps_create_and_the_write_back_turns_red_with_what_to_do(
        desk, record_type, monkeypatch):
    link = desk.link(ACUMATICA, record_type)
    accept_parent(desk, link)
    documents_before = desk.erp_documents(ACUMATICA)
    real_create = AcumaticaAdapter.create

    def deleted_in_procore_meanwhile(adapter, coded, *args):
        document = real_create(adapter, coded, *args)
        if coded.record.id == link["procore_id"]:
            change_in_procore(desk, link, "deleted")
        return document

    monkeypatch.setattr(AcumaticaAdapter, "create", deleted_in_procore_meanwhile)
    accept(desk, link)

    summary = desk.run(ACUMATICA, "decisions-race")

    row = desk.link_by_id(link["id"])
    document = json.loads(row["erp_key_json"])["label"].removeprefix("Acumatica Cloud ERP ")
    assert (row["state"], row["colour"], row["reason_code"]) == ("failed", "RED", "deleted_in_procore")
    assert row["message"] == (f"{named(desk, link)} was deleted in Procore after {document} was created in "
                              f"Acumatica Cloud ERP: delete or void {document} in Acumatica Cloud ERP.")
    assert desk.erp_documents(ACUMATICA) == documents_before + 1
    assert summary["counts"]["new_red_deleted_in_procore"] == 1
    notice = run_notice("erp_export_decisions", "decisions-race", False,
                        desk.store.rows("runs_of_airflow_run", airflow_run_id="decisions-race"))
    assert "1 new RED link(s): deleted in procore (1)" in notice.message
    text = daily_summary(desk.store, desk.integrations[ACUMATICA]).text()
    assert text.splitlines()[0].endswith(" 0 failed, 0 rejected by accounting, 1 deleted in Procore but still in "
                                         "the ERP.")
    project = desk.sandbox.sandboxes.procore.projects[link["procore_project_id"]].name
    assert (f"Deleted in Procore, to delete or void in the ERP:\n  {record_type.words} {link['procore_number']} of "
            f"{project} (Procore id {link['procore_id']}): {row['message']}") in text

    desk.sync("next-hour")  # nothing is tried again and nothing is created twice
    assert desk.link_by_id(link["id"])["message"] == row["message"]
    assert desk.erp_documents(ACUMATICA) == documents_before + 1


def test_the_hourly_syncs_direct_export_asks_procore_before_sending_what_waited(desk, monkeypatch):
    commitments = [desk.link(ACUMATICA, RecordType.COMMITMENT, index) for index in range(3)]
    deleted, unapproved, raced = commitments
    change_in_procore(desk, deleted, "deleted")
    change_in_procore(desk, unapproved, "unapproved")
    real_create = AcumaticaAdapter.create

    def deleted_in_procore_meanwhile(adapter, coded, *args):
        document = real_create(adapter, coded, *args)
        if coded.record.id == raced["procore_id"]:
            change_in_procore(desk, raced, "deleted")
        return document

    monkeypatch.setattr(AcumaticaAdapter, "create", deleted_in_procore_meanwhile)
    desk.store.set_export_mode(ACUMATICA, ExportMode.DIRECT, actor="cli:ops")

    summary = export_integration(desk.store, desk.store.one("integration_by_name", name=ACUMATICA), "direct")

    assert desk.link_by_id(deleted["id"])["ended_reason"] == (
        f"{named(desk, deleted)} was deleted in Procore after it was sent for acceptance; nothing was exported.")
    assert desk.link_by_id(unapproved["id"])["ended_at"] is not None
    assert desk.link_by_id(raced["id"])["reason_code"] == "deleted_in_procore"
    assert summary["counts"]["not_sent_deleted_in_procore"] == 1 and summary["counts"]["procore_checked"] >= 1
    exported = {json.loads(row["procore_json"])["data"]["id"] for row in desk.links(ACUMATICA) if row["erp_ref"]}
    assert deleted["procore_id"] not in exported and unapproved["procore_id"] not in exported
    assert len(desk.sandbox.erp_rows("acumatica", "Subcontract")) == 6 - 2


@pytest.fixture
def sage_desk(sandbox, store, sage):
    integration = SAGE_INTEGRATIONS[0].model_copy(update={"export_mode": ExportMode.ACCEPTANCE})
    store.save_integration(integration)
    link_sandbox_references(store, sandbox)
    row = store.one("integration_by_name", name=integration.name)
    export_integration(store, row, "sync")
    return store, row, sage.offices["sage300"]


def test_sages_import_file_is_never_dropped_for_a_deleted_record_and_an_import_after_a_deletion_turns_red(
        sandbox, sage_desk):
    store, integration, office = sage_desk
    desk = Desk.__new__(Desk)  # the helpers, over the Sage integration alone
    desk.sandbox, desk.store, desk.integrations = sandbox, store, {integration["name"]: integration}
    gone, raced = [desk.link(integration["name"], RecordType.COMMITMENT, index) for index in range(2)]
    change_in_procore(desk, gone, "deleted")
    accept(desk, gone, integration["name"])
    accept(desk, raced, integration["name"])

    desk.run(integration["name"])

    files = [path.name for path in office.import_dir.glob("*.csv")]
    assert len(files) == 1 and f"PC-CMT-{raced['procore_id']}-" in files[0]  # none for the deleted one
    assert desk.link_by_id(gone["id"])["ended_reason"].endswith(
        "was deleted in Procore after it was sent for acceptance; nothing was exported.")
    change_in_procore(desk, raced, "deleted")  # while the file waits for Sage's import
    office.run_imports()

    export_integration(store, integration, "after-import")

    row, sage = desk.link_by_id(raced["id"]), ErpKind.SAGE_300_CRE.display_name
    document = json.loads(row["erp_key_json"])["label"].removeprefix(f"{sage} ")
    assert (row["colour"], row["reason_code"]) == ("RED", "deleted_in_procore")
    assert row["message"] == (f"{named(desk, raced)} was deleted in Procore after {document} was created in "
                              f"{sage}: delete or void {document} in {sage}.")
