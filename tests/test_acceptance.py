"""Accounting acceptance against the sandboxes, on SQLite and PostgreSQL: records wait under Ready to
Export and reach the ERP only once accepted, exactly once (two people together, a crashed and retried
task); a rejection turns YELLOW with its reason until Procore changes the record; only accounting
approvers decide; direct export behaves as before."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal

import pytest
import sqlalchemy as sa
from airflow.sdk.exceptions import AirflowTaskTerminated

from erp_sync.acceptance import Decider, daily_summary, send_summary
from erp_sync.documents.page import record_lines
from erp_sync.jobs.export_decisions import decide_integration, integrations_to_decide
from erp_sync.jobs.hourly_sync import export_integration, refresh_integration
from erp_sync.models import ExportMode, RecordType
from erp_sync.store import Store
from erp_sync.sync.links import LinkBook, LinkState
from conftest import TEST_INTEGRATIONS, parallel
from test_identity import filer_roles, type_row  # noqa: F401 - filer_roles is a fixture
from sandbox.procore_data import DEMO_COMPANY_ID
from seed_links import link_sandbox_references

WAITING = "Waiting for accounting acceptance"
TABLES = {"work_order_contracts", "purchase_order_contracts", "commitment_change_orders", "requisitions"}
ERP_ENTITIES = {"summit-acumatica": ("acumatica", ("Subcontract", "ChangeOrder", "Bill")),
                "harbor-quickbooks": ("quickbooks", ("PurchaseOrder", "Bill"))}
CASEY, DEVON, EMERY = 103, 104, 105  # no 'Can Push to Accounting'; read-only ERP Integrations; neither


class Desk:
    """Both test integrations with acceptance on, synced once: their approved records wait."""

    def __init__(self, sandbox, store: Store):
        self.sandbox, self.store = sandbox, store
        for integration in TEST_INTEGRATIONS:
            store.save_integration(integration.model_copy(update={"export_mode": ExportMode.ACCEPTANCE}))
        self.integrations = {row["name"]: row for row in store.integrations()}
        link_sandbox_references(store, sandbox)
        self.sync()

    def sync(self, run: str = "sync") -> None:
        for integration in self.integrations.values():
            export_integration(self.store, integration, run)
            refresh_integration(self.store, integration, run)

    def links(self, name: str, state: str | None = None) -> list[dict]:
        rows = self.store.rows("active_links", integration_id=self.integrations[name]["id"])
        return [row for row in rows if state is None or row["state"] == state]

    def link(self, name: str, record_type: RecordType, index: int = 0) -> dict:
        return [row for row in self.links(name) if row["record_type"] == record_type.value][index]

    def link_by_id(self, link_id: int) -> dict:
        with self.store.engine.connect() as connection:
            return dict(connection.execute(sa.text("SELECT * FROM record_links WHERE id = :id"), {"id": link_id})
                        .mappings().one())

    def decide(self, name: str, **columns) -> int:
        """A row typed into export_decisions, as the README shows."""
        columns = {"integration": name, **columns}
        names, values = ", ".join(columns), ", ".join(f":{key}" for key in columns)
        with self.store.engine.begin() as connection:
            connection.execute(sa.text(f"INSERT INTO export_decisions ({names}) VALUES ({values})"), columns)
            return connection.execute(sa.text("SELECT MAX(id) FROM export_decisions")).scalar()

    def run(self, name: str, run_id: str = "decisions") -> dict:
        return decide_integration(self.store, self.integrations[name], run_id)

    def outcome(self, decision_id: int) -> tuple[str, str, str]:
        row = self.store.one("export_decision", id=decision_id)
        return row["status"], row["colour"], row["message"]

    def erp_documents(self, name: str) -> int:
        vendor, entities = ERP_ENTITIES[name]
        return sum(len(self.sandbox.erp_rows(vendor, entity)) for entity in entities)

    def procore_record(self, link: dict) -> dict:
        table = json.loads(link["procore_json"])["stream"]
        return next(row for row in self.sandbox.procore_rows(table) if row["id"] == link["procore_id"])

    def procore_origins(self) -> list:
        return [row["origin_id"] for table in TABLES for row in self.sandbox.procore_rows(table) if row["origin_id"]]

    def edit_in_procore(self, link: dict, grand_total: str = "43210.00") -> None:
        table = json.loads(link["procore_json"])["stream"]
        self.sandbox.control("PATCH", f"procore/{table}/{link['procore_id']}", json={"grand_total": grand_total})


@pytest.fixture
def desk(sandbox, store) -> Desk:
    return Desk(sandbox, store)


def test_ready_records_are_never_sent_before_acceptance(desk):
    desk.sync("second-hour")

    for name in desk.integrations:
        links = desk.links(name)
        assert links and all((row["state"], row["colour"], row["message"], row["erp_ref"]) ==
                             ("ready", "BLUE", WAITING, None) for row in links)
        assert Counter(row["record_type"] for row in links) == Counter(commitment=6, commitment_change_order=3,
                                                                         subcontractor_invoice=6)
        assert desk.erp_documents(name) == 0
    assert desk.procore_origins() == []
    runs = desk.store.rows("recent_runs", limit=2)
    assert all(json.loads(run["api_calls_json"]).get("quickbooks", 0) <= 2 for run in runs)


def test_a_procore_change_while_ready_updates_what_waits(desk):
    link = desk.link("summit-acumatica", RecordType.COMMITMENT)
    desk.edit_in_procore(link, "98765.43")

    desk.sync("after-edit")

    waiting = desk.link_by_id(link["id"])
    assert waiting["state"] == "ready" and json.loads(waiting["procore_json"])["data"]["grand_total"] == "98765.43"
    assert desk.erp_documents("summit-acumatica") == 0


@pytest.mark.parametrize("name", ["summit-acumatica", "harbor-quickbooks"])
def test_accepting_several_exports_them_at_once_and_writes_the_reference_back(desk, name):
    commitments = [desk.link(name, RecordType.COMMITMENT, i) for i in range(3)]
    ids = [desk.decide(name, record_type="commitment", procore_id=link["procore_id"], decision="accept",
                       decided_by=101, filed_by="avery") for link in commitments]

    summary = desk.run(name)

    assert summary["counts"]["done"] == 3
    for decision_id, link in zip(ids, commitments, strict=True):
        status, colour, message = desk.outcome(decision_id)
        assert (status, colour) == ("done", "BLUE") and " was accepted and is being exported to " in message
        row = desk.link_by_id(link["id"])
        assert (row["state"], row["colour"]) == ("synced", "GREEN") and row["erp_ref"]
        assert desk.procore_record(link)["origin_id"] == row["erp_ref"]
        actions = [entry["action"] for entry in desk.store.rows("audit_trail", entity="record_link",
                                                                 entity_id=str(link["id"]))]
        assert actions[:3] == ["opened", "accepted", "exporting"] and actions[-1] == "synced"
    assert desk.erp_documents(name) == 3
    assert len(desk.links(name, "ready")) == 15 - 3

    desk.sync("next-hour")  # the hourly sync neither exports them again nor touches what still waits
    assert desk.erp_documents(name) == 3 and len(desk.links(name, "ready")) == 12


def test_two_people_accepting_together_export_once(desk):
    name = "summit-acumatica"
    link = desk.link(name, RecordType.SUBCONTRACTOR_INVOICE)
    commitment = next(row for row in desk.links(name) if row["procore_id"] == json.loads(
        link["procore_json"])["data"]["commitment_id"])
    desk.decide(name, record_type="commitment", procore_id=commitment["procore_id"], decision="accept", decided_by=101)
    desk.run(name, "commitment-first")
    ids = [desk.decide(name, record_type="subcontractor_invoice", procore_id=link["procore_id"], decision="accept",
                       decided_by=person) for person in (101, 102)]

    errors = parallel(lambda: desk.run(name, "avery-click"), lambda: desk.run(name, "blake-click"))

    assert errors == []
    outcomes = sorted(desk.outcome(decision_id)[:2] for decision_id in ids)
    assert outcomes == [("done", "BLUE"), ("rejected", "RED")]
    refused = next(desk.outcome(i)[2] for i in ids if desk.outcome(i)[0] == "rejected")
    assert "decided by another decision first" in refused or "is not waiting for accounting acceptance" in refused
    assert len(desk.sandbox.erp_rows("acumatica", "Bill")) == 1
    trail = desk.store.rows("audit_trail", entity="record_link", entity_id=str(link["id"]))
    assert [entry["action"] for entry in trail].count("accepted") == 1
    assert desk.procore_record(link)["origin_id"] == desk.link_by_id(link["id"])["erp_ref"]


def test_a_task_that_crashed_after_the_erp_created_the_record_is_retried_without_a_duplicate(desk, monkeypatch):
    name = "harbor-quickbooks"
    link = desk.link(name, RecordType.SUBCONTRACTOR_INVOICE)
    commitment_id = json.loads(link["procore_json"])["data"]["commitment_id"]
    for procore_id, record_type in ((commitment_id, "commitment"), (link["procore_id"], "subcontractor_invoice")):
        desk.decide(name, record_type=record_type, procore_id=procore_id, decision="accept", decided_by=102)
    real_save, crashes = LinkBook.save, iter([True])

    def crash_once_the_erp_answered(self, saved, **changes):
        if changes.get("state") == LinkState.EXPORTED and saved.record_type is RecordType.SUBCONTRACTOR_INVOICE \
                and next(crashes, False):
            # The task is killed (Airflow's SIGTERM): not one record's defect, which the exporter answers on
            # the record and goes on.
            raise AirflowTaskTerminated("the task was terminated")
        return real_save(self, saved, **changes)

    monkeypatch.setattr(LinkBook, "save", crash_once_the_erp_answered)
    with pytest.raises(AirflowTaskTerminated):
        desk.run(name, "decisions-run-7")
    assert desk.link_by_id(link["id"])["state"] == "exporting" and len(desk.sandbox.erp_rows("quickbooks", "Bill")) == 1
    hourly = export_integration(desk.store, desk.integrations[name], "hourly-meanwhile")
    assert hourly["counts"]["accepted_in_flight"] == 1  # left to the decisions run's retry
    assert desk.link_by_id(link["id"])["state"] == "exporting"

    summary = desk.run(name, "decisions-run-7")  # Airflow's retry of the task: the same run

    assert summary["counts"]["found_in_erp"] == 1
    row = desk.link_by_id(link["id"])
    assert (row["state"], row["colour"]) == ("synced", "GREEN")
    assert len(desk.sandbox.erp_rows("quickbooks", "Bill")) == 1
    assert desk.procore_record(link)["origin_id"] == row["erp_ref"]


def test_trouble_with_one_decision_is_retried_after_a_pause_and_never_holds_up_the_others(desk, monkeypatch):
    name = "summit-acumatica"
    troubled_link, fine_link = desk.link(name, RecordType.COMMITMENT, 0), desk.link(name, RecordType.COMMITMENT, 1)
    troubled, fine = (desk.decide(name, record_type="commitment", procore_id=link["procore_id"], decision="accept",
                                  decided_by=person) for link, person in ((troubled_link, 101), (fine_link, 102)))
    real_check = Decider.check_permissions

    def failing_for_one(self, user_id):
        if user_id == 101:
            raise RuntimeError("a defect met by this decision alone")
        return real_check(self, user_id)

    monkeypatch.setattr(Decider, "check_permissions", failing_for_one)
    desk.run(name)

    assert desk.outcome(fine)[:2] == ("done", "BLUE")
    assert desk.link_by_id(fine_link["id"])["colour"] == "GREEN"
    row = desk.store.one("export_decision", id=troubled)
    assert (row["status"], row["attempts"], row["message"]) == (
        "pending", 1, "Processing failed (a defect met by this decision alone); tried again after 1 minute(s).")
    assert row["retry_at"] is not None
    assert desk.link_by_id(troubled_link["id"])["state"] == "ready"


def test_a_rejection_needs_a_reason_turns_yellow_and_a_later_procore_edit_makes_it_ready_again(desk):
    name = "summit-acumatica"
    link = desk.link(name, RecordType.COMMITMENT)
    no_reason = desk.decide(name, record_type="commitment", procore_id=link["procore_id"], decision="reject",
                            decided_by=102, reason="  ")
    rejected = desk.decide(name, record_type="commitment", procore_id=link["procore_id"], decision="reject",
                           decided_by=102, filed_by="blake", reason="Wrong cost code on line 2")

    desk.run(name)

    assert desk.outcome(no_reason) == ("rejected", "RED", "The decision cannot be processed: a rejection needs a "
                                                          "reason: say what the project must correct.")
    assert desk.outcome(rejected)[:2] == ("done", "YELLOW")
    row = desk.link_by_id(link["id"])
    assert (row["state"], row["colour"]) == ("returned", "YELLOW")
    assert row["message"] == ("Rejected by blake (Procore user 102): Wrong cost code on line 2. Change it in Procore "
                              "to send it to accounting again.")
    assert link["id"] not in [ready["id"] for ready in desk.links(name, "ready")]

    desk.sync("unchanged")
    assert desk.link_by_id(link["id"])["colour"] == "YELLOW"

    desk.edit_in_procore(link)
    desk.sync("after-the-fix")

    again = desk.link_by_id(link["id"])
    assert (again["state"], again["colour"], again["message"]) == ("ready", "BLUE", WAITING)
    assert desk.erp_documents(name) == 0
    resend = desk.decide(name, record_type="commitment", procore_id=link["procore_id"], decision="accept",
                         decided_by=101)
    desk.run(name, "accepted-after-the-fix")
    assert desk.outcome(resend)[0] == "done" and desk.link_by_id(link["id"])["colour"] == "GREEN"


@pytest.mark.parametrize(("person", "missing"), [
    (CASEY, "the 'Can Push to Accounting' privilege in the Company Directory"),
    (DEVON, "'Standard' or 'Admin' on the company's ERP Integrations tool"),
    (EMERY, "'Standard' or 'Admin' on the company's ERP Integrations tool and the 'Can Push to Accounting' "
            "privilege in the Company Directory"),
])
def test_a_person_lacking_a_permission_is_refused_with_the_sentence_naming_it(desk, person, missing):
    link = desk.link("summit-acumatica", RecordType.SUBCONTRACTOR_INVOICE)
    decisions = [desk.decide("summit-acumatica", record_type="subcontractor_invoice", procore_id=link["procore_id"],
                             decision=decision, decided_by=person, reason="looks wrong")
                 for decision in ("accept", "reject")]

    desk.run("summit-acumatica")

    for decision_id in decisions:
        assert desk.outcome(decision_id) == (
            "rejected", "RED", f"Procore user {person} may not accept or reject exports: missing {missing}.")
    assert desk.link_by_id(link["id"])["state"] == "ready" and desk.erp_documents("summit-acumatica") == 0


def test_bad_rows_are_answered_with_a_sentence_and_change_nothing(desk):
    link = desk.link("summit-acumatica", RecordType.COMMITMENT)
    cases = {
        desk.decide("summit-acumatica", record_type="commitment", procore_id=link["procore_id"], decision="approve",
                    decided_by=101): "The decision cannot be processed: the decision: input should be 'accept' or "
                                     "'reject'.",
        desk.decide("summit-acumatica", record_type="commitment", procore_id=999999, decision="accept",
                    decided_by=101): "No commitment with Procore id 999999 waits for accounting acceptance in "
                                     "integration summit-acumatica: check the record.",
        desk.decide("nowhere", record_type="commitment", procore_id=1, decision="accept", decided_by=101):
            "There is no enabled integration named 'nowhere'; `python -m erp_sync integrations` lists them.",
    }
    assert [row["name"] for row in integrations_to_decide(desk.store, "run")] == ["summit-acumatica"]
    desk.run("summit-acumatica")
    for decision_id, message in cases.items():
        assert desk.outcome(decision_id) == ("rejected", "RED", message)
    assert len(desk.links("summit-acumatica", "ready")) == 15


def test_typed_decisions_are_tidied_and_answered_each_alone_as_typed_unlink_requests_are(desk):
    """As issue 19's typed unlink requests: a row that cannot be read, names an unknown record or a status
    the queue does not know is answered RED on its own; a status spelt otherwise is put right; the rest go on."""
    name = "summit-acumatica"
    links = [desk.link(name, RecordType.COMMITMENT, index) for index in range(5)]

    def accept(link: dict, **columns) -> int:
        return desk.decide(name, record_type="commitment", procore_id=link["procore_id"], decision="accept",
                           decided_by=101, **columns)

    first = accept(links[0])
    yesterday = accept(links[1], filed_at="yesterday")  # PostgreSQL reads it as yesterday's midnight
    unknown_record = desk.decide(name, record_type="commitment", procore_id=999999, decision="accept", decided_by=101)
    spelt_otherwise = [accept(links[2], status="Pending"), accept(links[3], status=" PENDING\n")]
    approved = accept(links[4], status="approved")
    behind = accept(links[4])

    assert [row["name"] for row in integrations_to_decide(desk.store, "run")] == [name]
    desk.run(name)

    exported = [first, *spelt_otherwise, behind]
    if desk.store.engine.dialect.name == "postgresql":
        exported.append(yesterday)
    else:
        with desk.store.engine.connect() as connection:
            typed = connection.execute(sa.text("SELECT status, colour, message FROM export_decisions WHERE id = :id"),
                                       {"id": yesterday}).one()
        assert tuple(typed) == ("rejected", "RED", "The decision cannot be processed: its filed_at 'yesterday' is not "
                                                   "a date and time; leave filed_at out of the row and it is filled "
                                                   "in for you.")
        assert desk.link_by_id(links[1]["id"])["state"] == "ready"
    for decision_id in exported:
        assert desk.outcome(decision_id)[:2] == ("done", "BLUE"), decision_id
    for link in (links[0], links[2], links[3], links[4]):
        assert desk.link_by_id(link["id"])["colour"] == "GREEN"
    assert desk.outcome(unknown_record) == ("rejected", "RED", "No commitment with Procore id 999999 waits for "
                                                               f"accounting acceptance in integration {name}: check "
                                                               "the record.")
    assert desk.outcome(approved) == ("rejected", "RED", "The status 'approved' is not one a decision is filed with: "
                                                         "leave status out (or write pending) and the queue carries "
                                                         "the decision out; it sets every other status itself.")
    trail = desk.store.rows("audit_trail", entity="export_decision", entity_id=str(spelt_otherwise[0]))
    assert [entry["action"] for entry in trail] == ["normalised", "done"]
    assert integrations_to_decide(desk.store, "after") == []


def test_direct_export_sends_what_waited_and_the_change_is_audited(desk):
    desk.store.set_export_mode("harbor-quickbooks", ExportMode.DIRECT, actor="cli:ops")
    desk.integrations = {row["name"]: row for row in desk.store.integrations()}

    desk.sync("direct")

    assert {row["colour"] for row in desk.links("harbor-quickbooks")} == {"GREEN"}
    assert desk.erp_documents("harbor-quickbooks") == 6 + 6
    assert {row["state"] for row in desk.links("summit-acumatica")} == {"ready"}
    (change,) = [entry for entry in desk.store.rows("audit_trail", entity="integration", entity_id="harbor-quickbooks")
                 if entry["action"] == "export_mode"]
    assert (change["old_state"], change["new_state"], change["actor"]) == ("acceptance", "direct", "cli:ops")
    with pytest.raises(ValueError, match="There is no integration named 'nowhere'"):
        desk.store.set_export_mode("nowhere", ExportMode.DIRECT, actor="cli:ops")


def test_the_daily_summary_lists_what_waits_what_failed_and_what_was_rejected(desk):
    name = "summit-acumatica"
    link = desk.link(name, RecordType.COMMITMENT)
    desk.decide(name, record_type="commitment", procore_id=link["procore_id"], decision="reject", decided_by=101,
                filed_by="avery", reason="Retention missing")
    cco = desk.link(name, RecordType.COMMITMENT_CHANGE_ORDER)  # its commitment waits for acceptance: so does it
    desk.decide(name, record_type="commitment_change_order", procore_id=cco["procore_id"], decision="accept",
                decided_by=101)
    desk.run(name)
    sent = []

    text = send_summary(daily_summary(desk.store, desk.integrations[name]), sent.append, {"ti": "task"})

    assert text.startswith(f"ERP Sync daily summary for {name}: 13 waiting for accounting acceptance, 0 failed, "
                           "1 rejected by accounting.")
    project = desk.sandbox.sandboxes.procore.projects[link["procore_project_id"]].name
    assert f"commitment {link['procore_number']} of {project} (Procore id {link['procore_id']}): Rejected by avery" in text
    assert "of Project " not in text  # every project named, the change orders' and invoices' too
    waiting = desk.link_by_id(cco["id"])
    assert (waiting["colour"], waiting["reason_code"]) == ("BLUE", "parent_on_its_way")
    assert "which waits for accounting acceptance under Ready to Export" in waiting["message"]
    assert sent == [{"ti": "task", "erp_sync_subject": f"ERP Sync daily summary: {name}", "erp_sync_message": text}]



def test_the_readme_example_accepts_a_change_order_of_the_demo_data(desk):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    example = re.search(r"```sql\n(INSERT INTO export_decisions.*?)```", readme, re.DOTALL).group(1)
    cco = next(row for row in desk.links("summit-acumatica") if row["procore_id"] == 1019)
    parent = json.loads(cco["procore_json"])["data"]["contract_id"]
    desk.decide("summit-acumatica", record_type="commitment", procore_id=parent, decision="accept", decided_by=101)
    with desk.store.engine.begin() as connection:
        connection.execute(sa.text(example))
        connection.execute(sa.text(example))  # the same row a second time

    desk.run("summit-acumatica")

    first, second = [row["id"] for row in desk.store.rows("export_decisions_of_integration",
                                                          integration="summit-acumatica",
                                                          record_type="commitment_change_order", limit=2)][::-1]
    assert desk.outcome(first) == ("done", "BLUE", "The commitment change order PO-001-CO01 was accepted and is "
                                                   "being exported to Acumatica Cloud ERP.")
    assert desk.outcome(second)[:2] == ("rejected", "RED")
    assert desk.outcome(second)[2].startswith(
        "The commitment change order PO-001-CO01 is not waiting for accounting acceptance: ")
    assert desk.link_by_id(cco["id"])["colour"] == "GREEN" and len(desk.sandbox.erp_rows("acumatica", "ChangeOrder")) == 1


@pytest.fixture
def world(desk) -> Desk:
    """What ``filer_roles`` works on: the store of the scene."""
    return desk


def test_a_typed_decision_decides_as_its_filers_procore_user_only(desk, filer_roles):  # noqa: F811 - the fixture
    link = desk.link("summit-acumatica", RecordType.COMMITMENT)
    emery_role, emery = filer_roles[EMERY]
    avery_role, avery = filer_roles[101]
    decision = dict(table="export_decisions", integration="summit-acumatica", record_type="commitment",
                    procore_id=link["procore_id"], decision="accept", decided_by=101)

    impostor = type_row(emery, **decision, filed_by_role=avery_role)  # the database writes the real role
    desk.run("summit-acumatica", "impostor")

    assert desk.store.one("export_decision", id=impostor)["filed_by_role"] == emery_role
    assert desk.outcome(impostor) == ("rejected", "RED", (
        f"The request names Procore user 101 as requester, but it was typed in by database role '{emery_role}', "
        f"which is Procore user {EMERY}: people file requests as themselves."))
    assert desk.link_by_id(link["id"])["state"] == "ready"

    honest = type_row(avery, **decision)
    desk.run("summit-acumatica", "honest")
    assert desk.outcome(honest)[:2] == ("done", "BLUE") and desk.link_by_id(link["id"])["colour"] == "GREEN"


def test_the_cli_switches_the_export_mode_and_saving_an_integration_again_keeps_it(tmp_path, capsys):
    from erp_sync.__main__ import main

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    add = ["--db-url", url, "add-integration", "--name", "acme", "--procore-conn-id", "procore_prod",
           "--procore-company-id", "42", "--erp-kind", "acumatica", "--erp-conn-id", "acumatica_prod"]
    assert main(["--db-url", url, "upgrade"]) == 0
    assert main(add) == 0
    assert main(["--db-url", url, "integrations"]) == 0
    assert "export=acceptance" in capsys.readouterr().out

    assert main(["--db-url", url, "export-mode", "--integration", "acme", "--mode", "direct"]) == 0
    assert main(add) == 0
    assert main(["--db-url", url, "integrations"]) == 0
    assert "export=direct" in capsys.readouterr().out
    assert main(["--db-url", url, "export-mode", "--integration", "nope", "--mode", "direct"]) == 2
    assert "There is no integration named 'nope'" in capsys.readouterr().err


def test_an_unlink_request_for_a_record_still_waiting_says_it_was_never_exported(desk):
    from erp_sync.jobs.unlink_queue import drain_integration

    link = desk.link("summit-acumatica", RecordType.COMMITMENT)
    with desk.store.engine.begin() as connection:
        request_id = connection.execute(sa.text(
            "INSERT INTO unlink_requests (integration, record_type, procore_id, requested_by) "
            "VALUES ('summit-acumatica', 'commitment', :procore_id, 101) RETURNING id"),
            {"procore_id": link["procore_id"]}).scalar_one()

    drain_integration(desk.store, desk.integrations["summit-acumatica"], "queue")

    row = desk.store.one("unlink_request", id=request_id)
    assert (row["status"], row["colour"], row["message"]) == ("rejected", "RED", (
        f"The commitment {link['procore_number']} was never synced to Acumatica Cloud ERP (it is not exported: "
        "Waiting for accounting acceptance); there is nothing to unlink."))


# A waiting CCO's or invoice's lines, checked before anyone accepts it ---------------------------------------------
COATINGS = {"id": 5999, "code": "09-900", "full_code": "09-900", "name": "Special Coatings"}  # a code the ERP lacks


def kept_lines(desk: Desk, link: dict) -> list:
    from erp_sync.documents.line_map import LineMap

    return LineMap(desk.store).of_link(link["id"])


def line_reads(desk: Desk, name: str, run: str) -> int:
    """One hourly sync of the integration; the Procore calls it made for records' lines."""
    return export_integration(desk.store, desk.integrations[name], run)["counts"].get("procore_line_reads", 0)


def projects_of(sandbox, company: int) -> set[int]:
    return {pid for pid, p in sandbox.sandboxes.procore.projects.items() if p.company.id == company}


def parent_id(link: dict) -> int:
    data = json.loads(link["procore_json"])["data"]
    return data.get("contract_id", data.get("commitment_id"))


def parent_of(desk: Desk, link: dict) -> dict:
    return next(row for row in desk.links("summit-acumatica") if row["record_type"] == "commitment"
                and row["procore_id"] == parent_id(link))


def waiting_on(desk: Desk, name: str, commitment_id: int) -> list[dict]:
    """The waiting CCOs and invoices of a commitment: coded through its lines."""
    return [row for row in desk.links(name, "ready") if row["record_type"] != "commitment"
            and parent_id(row) == commitment_id]


def test_a_waiting_cco_names_a_cost_code_its_lines_need_and_accepting_it_exports_exactly_those_lines(desk):
    name = "summit-acumatica"
    cco = desk.link(name, RecordType.COMMITMENT_CHANGE_ORDER)
    commitment = parent_of(desk, cco)
    checked = kept_lines(desk, cco)  # read while it waits, coded through its commitment's lines
    assert checked and cco["message"] == WAITING
    changed = desk.sandbox.procore_lines("commitment_change_orders", cco["procore_id"])[0]["commitment_line_item_id"]
    table = json.loads(commitment["procore_json"])["stream"]
    schedule = desk.sandbox.procore_lines(table, commitment["procore_id"])
    next(line for line in schedule if line["id"] == changed)["cost_code"] = COATINGS
    desk.sandbox.control("PUT", f"procore/{table}/{commitment['procore_id']}/lines", json=schedule)

    # the commitment changed: it is read again, and so is each waiting record coded through its lines
    assert line_reads(desk, name, "sov-edit") == 1 + len(waiting_on(desk, name, commitment["procore_id"]))
    waiting = desk.link_by_id(cco["id"])
    assert (waiting["state"], waiting["colour"], waiting["reason_code"]) == ("ready", "BLUE", "reference_unlinked")
    assert waiting["message"].startswith('Not exported yet: link cost code 09-900 "Special Coatings" of project ')
    assert "of the commitment change order" in waiting["message"]
    # it awaits accounting: once linked it goes to Ready to Export, not to the ERP
    assert "the next sync puts it on Ready to Export." in waiting["message"]
    assert "exports it" not in waiting["message"]
    assert {m.line.coding.cost_code.code for m in kept_lines(desk, cco)} == {"09-900"}
    assert line_reads(desk, name, "unchanged") == 0

    from erp_sync.reference.links import link
    from erp_sync.reference.model import ErpItem, ProcoreRef, ReferenceKind

    link(desk.store, desk.integrations[name], ProcoreRef(ReferenceKind.COST_CODE, "5999", "09-900", "Special Coatings"),
         ErpItem(ReferenceKind.COST_CODE, "099000", "099000", "Coatings"), by="the accountant")
    assert line_reads(desk, name, "linked") == 0  # the kept lines are checked again, not read again
    assert desk.link_by_id(cco["id"])["message"] == WAITING
    checked = kept_lines(desk, cco)
    for record_type, procore_id in (("commitment", commitment["procore_id"]),
                                    ("commitment_change_order", cco["procore_id"])):
        desk.decide(name, record_type=record_type, procore_id=procore_id, decision="accept", decided_by=101)

    desk.run(name)

    exported = kept_lines(desk, cco)
    assert [m.line for m in exported] == [m.line for m in checked] and all(m.erp_line for m in exported)
    [order] = desk.sandbox.erp_rows("acumatica", "ChangeOrder")
    assert len(order["Commitments"]) == len(checked)
    desk.run(name, "decisions-again")
    desk.sync("next-hour")
    assert [m.erp_line for m in kept_lines(desk, cco)] == [m.erp_line for m in exported]
    [order] = desk.sandbox.erp_rows("acumatica", "ChangeOrder")
    assert len(order["Commitments"]) == len(checked) and desk.link_by_id(cco["id"])["colour"] == "GREEN"


def test_a_waiting_invoices_lines_are_read_once_per_change_with_their_retainage(desk):
    name = "harbor-quickbooks"
    invoice = desk.link(name, RecordType.SUBCONTRACTOR_INVOICE)
    kept = kept_lines(desk, invoice)
    items = desk.sandbox.procore_lines("requisitions", invoice["procore_id"])
    assert invoice["message"] == WAITING and len(kept) == len(items)
    assert [m.line.retainage_held for m in kept] == [
        Decimal(item["work_completed_retainage_retained_this_period"]) for item in items]

    assert line_reads(desk, name, "unchanged") == 0  # nothing changed in Procore: no line is read again
    added = desk.sandbox.bill_more(invoice["procore_id"], "1000.00")
    assert line_reads(desk, name, "billed-more") == 1
    assert line_reads(desk, name, "unchanged-again") == 0
    assert sum(m.line.retainage_held for m in kept_lines(desk, invoice)) == sum(
        m.line.retainage_held for m in kept) + added


def cco_line_reads(desk: Desk, cco_id: int) -> int:
    """The calls that read a CCO's lines from Procore (the sandbox counts every call)."""
    calls = desk.sandbox.control("GET", "procore/calls").json()
    return sum(count for call, count in calls.items()
               if call.startswith("GET ") and call.endswith(f"commitment_change_orders/{cco_id}/line_items"))


def test_a_waiting_cco_whose_commitments_lines_are_unknown_is_not_read_and_says_so(sandbox, store):
    cco = next(row for row in sandbox.procore_rows("commitment_change_orders")
               if row["project_id"] in projects_of(sandbox, DEMO_COMPANY_ID) and row["status"] == "approved")
    contract_table = next(table for table in ("work_order_contracts", "purchase_order_contracts")
                          if any(row["id"] == cco["contract_id"] for row in sandbox.procore_rows(table)))
    sandbox.control("PATCH", f"procore/{contract_table}/{cco['contract_id']}", json={"status": "Draft"})
    desk = Desk(sandbox, store)
    name = "summit-acumatica"

    waiting = next(row for row in desk.links(name) if row["procore_id"] == cco["id"])
    assert (waiting["state"], waiting["colour"], waiting["reason_code"]) == ("ready", "BLUE",
                                                                             "commitment_lines_unknown")
    assert waiting["message"] == (
        f"Waiting for accounting acceptance; its lines are checked once ERP Sync has read those of its commitment "
        f"(Procore id {cco['contract_id']}), which they change: the commitment is not approved in Procore yet (or not "
        "read yet).")
    assert kept_lines(desk, waiting) == [] and cco_line_reads(desk, cco["id"]) == 0  # nothing to code them through
    assert line_reads(desk, name, "unchanged") == 0

    sandbox.control("POST", f"procore/{contract_table}/{cco['contract_id']}/approve")
    dependents = waiting_on(desk, name, cco["contract_id"])
    assert line_reads(desk, name, "commitment-approved") == 1 + len(dependents)  # the commitment, then the CCO's
    assert all(desk.link_by_id(row["id"])["reason_code"] is None for row in dependents)
    checked = desk.link_by_id(waiting["id"])
    assert (checked["message"], checked["reason_code"]) == (WAITING, None) and kept_lines(desk, checked)
    assert cco_line_reads(desk, cco["id"]) == 1


def test_a_waiting_cco_line_on_no_commitment_line_waits_blue_naming_it_and_keeps_the_others(desk):
    name = "summit-acumatica"
    cco = desk.link(name, RecordType.COMMITMENT_CHANGE_ORDER)
    lines = desk.sandbox.procore_lines("commitment_change_orders", cco["procore_id"])
    lines.append(lines[0] | {"id": 999_998, "position": len(lines) + 1, "description": "Canopy steel",
                             "commitment_line_item_id": 999_999})  # a line the commitment does not have
    desk.sandbox.control("PUT", f"procore/commitment_change_orders/{cco['procore_id']}/lines", json=lines)

    assert line_reads(desk, name, "edited") == 1
    waiting = desk.link_by_id(cco["id"])
    assert (waiting["state"], waiting["colour"], waiting["reason_code"]) == ("ready", "BLUE", "line_not_on_commitment")
    assert waiting["message"].startswith(f"Waiting for accounting acceptance, but line {lines[-1]['position']} (")
    assert waiting["message"].endswith(
        f"Canopy steel, budget code {lines[-1]['wbs_code']['flat_code']}) of the commitment change order changes no "
        f"line of commitment {parent_of(desk, cco)['procore_number']}: add it to the commitment's schedule of values "
        "in Procore, or name the commitment line changed; ERP Sync checks it again then.")
    assert [m.line.procore_id for m in kept_lines(desk, waiting)] == [str(line["id"]) for line in lines[:-1]]
    shown = record_lines(desk.store, desk.integrations[name]["id"], RecordType.COMMITMENT_CHANGE_ORDER,
                         cco["procore_id"])
    assert len(shown.lines) == len(lines) - 1 and shown.left_out == (
        "The lines named above are not shown: they change no line of the commitment that ERP Sync has read.")
    assert line_reads(desk, name, "unchanged") == 0
