"""The unlink queue against the sandboxes, on SQLite and on PostgreSQL: every row of the rules' table (docs/rules.md), the
permission check, bad input, the form, a crash in the middle, and (on PostgreSQL, with parallel
workers) races. Every outcome is checked word for word, with what the store and Procore then hold."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from erp_sync.jobs import unlink_queue
from erp_sync.jobs.hourly_sync import export_integration
from erp_sync.models import ErpKind, RecordType
from erp_sync.store import Store, utcnow
from erp_connectors.base import RetryPolicy, VendorApiError, VendorHook
from erp_sync.__main__ import main as cli
from erp_sync.unlink import DELETED_IN_PROCORE, SUCCESS, Unlinker
from sandbox.procore_data import COMPANY_NAMES, DEMO_COMPANY_ID, HARBOR_ONLY_USER_ID, SECOND_COMPANY_ID
from conftest import SyncedScene, parallel, person, run_as

pytestmark = pytest.mark.airflow
ERPS = {"summit-acumatica": (ErpKind.ACUMATICA, DEMO_COMPANY_ID, "acumatica_test"),
        "harbor-quickbooks": (ErpKind.QUICKBOOKS_ONLINE, SECOND_COMPANY_ID, "quickbooks_test")}
TABLE_OF = {"work_order_contracts": RecordType.COMMITMENT, "purchase_order_contracts": RecordType.COMMITMENT,
            "commitment_change_orders": RecordType.COMMITMENT_CHANGE_ORDER,
            "requisitions": RecordType.SUBCONTRACTOR_INVOICE}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(Path(__file__).resolve().parents[1] / "dags"))


class World(SyncedScene):
    """Both integrations synced once; helpers file requests, act as ERP users and read the outcome."""

    def __init__(self, sandbox, store: Store, dagbag):
        super().__init__(sandbox, store)
        self.queue, self.form = dagbag.dags["erp_unlink_queue"], dagbag.dags["erp_file_unlink_request"]

    def link(self, name: str, record_type: RecordType, index: int = 0) -> dict:
        rows = [row for row in self.store.rows("active_links", integration_id=self.integrations[name]["id"])
                if row["record_type"] == record_type.value and row["erp_ref"]]
        return rows[index]

    def file(self, **columns) -> int:
        """A row typed into unlink_requests, as the README shows."""
        names = ", ".join(columns)
        values = ", ".join(f":{key}" for key in columns)
        with self.store.engine.begin() as connection:
            connection.execute(sa.text(f"INSERT INTO unlink_requests ({names}) VALUES ({values})"), columns)
            return connection.execute(sa.text("SELECT MAX(id) FROM unlink_requests")).scalar()

    def request(self, request_id: int) -> dict:
        return self.store.one("unlink_request", id=request_id)

    def outcome(self, request_id: int) -> tuple[str, str, str]:
        row = self.request(request_id)
        return row["status"], row["colour"], row["message"]

    def run_queue(self):
        run = self.queue.test()
        return run

    def procore_record(self, link: dict) -> dict:
        table = json.loads(link["procore_json"])["stream"]
        return next(r for r in self.sandbox.procore_rows(table) if r["id"] == link["procore_id"])

    def pause_over(self, request_id: int) -> None:
        """The pause before a request's retry has passed."""
        with self.store.engine.begin() as connection:
            connection.execute(sa.text("UPDATE unlink_requests SET retry_at = NULL WHERE id = :id"),
                               {"id": request_id})

    def typed_outcome(self, request_id: int) -> tuple[str, str, str]:
        """The outcome read as typed, for a row whose other values cannot be read."""
        with self.store.engine.connect() as connection:
            return tuple(connection.execute(sa.text("SELECT status, colour, message FROM unlink_requests WHERE id = :id"),
                                            {"id": request_id}).one())

    def link_row(self, link_id: int) -> dict:
        with self.store.engine.connect() as connection:
            return dict(connection.execute(sa.text("SELECT * FROM record_links WHERE id = :id"), {"id": link_id})
                        .mappings().one())


@pytest.fixture
def world(airflow_db, sandbox, airflow_store, dagbag) -> World:
    return World(sandbox, airflow_store, dagbag)


def test_each_erp_and_record_type_is_refused_while_in_the_erp_and_unlinked_once_gone(world):
    cases = [(name, record_type) for name in ERPS for record_type in RecordType]
    first = {case: world.file(integration=case[0], record_type=case[1].value, requested_by=101,
                              procore_id=world.link(*case)["procore_id"]) for case in cases}

    assert world.run_queue().state == "success"

    for (name, record_type), request_id in first.items():
        erp = ERPS[name][0].display_name
        assert world.outcome(request_id) == (
            "rejected", "RED", f"The {record_type.noun} is still in {erp}. Please delete it before retrying.")
    for case in first:  # refused: the link and Procore's reference are untouched
        link = world.link(*case)
        assert world.link_row(link["id"])["ended_at"] is None
        assert world.procore_record(link)["origin_id"] == link["erp_ref"]

    links = {case: world.link(*case) for case in cases}
    for (name, _record_type), link in links.items():
        world.remove_from_erp(name, link)
    second = {}
    for (name, record_type), link in links.items():  # one of them by project and number, as a user sees it
        if record_type is RecordType.SUBCONTRACTOR_INVOICE:
            second[(name, record_type)] = world.file(integration=name, record_type=record_type.value, requested_by=101,
                                                     project_id=link["procore_project_id"],
                                                     record_number=link["procore_number"])
        else:
            second[(name, record_type)] = world.file(integration=name, record_type=record_type.value, requested_by=101,
                                                     procore_id=link["procore_id"])

    run = world.run_queue()

    assert run.state == "success"
    for case, request_id in second.items():
        row = world.request(request_id)
        assert (row["status"], row["colour"], row["message"]) == ("done", "GREEN", SUCCESS)
        assert row["processed_at"] is not None and row["processed_by_run"] == run.run_id
        ended = world.link_row(links[case]["id"])
        assert ended["ended_at"] is not None and "unlink request" in ended["ended_by"]
        record = world.procore_record(links[case])
        assert record["origin_id"] is None and record["origin_data"] is None

    world.sync()  # the records are free to be exported again, as new links
    for case, link in links.items():
        again = next(row for row in world.store.rows("active_links", integration_id=world.integrations[case[0]]["id"])
                     if row["procore_id"] == link["procore_id"])
        assert again["id"] != link["id"] and again["colour"] == "GREEN" and again["erp_ref"]
        assert world.procore_record(link)["origin_id"] == again["erp_ref"]


@pytest.mark.parametrize(("user", "missing"), [
    (103, "the 'Can Push to Accounting' privilege in the Company Directory"),
    (104, "'Admin' on the project's Commitments tool and 'Standard' or 'Admin' on the company's ERP Integrations "
          "tool"),
    (105, "'Admin' on the project's Commitments tool and 'Standard' or 'Admin' on the company's ERP Integrations "
          "tool and the 'Can Push to Accounting' privilege in the Company Directory"),
])
def test_a_requester_without_the_three_permissions_is_told_which_is_missing(world, user, missing):
    link = world.link("summit-acumatica", RecordType.SUBCONTRACTOR_INVOICE)
    world.remove_from_erp("summit-acumatica", link)
    request_id = world.file(integration="summit-acumatica", record_type="subcontractor_invoice",
                            procore_id=link["procore_id"], requested_by=user)

    world.run_queue()

    assert world.outcome(request_id) == ("rejected", "RED", f"Procore user {user} may not unlink: missing {missing}.")
    assert world.link_row(link["id"])["ended_at"] is None
    assert world.procore_record(link)["origin_id"] == link["erp_ref"]


def test_bad_requests_get_a_sentence_and_change_nothing(world, sandbox):
    commitment = world.link("summit-acumatica", RecordType.COMMITMENT)
    unapproved = next(r for r in sandbox.procore_rows("work_order_contracts") if r["status"] == "Draft"
                      and r["project"]["id"] == commitment["procore_project_id"])
    before_links = world.store.rows("links_by_colour")
    requests = {
        "unknown integration": dict(integration="nowhere", record_type="commitment", procore_id=1, requested_by=101),
        "no integration": dict(integration="", record_type="commitment", procore_id=1, requested_by=101),
        "sql": dict(integration="x'; DROP TABLE record_links; --", record_type="commitment", procore_id=1,
                    requested_by=101),
        "html": dict(integration="summit-acumatica", record_type="<script>alert(1)</script>", procore_id=1,
                     requested_by=101),
        "wrong type": dict(integration="summit-acumatica", record_type="subcontractor_invoice",
                           procore_id=commitment["procore_id"], requested_by=101),
        "never synced": dict(integration="summit-acumatica", record_type="commitment", procore_id=unapproved["id"],
                             requested_by=101),
        "no record named": dict(integration="summit-acumatica", record_type="commitment", requested_by=101),
        "no requester": dict(integration="summit-acumatica", record_type="commitment",
                             procore_id=commitment["procore_id"]),
        "unknown number": dict(integration="summit-acumatica", record_type="commitment", requested_by=101,
                               project_id=commitment["procore_project_id"], record_number="NO-SUCH-1"),
    }
    ids = {name: world.file(**columns) for name, columns in requests.items()}

    world.run_queue()

    outcomes = {name: world.outcome(request_id) for name, request_id in ids.items()}
    assert all(status == "rejected" and colour == "RED" for status, colour, _ in outcomes.values()), outcomes
    messages = {name: message for name, (_s, _c, message) in outcomes.items()}
    assert messages["unknown integration"] == ("There is no enabled integration named 'nowhere'; "
                                               "`python -m erp_sync integrations` lists them.")
    assert messages["no integration"] == "The request names no integration; say which one it is for."
    assert messages["sql"] == ("There is no enabled integration named 'x&#x27;; DROP TABLE record_links; --'; "
                               "`python -m erp_sync integrations` lists them.")
    assert messages["html"] == ("The request cannot be processed: the record type must be commitment, "
                                "commitment_change_order or subcontractor_invoice "
                                "(got '&lt;script&gt;alert(1)&lt;/script&gt;').")
    assert messages["wrong type"] == (f"Procore record {commitment['procore_id']} is a commitment (commitment), "
                                      "not a subcontractor invoice: file the request with its record type.")
    assert messages["never synced"] == (f"No commitment with Procore id {unapproved['id']} has been synced to "
                                        "Acumatica Cloud ERP by integration summit-acumatica: check the record, or "
                                        "it was never synced.")
    assert messages["no record named"] == ("The request cannot be processed: name the Procore record: its id, or its "
                                           "project id and its number.")
    assert messages["no requester"].startswith("The request cannot be processed: the requester (a Procore user id)")
    assert "numbered" not in messages["unknown number"] and "'NO-SUCH-1'" in messages["unknown number"]
    assert world.store.rows("links_by_colour") == before_links


def test_an_oversized_field_is_refused_by_the_table_or_by_the_queue(world):
    link = world.link("summit-acumatica", RecordType.COMMITMENT)
    columns = dict(integration="summit-acumatica", record_type="commitment", requested_by=101,
                   project_id=link["procore_project_id"], record_number="N" * 150)
    if world.store.engine.dialect.name == "postgresql":  # the column's width refuses it; nothing is written
        with pytest.raises(sa.exc.DataError):
            world.file(**columns)
        return
    request_id = world.file(**columns)
    world.run_queue()
    status, colour, message = world.outcome(request_id)
    assert (status, colour) == ("rejected", "RED")
    assert message == "The request cannot be processed: the record number: string should have at most 100 characters."


def test_a_second_request_for_an_unlinked_record_is_told_it_already_was(world):
    link = world.link("harbor-quickbooks", RecordType.SUBCONTRACTOR_INVOICE)
    world.remove_from_erp("harbor-quickbooks", link)
    first = world.file(integration="harbor-quickbooks", record_type="subcontractor_invoice",
                       procore_id=link["procore_id"], requested_by=101)
    world.run_queue()
    second = world.file(integration="harbor-quickbooks", record_type="subcontractor_invoice",
                        procore_id=link["procore_id"], requested_by=102)

    world.run_queue()

    assert world.outcome(first) == ("done", "GREEN", SUCCESS)
    status, colour, message = world.outcome(second)
    assert (status, colour) == ("rejected", "RED")
    assert message.startswith(f"The subcontractor invoice {link['procore_number']} was already unlinked (")
    assert message.endswith("unlink request " + str(first) + " (Procore user 101)); there is nothing to unlink.")


def test_the_form_files_the_row_as_the_signed_in_person_and_refuses_bad_input(world):
    link = world.link("summit-acumatica", RecordType.COMMITMENT_CHANGE_ORDER)
    world.remove_from_erp("summit-acumatica", link)
    avery = person(world.sandbox, world.store, 101)

    run = run_as(world.form, avery, integration="summit-acumatica", record_type="commitment_change_order",
                 procore_id=link["procore_id"])
    assert run.state == "success"
    with world.store.engine.connect() as connection:
        filed = connection.execute(sa.text("SELECT * FROM unlink_requests")).mappings().all()
    assert len(filed) == 1 and filed[0]["status"] == "pending"
    assert (filed[0]["filed_by"], filed[0]["requested_by"]) == (avery, 101)  # Procore said who Avery is

    world.run_queue()
    assert world.outcome(filed[0]["id"]) == ("done", "GREEN", SUCCESS)

    for bad in ({"integration": "summit-acumatica", "record_type": "commitment", "procore_id": None,
                 "project_id": None, "record_number": None},  # names no record
                {"integration": "nowhere", "record_type": "commitment", "procore_id": 1}):
        assert run_as(world.form, avery, **bad).state == "failed"
    with world.store.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT COUNT(*) FROM unlink_requests")).scalar() == 1


def test_the_form_refuses_a_typo_or_an_unsynced_record_before_writing_with_the_queues_sentence(world, capfd):
    """A typo in the integration used to be written, answered RED only in SQL, with every run green."""
    link = world.link("summit-acumatica", RecordType.SUBCONTRACTOR_INVOICE)
    typed = world.file(integration="summit-acumatca", record_type="subcontractor_invoice",
                       procore_id=link["procore_id"], requested_by=101)
    world.run_queue()
    queue_says = world.outcome(typed)[2]
    avery = person(world.sandbox, world.store, 101)
    capfd.readouterr()

    typo = run_as(world.form, avery, integration="summit-acumatca", record_type="subcontractor_invoice",
                  procore_id=link["procore_id"])
    never_synced = run_as(world.form, avery, integration="summit-acumatica", record_type="subcontractor_invoice",
                          procore_id=999999)

    assert (typo.state, never_synced.state) == ("failed", "failed")
    assert queue_says == ("There is no enabled integration named 'summit-acumatca'; `python -m erp_sync "
                          "integrations` lists them.")
    log = capfd.readouterr()
    assert queue_says in log.out + log.err
    assert ("No subcontractor invoice with Procore id 999999 has been synced to Acumatica Cloud ERP by integration "
            "summit-acumatica: check the record, or it was never synced.") in log.out + log.err
    with world.store.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT id FROM unlink_requests")).scalars().all() == [typed]


def test_a_crash_between_procore_and_the_store_is_finished_by_the_retry(world, monkeypatch):
    link = world.link("summit-acumatica", RecordType.SUBCONTRACTOR_INVOICE)
    world.remove_from_erp("summit-acumatica", link)
    request_id = world.file(integration="summit-acumatica", record_type="subcontractor_invoice",
                            procore_id=link["procore_id"], requested_by=101)
    real_end = Unlinker.end
    crashes = iter([True])

    def end_after_a_crash(self, *args):
        if next(crashes, False):
            raise ConnectionError("worker lost its database connection")
        return real_end(self, *args)

    monkeypatch.setattr(Unlinker, "end", end_after_a_crash)
    integration = world.integrations["summit-acumatica"]
    unlink_queue.drain_integration(world.store, integration, "run-crashed")
    assert world.procore_record(link)["origin_id"] is None  # half done: Procore cleared, link not ended
    assert world.request(request_id)["status"] == "pending" and world.link_row(link["id"])["ended_at"] is None

    world.pause_over(request_id)
    unlink_queue.drain_integration(world.store, integration, "run-retry")

    assert world.outcome(request_id) == ("done", "GREEN", SUCCESS)
    assert world.request(request_id)["attempts"] == 2
    trail = world.store.rows("audit_trail", entity="record_link", entity_id=str(link["id"]))
    assert [entry["action"] for entry in trail].count("unlinked") == 1


def test_a_claim_left_by_a_dead_worker_is_taken_over(world):
    link = world.link("harbor-quickbooks", RecordType.COMMITMENT)
    world.remove_from_erp("harbor-quickbooks", link)
    request_id = world.file(integration="harbor-quickbooks", record_type="commitment", procore_id=link["procore_id"],
                            requested_by=101, status="processing", claimed_by="dead-worker",
                            claimed_at=utcnow() - unlink_queue.STALE_CLAIM - timedelta(minutes=1))
    unlink_queue.drain_integration(world.store, world.integrations["harbor-quickbooks"], "run-1")
    assert world.outcome(request_id) == ("done", "GREEN", SUCCESS)


# One request never holds up the others ------------------------------------------------------------

def removed_invoices(world, name: str, count: int) -> list[dict]:
    """Invoices of the integration whose ERP bills were deleted: each can be unlinked."""
    links = [world.link(name, RecordType.SUBCONTRACTOR_INVOICE, index) for index in range(count)]
    for link in links:
        world.remove_from_erp(name, link)
    return links


def file_for(world, name: str, link: dict, **columns) -> int:
    return world.file(**{"integration": name, "record_type": "subcontractor_invoice", "procore_id": link["procore_id"],
                         "requested_by": 101, **columns})


def test_a_value_that_cannot_be_read_is_answered_on_its_request_and_the_others_go_on(world):
    before, after = removed_invoices(world, "summit-acumatica", 2)
    first = file_for(world, "summit-acumatica", before)
    if world.store.engine.dialect.name == "postgresql":  # the column's type refuses it; nothing is written
        with pytest.raises(sa.exc.DataError):
            file_for(world, "summit-acumatica", after, filed_at="last tuesday")
        unreadable = None
    else:
        unreadable = file_for(world, "summit-acumatica", after, filed_at="yesterday")
    behind = file_for(world, "summit-acumatica", after)

    run = world.run_queue()

    assert run.state == "success"
    assert world.outcome(first) == ("done", "GREEN", SUCCESS)
    assert world.outcome(behind) == ("done", "GREEN", SUCCESS)
    if unreadable is not None:
        assert world.typed_outcome(unreadable) == (
            "rejected", "RED", "The request cannot be processed: its filed_at 'yesterday' is not a date and time; "
                               "leave filed_at out of the row and it is filled in for you.")


def test_trouble_with_one_request_is_retried_after_a_growing_pause_and_never_holds_up_the_others(world, monkeypatch):
    troubled_link, fine_link = removed_invoices(world, "harbor-quickbooks", 2)
    troubled = file_for(world, "harbor-quickbooks", troubled_link)
    fine = file_for(world, "harbor-quickbooks", fine_link)
    real_unlink = Unlinker.unlink

    def unlink_failing_for_one(self, request, row):
        if row["id"] == troubled:
            raise RuntimeError("a defect met by this request alone")
        return real_unlink(self, request, row)

    monkeypatch.setattr(Unlinker, "unlink", unlink_failing_for_one)
    run = world.run_queue()

    assert run.state == "success"
    assert world.outcome(fine) == ("done", "GREEN", SUCCESS)
    pauses = []
    for attempt in range(1, unlink_queue.MAX_ATTEMPTS):
        row = world.request(troubled)
        assert (row["status"], row["attempts"]) == ("pending", attempt)
        assert row["message"] == ("Processing failed (a defect met by this request alone); tried again after "
                                  f"{2 ** (attempt - 1)} minute(s).")
        pauses.append(round((row["retry_at"] - utcnow()).total_seconds() / 60))
        assert world.run_queue().state == "success" and world.request(troubled)["attempts"] == attempt  # not yet due
        world.pause_over(troubled)
        world.run_queue()
    assert pauses == [1, 2, 4, 8]
    assert world.outcome(troubled) == ("rejected", "RED", "Processing failed 5 times (a defect met by this request "
                                                          "alone); an engineer should look at the run logs.")
    assert world.link_row(troubled_link["id"])["ended_at"] is None


def test_the_task_fails_only_when_the_integration_is_out_of_reach(world, sandbox, monkeypatch):
    monkeypatch.setattr(VendorHook, "retry_policy", RetryPolicy(attempts=1))  # the hook's retries are tested elsewhere
    integration = world.integrations["summit-acumatica"]
    troubled_link, fine_link = removed_invoices(world, "summit-acumatica", 2)
    troubled = file_for(world, "summit-acumatica", troubled_link)
    fine = file_for(world, "summit-acumatica", fine_link)

    sandbox.fault("procore", status=503, method="PATCH", path_pattern=f"requisitions/{troubled_link['procore_id']}")
    unlink_queue.drain_integration(world.store, integration, "one-record-troubled")  # Procore answers the check
    assert world.outcome(fine) == ("done", "GREEN", SUCCESS)
    assert (world.request(troubled)["status"], world.request(troubled)["attempts"]) == ("pending", 1)

    sandbox.control("DELETE", "procore/faults")
    sandbox.fault("procore", status=503)  # Procore is down: nothing can go on
    world.pause_over(troubled)
    with pytest.raises(unlink_queue.IntegrationUnreachable, match="procore cannot be reached"):
        unlink_queue.drain_integration(world.store, integration, "procore-down")
    assert world.request(troubled)["status"] == "pending"

    sandbox.control("DELETE", "procore/faults")
    world.pause_over(troubled)
    unlink_queue.drain_integration(world.store, integration, "procore-back")
    assert world.outcome(troubled) == ("done", "GREEN", SUCCESS)


def test_refused_credentials_fail_the_task_and_the_request_keeps_its_attempts(world, sandbox, monkeypatch):
    [link] = removed_invoices(world, "summit-acumatica", 1)
    request_id = file_for(world, "summit-acumatica", link)
    wrong_secret = {**sandbox.connections()["procore_test"], "password": "not-the-secret"}
    monkeypatch.setenv("AIRFLOW_CONN_PROCORE_TEST", json.dumps(wrong_secret))

    with pytest.raises(VendorApiError) as refused:
        unlink_queue.drain_integration(world.store, world.integrations["summit-acumatica"], "wrong-secret")

    assert refused.value.status == 401
    row = world.request(request_id)
    assert (row["status"], row["attempts"], row["retry_at"]) == ("pending", 0, None)
    assert row["message"].startswith("Waiting until the integration is reachable again (procore POST")


def test_a_record_deleted_in_procore_after_export_is_unlinked_at_once(world, sandbox):
    gone, kept = removed_invoices(world, "summit-acumatica", 2)
    sandbox.control("DELETE", f"procore/requisitions/{gone['procore_id']}")
    ids = [file_for(world, "summit-acumatica", link) for link in (gone, kept)]

    run = world.run_queue()

    assert run.state == "success"
    assert [world.outcome(request_id) for request_id in ids] == [("done", "GREEN", SUCCESS)] * 2
    assert world.request(ids[0])["attempts"] == 1
    ended = world.link_row(gone["id"])
    assert ended["ended_at"] is not None and ended["ended_reason"] == DELETED_IN_PROCORE
    assert world.link_row(kept["id"])["ended_reason"] == "unlink request"


def test_an_integration_name_is_the_same_however_it_is_padded(world):
    typed_link, form_link = removed_invoices(world, "summit-acumatica", 2)
    typed = file_for(world, " summit-acumatica\t", typed_link)
    filed = run_as(world.form, person(world.sandbox, world.store, 101), integration="  summit-acumatica ",
                   record_type="subcontractor_invoice", procore_id=form_link["procore_id"])
    assert filed.state == "success"

    assert world.run_queue().state == "success"

    with world.store.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT id, integration, status, colour, message FROM unlink_requests "
                                          "ORDER BY id")).all()
    assert [(row.id, row.integration, row.status, row.colour, row.message) for row in rows] == [
        (typed, " summit-acumatica\t", "done", "GREEN", SUCCESS),  # what a request names is kept as typed
        (typed + 1, "summit-acumatica", "done", "GREEN", SUCCESS)]  # the form files the name trimmed

    assert cli(["add-integration", "--name", " quarry-acumatica ", "--procore-conn-id", "procore_test",
                "--procore-company-id", str(DEMO_COMPANY_ID), "--erp-kind", "acumatica",
                "--erp-conn-id", "acumatica_test"]) == 0
    assert "quarry-acumatica" in {row["name"] for row in world.store.integrations()}


def test_whatever_status_a_person_types_is_processed_or_answered(world):
    links = removed_invoices(world, "harbor-quickbooks", 4)
    spelt_otherwise = [file_for(world, "harbor-quickbooks", link, status=status)
                       for link, status in zip(links, ("Pending", " PENDING\n"))]
    never_claimed = file_for(world, "harbor-quickbooks", links[2], status="processing")
    unknown = file_for(world, "harbor-quickbooks", links[3], status="new")

    assert world.run_queue().state == "success"

    for request_id in (*spelt_otherwise, never_claimed):
        assert world.outcome(request_id) == ("done", "GREEN", SUCCESS)
    assert world.outcome(unknown) == (
        "rejected", "RED", "The status 'new' is not one a request is filed with: leave status out (or write pending) "
                           "and the queue decides the request; it sets every other status itself.")
    assert world.link_row(links[3]["id"])["ended_at"] is None
    trail = world.store.rows("audit_trail", entity="unlink_request", entity_id=str(spelt_otherwise[0]))
    assert [entry["action"] for entry in trail] == ["normalised", "done"]


def test_a_requester_of_another_company_is_refused_with_a_sentence(world):
    [summit_link] = removed_invoices(world, "summit-acumatica", 1)
    [harbor_link] = removed_invoices(world, "harbor-quickbooks", 1)
    elsewhere = file_for(world, "summit-acumatica", summit_link, requested_by=HARBOR_ONLY_USER_ID)
    own_company = file_for(world, "harbor-quickbooks", harbor_link, requested_by=HARBOR_ONLY_USER_ID)

    world.run_queue()

    assert world.outcome(elsewhere) == (
        "rejected", "RED", f"Procore user {HARBOR_ONLY_USER_ID} is not in the directory of company {COMPANY_NAMES[DEMO_COMPANY_ID]}; "
                           "only its users can unlink.")
    assert world.link_row(summit_link["id"])["ended_at"] is None
    assert world.outcome(own_company) == ("done", "GREEN", SUCCESS)


# Races: PostgreSQL, parallel workers -------------------------------------------------------------

@pytest.fixture
def pg_world(world):
    if world.store.engine.dialect.name != "postgresql":
        pytest.skip("the races are run on PostgreSQL, where workers really run in parallel")
    return world


def test_four_workers_on_one_queue_process_each_request_exactly_once(pg_world):
    world = pg_world
    integration = world.integrations["summit-acumatica"]
    links = [world.link("summit-acumatica", RecordType.SUBCONTRACTOR_INVOICE, i) for i in range(6)]
    for link in links[:3]:
        world.remove_from_erp("summit-acumatica", link)
    ids = [world.file(integration="summit-acumatica", record_type="subcontractor_invoice",
                      procore_id=link["procore_id"], requested_by=user)
           for user in (105, 101) for link in links]  # refused for permissions first, then asked by an admin

    errors = parallel(*[lambda n=n: unlink_queue.drain_integration(world.store, integration, f"worker-{n}")
                        for n in range(4)])

    assert errors == []
    rows = [world.request(request_id) for request_id in ids]
    assert all(row["attempts"] == 1 and row["status"] in ("done", "rejected") for row in rows)
    finished = [entry for request_id in ids
                for entry in world.store.rows("audit_trail", entity="unlink_request", entity_id=str(request_id))]
    assert len(finished) == len(ids)
    for link in links[:3]:
        assert world.link_row(link["id"])["ended_at"] is not None
    colours = {(row["procore_id"], row["requested_by"]): row["colour"] for row in rows}
    for n, link in enumerate(links):
        assert colours[(link["procore_id"], 105)] == "RED"
        assert colours[(link["procore_id"], 101)] == ("GREEN" if n < 3 else "RED")


def test_two_requests_for_one_record_end_in_one_unlink(pg_world):
    world = pg_world
    integration = world.integrations["harbor-quickbooks"]
    link = world.link("harbor-quickbooks", RecordType.SUBCONTRACTOR_INVOICE)
    world.remove_from_erp("harbor-quickbooks", link)
    ids = [world.file(integration="harbor-quickbooks", record_type="subcontractor_invoice",
                      procore_id=link["procore_id"], requested_by=user) for user in (101, 102)]

    errors = parallel(*[lambda n=n: unlink_queue.drain_integration(world.store, integration, f"worker-{n}")
                        for n in range(2)])

    assert errors == []
    outcomes = sorted(world.outcome(request_id)[1] for request_id in ids)
    assert outcomes == ["GREEN", "RED"]
    trail = world.store.rows("audit_trail", entity="record_link", entity_id=str(link["id"]))
    assert [entry["action"] for entry in trail].count("unlinked") == 1


def test_a_request_racing_the_hourly_sync_ends_consistent(pg_world):
    world = pg_world
    integration = world.integrations["summit-acumatica"]
    link = world.link("summit-acumatica", RecordType.COMMITMENT)
    world.remove_from_erp("summit-acumatica", link)
    request_id = world.file(integration="summit-acumatica", record_type="commitment",
                            procore_id=link["procore_id"], requested_by=101)

    errors = parallel(lambda: unlink_queue.drain_integration(world.store, integration, "queue"),
                      lambda: export_integration(world.store, integration, "sync-racing"))
    export_integration(world.store, integration, "sync-after")

    assert errors == []
    assert world.outcome(request_id) == ("done", "GREEN", SUCCESS)
    active = [row for row in world.store.rows("active_links", integration_id=integration["id"])
              if row["procore_id"] == link["procore_id"]]
    assert len(active) == 1 and active[0]["id"] != link["id"] and active[0]["colour"] == "GREEN"
    assert world.procore_record(link)["origin_id"] == active[0]["erp_ref"]
