"""What the accountant's pages read, on SQLite and PostgreSQL: the work queue (what waits for her, what
failed, what waits for a reference link), whose wait a BLUE record is in, and each decision followed to
its record's end."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from erp_sync.accountant import DecisionReads, QueueCounts, ready_rows, whose_wait, work_queue
from erp_sync.models import ErpKind, RecordType
from erp_sync.page import IntegrationPage
from erp_sync.sync.links import LinkState
from erp_sync.sync.records import ProcoreRecord
from test_acceptance import Desk

NAME = "summit-acumatica"


def set_link(store, link_id: int, **columns) -> None:
    assignments = ", ".join(f"{column} = :{column}" for column in columns)
    with store.engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE record_links SET {assignments} WHERE id = :id"), {"id": link_id, **columns})


def test_the_work_queue_counts_what_waits_for_her_what_failed_and_what_waits_for_a_link(sandbox, store):
    desk = Desk(sandbox, store)
    summit = desk.integrations[NAME]["id"]
    ready = {record_type: [row for row in desk.links(NAME, LinkState.READY) if row["record_type"] == record_type.value]
             for record_type in RecordType}
    failed, unlinked = ready[RecordType.COMMITMENT][0], ready[RecordType.SUBCONTRACTOR_INVOICE][0]
    set_link(store, failed["id"], state=LinkState.FAILED, colour="RED")
    set_link(store, unlinked["id"], reason_code="reference_unlinked")

    queue = work_queue(store)[summit]

    assert queue[RecordType.COMMITMENT] == QueueCounts(len(ready[RecordType.COMMITMENT]) - 1, 1, 0)
    assert queue[RecordType.SUBCONTRACTOR_INVOICE] == QueueCounts(len(ready[RecordType.SUBCONTRACTOR_INVOICE]) - 1,
                                                                  0, 1)
    assert queue[RecordType.COMMITMENT_CHANGE_ORDER] == QueueCounts(len(ready[RecordType.COMMITMENT_CHANGE_ORDER]))
    assert all(counts.waiting_for_acceptance for counts in queue.values())
    assert not QueueCounts()


def test_a_blue_record_says_whose_wait_it_is():
    sage = ErpKind.SAGE_300_CRE
    assert whose_wait(LinkState.READY, None, "Waiting for accounting acceptance", sage) == "Waiting for your acceptance"
    assert whose_wait(LinkState.READY, "reference_unlinked", "…", sage) == "Waiting for a reference link"
    assert whose_wait(LinkState.EXPORTING, None, "Queued for Sage 300 CRE's import; …", sage) == (
        f"Queued for {sage.display_name}'s import")
    assert whose_wait(LinkState.EXPORTING, None, "Sent to Sage; waiting", sage) == (
        f"Waiting for {sage.display_name}'s answer")


def test_a_decision_is_followed_until_its_record_is_green_or_yellow(sandbox, store):
    desk = Desk(sandbox, store)
    accepted, rejected = desk.link(NAME, RecordType.COMMITMENT), desk.link(NAME, RecordType.COMMITMENT, 1)
    ids = [desk.decide(NAME, record_type="commitment", procore_id=accepted["procore_id"], decision="accept",
                       decided_by=101, filed_by="avery", status="pending"),
           desk.decide(NAME, record_type="commitment", procore_id=rejected["procore_id"], decision="reject",
                       reason="Wrong cost code", decided_by=101, filed_by="avery", status="pending")]
    reads = DecisionReads(store, desk.integrations[NAME])

    waiting = reads.of_ids(ids)
    assert [(each.colour, each.open) for each in waiting] == [("BLUE", True), ("BLUE", True)]
    assert set(reads.open_by_record(RecordType.COMMITMENT)) == {accepted["procore_id"], rejected["procore_id"]}

    desk.run(NAME)

    done = reads.of_ids(ids)
    assert [(each.colour, each.open) for each in done] == [("GREEN", False), ("YELLOW", False)]
    exported = desk.link_by_id(accepted["id"])
    assert done[0].message == f"Exported to Acumatica Cloud ERP as {exported['erp_ref']}."
    assert "Wrong cost code" in done[1].message and done[1].number == rejected["procore_number"]
    assert reads.open_by_record(RecordType.COMMITMENT) == {}
    history = reads.history(RecordType.COMMITMENT, 10)
    assert [each.id for each in history] == ids[::-1]
    project = desk.sandbox.sandboxes.procore.projects[accepted["procore_project_id"]]
    assert history[-1].project == f"{project.project_number} {project.name}"  # as the reading of Procore names it


def test_ready_to_export_rows_carry_what_procores_list_shows_and_sort_and_filter(sandbox, store):
    desk = Desk(sandbox, store)
    integration = desk.integrations[NAME]
    projects = IntegrationPage(store, integration).projects

    def rows(record_type: RecordType, **listing):
        links = store.rows("links_in_state", integration_id=integration["id"], state=LinkState.READY,
                           record_type=record_type.value)
        return ready_rows(store, integration, links, projects, **listing)

    commitments, orders = rows(RecordType.COMMITMENT), rows(RecordType.COMMITMENT_CHANGE_ORDER)
    invoices = rows(RecordType.SUBCONTRACTOR_INVOICE, sort="amount", descending=True)

    assert all(row.title and row.vendor and row.amount and not row.project.startswith("Project ")
               for row in commitments)
    by_number = {row.number: row for row in commitments}
    assert all(row.changes.split(" · ")[0] in by_number and row.vendor for row in orders)
    assert [row.amount for row in invoices] == sorted((row.amount for row in invoices), reverse=True)
    assert all(row.period and row.vendor for row in invoices)
    numbers = {project.id: project.project_number for project in sandbox.sandboxes.procore.projects.values()}
    assert {row.project_number for row in commitments} <= set(numbers.values()) and commitments[0].project_number
    assert rows(RecordType.COMMITMENT, search=commitments[0].project_number) == [
        row for row in commitments if row.project_number == commitments[0].project_number]
    invoice = ProcoreRecord.from_snapshot(next(
        link["procore_json"] for link in store.rows("links_in_state", integration_id=integration["id"],
                                                    state=LinkState.READY, record_type="subcontractor_invoice")
        if link["procore_id"] == invoices[0].procore_id)).data
    assert invoices[0].retainage == Decimal(invoice["summary"]["total_retainage"])
    assert any(row.retainage for row in invoices)  # the demo's contracts hold 10% back, but one in four none
    # A summary giving the retainage to date (the G702's total) does not change the row: its lines say this period
    held = next(row for row in invoices if row.retainage)
    summary = ProcoreRecord.from_snapshot(next(
        link["procore_json"] for link in store.rows("links_in_state", integration_id=integration["id"],
                                                    state=LinkState.READY, record_type="subcontractor_invoice")
        if link["procore_id"] == held.procore_id)).data["summary"]
    desk.sandbox.control("PATCH", f"procore/requisitions/{held.procore_id}",
                         json={"summary": {**summary, "total_retainage": f"{held.retainage * 3:.2f}"}})
    desk.sync()
    again = next(row for row in rows(RecordType.SUBCONTRACTOR_INVOICE) if row.procore_id == held.procore_id)
    assert again.retainage == held.retainage
    start, end = date.fromisoformat(invoice["requisition_start"]), date.fromisoformat(invoice["requisition_end"])
    assert invoices[0].period == f"{start:%b} 1–{end.day}, {end.year}"
    vendor = commitments[0].vendor
    assert {row.vendor for row in rows(RecordType.COMMITMENT, search=vendor.upper())} == {vendor}
    assert rows(RecordType.COMMITMENT, search="no such thing") == []


def test_an_api_chart_is_scaled_to_the_calls_with_the_budget_as_a_line():
    from datetime import UTC, datetime, timedelta

    from erp_sync_ui.charts import HEIGHT, calls_against_budget

    hours = [datetime(2026, 12, 6, tzinfo=UTC) + timedelta(hours=index) for index in range(4)]
    chart = str(calls_against_budget("Procore", hours, [10, 40, 20, 0], budget=3600))

    bars = [float(height) for height in re.findall(r'<rect [^>]*height="([\d.]+)"', chart)]
    assert max(bars) > HEIGHT / 2  # the busiest hour fills most of the chart, not 1% of it
    assert "budget 3,600/hour (above this scale)" in chart
    assert "budget 30/hour" in str(calls_against_budget("Procore", hours, [10, 40, 20, 0], budget=30))


def test_money_has_its_currency_and_separators_and_payment_methods_are_words():
    from erp_sync_ui.words import money, payment_method

    assert (money("1919.1"), money(0), money(None)) == ("$1,919.10", "$0.00", "")
    assert (payment_method("credit_card"), payment_method("check")) == ("Credit card", "Check")
