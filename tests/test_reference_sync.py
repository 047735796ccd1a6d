"""Reading both sides' reference data from the sandboxes, suggestions with their reasons, drift, and the
export waiting for links, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from conftest import SAGE_INTEGRATIONS, TEST_INTEGRATIONS, add_test_integrations
from erp_sync.documents.line_map import LineMap
from erp_sync.jobs.hourly_sync import export_integration
from erp_sync.reference.links import confirmed_links, history, link, unlink
from erp_sync.reference.model import ErpItem, ProcoreRef, ReferenceKind
from erp_sync.reference.reading import refresh, suggestions
from seed_links import link_sandbox_references

STAR, GRANITE, ROOFING = "500001", "500002", "500003"
# Procore: 3 projects, 9 vendors, 5 line item types, 7 cost codes (one the ERP lacks), and the first project's 3 sub
# jobs (not read for QuickBooks, which has nothing they map to) with 6 cost codes each; the ERP: 9 vendors, 60 jobs,
# its cost codes (QuickBooks: 6 service items and the retainage item), cost types (Acumatica's 5 account groups) and
# project tasks (3 in each of three jobs, 2 in a fourth, and each job's task marked Default)
PROCORE_ITEMS = {"summit-acumatica": 3 + 9 + 5 + 7 + 3 + 3 * 6, "harbor-quickbooks": 3 + 9 + 5 + 7 + 3 * 6}
ERP_ITEMS = {"summit-acumatica": 9 + 60 + 6 + 5 + 3 * 3 + 2 + 60, "harbor-quickbooks": 9 + 60 + 7}
# What links by itself in a first reading beside the jobs, cost codes and categories: a project's sub jobs 01
# and 02 (its 03-1 is the ERP's 03.1: it waits for a person) and 5 of the 6 cost codes of each of its 3 sub jobs
# (their 01-100 is the ERP's 01.100: it waits too)
SUB_JOB_ITEMS_LINKED = 2 + 3 * 5


# What no link can free until the ERP sets it up: a record of each waits in every company (sandbox/procore_data.py).
CODE_THE_ERP_LACKS_PHRASE = 'cost code 02-410 "Selective Demolition"'
PROJECT_WITHOUT_JOB = 'project 2025-001 "Westgate Parking Structure"'


def cannot_link(message: str) -> bool:
    return CODE_THE_ERP_LACKS_PHRASE in message or PROJECT_WITHOUT_JOB in message


def waiting_for_links(store, integration) -> list[dict]:
    return [row for row in store.rows("active_links", integration_id=integration["id"])
            if row["reason_code"] == "reference_unlinked"]


def remove_jobs(office, *jobs: str) -> None:
    """Take jobs out of a Sage 300 office (all of them when none are named)."""
    table = office.tables["MASTER_JCM_JOB"]
    with office.engine.begin() as connection:
        connection.execute(table.delete().where(table.c.Job.in_(jobs)) if jobs else table.delete())


def suggested(store, integration) -> dict[tuple[str, str], tuple[str | None, str, bool]]:
    with store.transaction() as tx:
        return {(found.ref.kind.value, found.ref.procore_id): (found.item.erp_id if found.item else None, found.reason,
                                                               found.automatic)
                for found in suggestions(tx, integration["id"])}


def procore_vendor(sandbox, vendor_id: str) -> ProcoreRef:
    vendor = sandbox.sandboxes.procore.vendors[int(vendor_id)]
    return ProcoreRef(ReferenceKind.VENDOR, vendor_id, vendor.abbreviated_name, vendor.name)


@pytest.fixture(params=[integration.name for integration in TEST_INTEGRATIONS])
def integration(request, sandbox, store):
    return add_test_integrations(store)[request.param]


def test_reading_keeps_both_sides_and_suggests_vendors_with_the_reason_but_links_none(sandbox, store, integration):
    counts = refresh(store, integration, by="ana")

    assert counts["procore_items"] == PROCORE_ITEMS[integration["name"]]
    assert counts["erp_items"] == ERP_ITEMS[integration["name"]]
    found = suggested(store, integration)
    star_id = found[("vendor", STAR)][0]
    assert star_id is not None and found[("vendor", STAR)][1:] == (
        '"Star Framing, LLC" and "Star Framing" are the same name once case, punctuation and legal suffixes are '
        "ignored", False)
    assert found[("vendor", GRANITE)][0] is None and found[("vendor", GRANITE)][1].startswith("ambiguous: ")
    assert found[("vendor", ROOFING)][0] is None and "is inactive in the ERP" in found[("vendor", ROOFING)][1]
    assert ("vendor", next(str(v.id) for v in sandbox.sandboxes.procore.vendors.values()
                           if v.name == "Foundry Mechanical")) not in found  # in no ERP: nothing is guessed
    assert {kind for kind, _procore_id in confirmed_links(store, integration).items} <= {
        ReferenceKind.PROJECT, ReferenceKind.SUB_JOB, ReferenceKind.COST_CODE,
        ReferenceKind.COST_TYPE}  # vendor names wait for a person


def test_an_exact_job_number_links_by_itself_and_a_delimiter_difference_waits(sandbox, store, sage):
    store.save_integration(SAGE_INTEGRATIONS[0])
    integration = store.integrations()[0]
    projects = sorted((p for p in sandbox.sandboxes.procore.projects.values()
                       if p.company.id == SAGE_INTEGRATIONS[0].procore_company_id), key=lambda p: p.id)
    office = sage.offices["sage300"]  # holds the job of projects[0] under its number
    remove_jobs(office, projects[1].project_number, projects[2].project_number)
    dotted_number = f"{projects[1].project_number[:2]}.{projects[1].project_number[2:]}"  # 2402 as 24.02
    office.insert_raw("MASTER_JCM_JOB", Job=dotted_number, Description="Other", Status="Active")

    counts = refresh(store, integration, by="ana")

    # one job, 5 of the 6 cost codes (01-100 is the ERP's 01.100), 5 categories, the first project's sub jobs
    assert counts["linked_by_code"] == 1 + 5 + 5 + SUB_JOB_ITEMS_LINKED
    linked = confirmed_links(store, integration)
    first = ProcoreRef(ReferenceKind.PROJECT, str(projects[0].id), projects[0].project_number, projects[0].name)
    assert linked.erp_item(first).erp_id == projects[0].project_number
    [started] = history(store, integration, ReferenceKind.PROJECT, first.procore_id)
    assert (started["started_by"], started["reason"]) == (
        "ana", f"matched by code: project {projects[0].project_number} is exactly the ERP's "
               f"{projects[0].project_number}")
    dotted = suggested(store, integration)[("project", str(projects[1].id))]
    assert dotted[2] is False and dotted[1].endswith("once the delimiter is ignored")
    assert ("project", str(projects[2].id)) not in suggested(store, integration)  # a project with no ERP job yet


@pytest.fixture(params=[integration.name for integration in (*TEST_INTEGRATIONS, *SAGE_INTEGRATIONS)])
def any_erp(request, sandbox, store, sage):
    """An integration of each ERP, its sandbox holding the records no link can free as well."""
    sandbox.reset(unlinkable_records=True)
    for integration in (*TEST_INTEGRATIONS, *SAGE_INTEGRATIONS):
        store.save_integration(integration)
    return store.one("integration_by_name", name=request.param)


def company_data(sandbox, integration) -> tuple[list, dict[str, int]]:
    """The company's projects (by id; the one without an ERP job last) and its subcontracts of the vendors
    only the records waiting for reference data name, by vendor name."""
    procore = sandbox.sandboxes.procore
    company = integration["procore_company_id"]
    projects = sorted((p for p in procore.projects.values() if p.company.id == company), key=lambda p: p.id)
    waiting = {row["vendor"]["name"]: row["id"] for row in sandbox.procore_rows("work_order_contracts")
               if row["vendor"]["id"] in (int(STAR), int(GRANITE)) and row["project"]["id"] in {p.id for p in projects}}
    return projects, waiting


def test_each_erp_sandbox_serves_the_mess_and_it_is_suggested_as_the_rules_say(sandbox, store, any_erp):
    """Star Framing, LLC against the ERP's Star Framing is suggested and waits for a person; Granite Masonry, which
    two ERP vendors look like, is never taken; the inactive Summit Roofing is never suggested; 01-100 is suggested
    as the ERP's 01.100 and waits; the cost code the ERP lacks and the project without an ERP job get nothing."""
    from sandbox.procore_lines import CODE_THE_ERP_LACKS, COST_CODES

    counts = refresh(store, any_erp, by="nightly")

    found = suggested(store, any_erp)
    assert found[("vendor", STAR)][0] is not None and found[("vendor", STAR)][1:] == (
        '"Star Framing, LLC" and "Star Framing" are the same name once case, punctuation and legal suffixes are '
        "ignored", False)
    granite, roofing = found[("vendor", GRANITE)], found[("vendor", ROOFING)]
    assert granite[0] is None and granite[1].startswith("ambiguous: ") and granite[1].endswith(
        "both match; choose one with Link")
    assert roofing[0] is None and roofing[1].endswith("is inactive in the ERP; choose another with Link")
    general = found[("cost_code", str(COST_CODES[0].id))]
    assert general[0] is not None and general[1:] == (
        "cost code 01-100 is the ERP's 01.100 once the delimiter is ignored", False)
    projects, _waiting = company_data(sandbox, any_erp)
    *with_jobs, without_job = projects
    assert without_job.project_number == "2025-001"
    assert ("cost_code", str(CODE_THE_ERP_LACKS.id)) not in found and ("project", str(without_job.id)) not in found

    linked = confirmed_links(store, any_erp).items
    assert counts["linked_by_code"] == len(linked)  # only exact codes linked by themselves
    assert {(ReferenceKind.PROJECT, str(p.id)) for p in with_jobs} <= set(linked)  # exact job numbers
    assert not {(ReferenceKind.VENDOR, STAR), (ReferenceKind.VENDOR, GRANITE), (ReferenceKind.VENDOR, ROOFING),
                (ReferenceKind.COST_CODE, str(COST_CODES[0].id)), (ReferenceKind.COST_CODE, str(CODE_THE_ERP_LACKS.id)),
                (ReferenceKind.PROJECT, str(without_job.id))} & set(linked)
    assert all(started["reason"].startswith("matched by code: ")
               for kind, procore_id in linked for started in history(store, any_erp, kind, procore_id))


def test_what_no_link_can_free_waits_with_the_sentence_naming_it(sandbox, store, integration):
    """Everything linkable linked, the sync sends the rest; the subcontract with a line on the cost code the ERP
    lacks and the one in the project without an ERP job wait, each with the sentence naming what to link, run
    after run, and the tab counts the record each blocks."""
    from sandbox.procore_lines import CODE_THE_ERP_LACKS

    from erp_sync.reference.tab import tab_rows

    sandbox.reset(unlinkable_records=True)
    link_sandbox_references(store, sandbox)
    refresh(store, integration, by="nightly")  # the reading names the projects by their numbers
    projects, waiting_ids = company_data(sandbox, integration)
    first, without_job = projects[0], projects[-1]

    for run in ("run-1", "run-2"):
        export_integration(store, integration, run)
        waiting = {row["procore_id"]: row["message"] for row in waiting_for_links(store, integration)}
        assert set(waiting) == set(waiting_ids.values())
        assert waiting[waiting_ids["Star Framing, LLC"]].startswith(
            f'Not exported yet: link {CODE_THE_ERP_LACKS_PHRASE} of project {first.project_number} {first.name} on '
            "the Reference data tab; the next sync exports it.")
        assert waiting[waiting_ids["Granite Masonry"]].startswith(
            f"Not exported yet: link {PROJECT_WITHOUT_JOB} on the Reference data tab; the next sync exports it.")

    code = {row.ref.procore_id: row for row in tab_rows(store, integration, ReferenceKind.COST_CODE)}
    project = {row.ref.procore_id: row for row in tab_rows(store, integration, ReferenceKind.PROJECT)}
    for row in (code[str(CODE_THE_ERP_LACKS.id)], project[str(without_job.id)]):
        assert (row.linked, row.suggestion, row.blocks) == (None, None, 1)


def test_ready_to_export_names_what_a_record_needs_linked_so_nobody_accepts_it(sandbox, store, integration):
    """Ready to Export says what a record needs linked before anyone accepts it: the project on its header,
    a cost code on one of its lines (a waiting commitment's lines are read once per change and kept)."""
    from erp_sync.models import ExportMode

    sandbox.reset(unlinkable_records=True)
    link_sandbox_references(store, sandbox)
    refresh(store, integration, by="nightly")
    store.set_export_mode(integration["name"], ExportMode.ACCEPTANCE, actor="ana")
    integration = next(row for row in store.integrations() if row["name"] == integration["name"])
    _projects, waiting_ids = company_data(sandbox, integration)

    export_integration(store, integration, "run-1")

    ready = {row["procore_id"]: row for row in store.rows("links_in_state", integration_id=integration["id"],
                                                           state="ready", record_type="commitment")}
    jobless = ready[waiting_ids["Granite Masonry"]]
    assert (jobless["reason_code"], jobless["colour"]) == ("reference_unlinked", "BLUE")
    assert jobless["message"].startswith(f"Not exported yet: link {PROJECT_WITHOUT_JOB} on the Reference data tab")
    on_a_line = ready[waiting_ids["Star Framing, LLC"]]  # its lines are read once, while it waits, and kept
    assert on_a_line["message"].startswith(f"Not exported yet: link {CODE_THE_ERP_LACKS_PHRASE} of project ")
    assert LineMap(store).of_link(on_a_line["id"])

    reads = export_integration(store, integration, "run-2")["counts"]  # nothing changed in Procore
    assert reads.get("procore_line_reads", 0) == 0
    assert store.rows("links_in_state", integration_id=integration["id"], state="ready",
                      record_type="commitment") == list(ready.values())


def test_sage_100s_numbered_cost_types_are_suggested_by_name_and_wait_for_a_person(sandbox, store, sage):
    store.save_integration(SAGE_INTEGRATIONS[1])
    integration = store.integrations()[0]

    refresh(store, integration, by="ana")

    cost_types = {procore_id: found for (kind, procore_id), found in suggested(store, integration).items()
                  if kind == "cost_type"}
    assert {found[0] for found in cost_types.values()} == {"1", "2", "3", "4", "5"}  # L M S E O to Sage's 1-5
    assert not any(automatic for _erp, _reason, automatic in cost_types.values())
    assert ReferenceKind.COST_TYPE not in {kind for kind, _id in confirmed_links(store, integration).items}


def test_drift_ends_the_link_with_the_reason_and_the_records_wait_again(sandbox, store):
    sandbox.reset(unlinkable_records=True)
    integration = add_test_integrations(store)["summit-acumatica"]
    link_sandbox_references(store, sandbox)
    refresh(store, integration, by="ana")
    apex = next(v for v in sandbox.sandboxes.procore.vendors.values() if v.name == "Apex Concrete")
    star = procore_vendor(sandbox, STAR)
    link(store, integration, star, ErpItem(ReferenceKind.VENDOR, "STARFRM", "STARFRM", "Star Framing"), by="ana")
    export_integration(store, integration, "run-1")
    waiting = waiting_for_links(store, integration)
    assert len(waiting) == 2 and all(cannot_link(row["message"]) for row in waiting)

    sandbox.control("PATCH", "acumatica/Vendor/APEXCON", json={"Status": "Inactive"})
    sandbox.control("DELETE", "acumatica/Vendor/STARFRM")
    with sandbox.sandboxes.procore.lock:
        del sandbox.sandboxes.procore.vendors[int(STAR)]
    counts = refresh(store, integration, by="nightly")

    assert counts["links_ended_by_drift"] == 2
    [apex_link] = history(store, integration, ReferenceKind.VENDOR, str(apex.id))[-1:]
    assert (apex_link["ended_by"], apex_link["ended_reason"]) == ("nightly", "ERP vendor APEXCON is inactive in the ERP")
    assert history(store, integration, ReferenceKind.VENDOR, STAR)[-1]["ended_reason"] == (
        "the vendor was deleted in Procore")
    assert confirmed_links(store, integration).erp_item(procore_vendor(sandbox, str(apex.id))) is None


def test_an_erp_vendor_deleted_ends_its_link(sandbox, store):
    integration = add_test_integrations(store)["summit-acumatica"]
    star = procore_vendor(sandbox, STAR)
    link(store, integration, star, ErpItem(ReferenceKind.VENDOR, "STARFRM", "STARFRM", "Star Framing"), by="ana")
    sandbox.control("DELETE", "acumatica/Vendor/STARFRM")

    refresh(store, integration, by="nightly")

    assert history(store, integration, ReferenceKind.VENDOR, STAR)[-1]["ended_reason"] == (
        "ERP vendor STARFRM was deleted in the ERP")


def test_the_cli_refreshes_lists_links_and_unlinks_audited_with_the_os_user(sandbox, tmp_path, capsys):
    import getpass

    from erp_sync.__main__ import main
    from erp_sync.store import Store

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    store = Store.from_url(url)
    store.upgrade()
    add_test_integrations(store)
    cli = ["--db-url", url, "reference"]
    summit = ["--integration", "summit-acumatica"]
    capsys.readouterr()

    assert main([*cli, "refresh", *summit, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["refreshed"]["erp_items"] == ERP_ITEMS["summit-acumatica"]
    assert main([*cli, "list", *summit, "--kind", "sub_job"]) == 0
    sub_jobs = capsys.readouterr().out.splitlines()
    assert len(sub_jobs) == 3 and all(line.startswith("sub_job ") for line in sub_jobs)
    assert any('01         Podium                           linked to 01 "Podium" (matched by code: ' in line
               for line in sub_jobs)
    assert any("03-1       Parking Deck                     suggested 2401/03.1: sub job 03-1 is the ERP's 03.1 once "
               "the delimiter is ignored" in line for line in sub_jobs)
    assert main([*cli, "list", *summit, "--kind", "vendor"]) == 0
    listed = capsys.readouterr().out
    assert 'Star Framing, LLC                suggested STARFRM: "Star Framing, LLC" and "Star Framing"' in listed
    assert "Granite Masonry                  ambiguous: GRANITE" in listed

    assert main([*cli, "link", *summit, "--kind", "vendor", "--procore-id", STAR]) == 0
    assert main([*cli, "link", *summit, "--kind", "vendor", "--procore-id", ROOFING, "--erp-id", "SUMROOF"]) == 2
    assert capsys.readouterr().err.strip() == (
        'ERP vendor SUMROOF "Summit Roofing" is inactive in the ERP; choose an active one.')
    assert main([*cli, "link", *summit, "--kind", "vendor", "--procore-id", GRANITE, "--erp-id", "GRANITEINC"]) == 0
    assert capsys.readouterr().out == "linked: 1\n"
    assert main([*cli, "list", *summit, "--kind", "vendor", "--json"]) == 0
    items = {item["procore_id"]: item for item in json.loads(capsys.readouterr().out)["items"]}
    assert items[STAR]["linked"]["erp_id"] == "STARFRM" and items[STAR]["link_reason"].startswith(
        "suggestion confirmed: ")
    assert (items[GRANITE]["linked"]["erp_id"], items[GRANITE]["link_reason"]) == ("GRANITEINC", "linked by hand")
    assert items[STAR]["linked_by"] == f"cli:{getpass.getuser()}"

    assert main([*cli, "unlink", *summit, "--kind", "vendor", "--procore-id", STAR]) == 0
    assert history(store, store.one("integration_by_name", name="summit-acumatica"), ReferenceKind.VENDOR, STAR)[-1]["ended_by"] == (
        f"cli:{getpass.getuser()}")
    assert main([*cli, "list", "--integration", "nope"]) == 2
    assert "There is no integration named 'nope'" in capsys.readouterr().err


def test_the_sync_reads_everything_once_a_day_and_what_changed_at_every_other_run(sandbox, store):
    integration = add_test_integrations(store)["summit-acumatica"]

    first = export_integration(store, integration, "run-1")["counts"]
    second = export_integration(store, integration, "run-2")["counts"]

    assert first["reference_read_in_full"] == 1
    assert (first["reference_procore_items"], first["reference_erp_items"]) == (PROCORE_ITEMS["summit-acumatica"],
                                                                                ERP_ITEMS["summit-acumatica"])
    assert second["reference_read_changes"] == 1 and "reference_read_in_full" not in second
    assert "reference_procore_deleted" not in second and "reference_erp_deleted" not in second
    assert second["reference_procore_items"] == 0  # nothing changed in Procore
    assert second["waiting_reference_unlinked"] > 0  # vendor names wait for a person


def test_a_spent_share_leaves_the_reference_reading_for_later(sandbox, store, monkeypatch):
    from erp_connectors.base import BudgetSpent
    from erp_sync.reference import reading

    integration = add_test_integrations(store)["summit-acumatica"]

    def spent(*_args, **_kwargs):
        raise BudgetSpent("the sync's share of Procore's rate window is spent")

    with monkeypatch.context() as patched:
        patched.setattr(reading, "read_procore", spent)
        counts = export_integration(store, integration, "run-1")["counts"]
    assert counts["reference_left_for_later"] == 1
    assert store.rows("erp_reference_items_of", integration_id=integration["id"]) == []
    assert export_integration(store, integration, "run-2")["counts"]["reference_erp_items"] == (
        ERP_ITEMS["summit-acumatica"])


# Reading what changed ------------------------------------------------------------------------------------

def erp_sets_up_cost_code(sandbox, integration, code: str, name: str) -> None:
    """The ERP's accountant adds a cost code (QuickBooks Online: a service item), as its own screens would."""
    if integration["erp_kind"] == "acumatica":
        acumatica = sandbox.sandboxes.acumatica
        with acumatica.lock:
            acumatica.insert("CostCode", {"CostCodeID": code, "Description": name})
    else:
        quickbooks = sandbox.sandboxes.quickbooks
        with quickbooks.lock:
            quickbooks.save("Item", {"Name": code, "Description": name, "Type": "Service", "Active": True})


def procore_edits_vendor(sandbox, vendor_id: str, **changes) -> None:
    """A Procore user edits a company vendor: its ``updated_at`` moves."""
    from sandbox.procore_data import now

    procore = sandbox.sandboxes.procore
    with procore.lock:
        vendor = procore.vendors[int(vendor_id)]
        procore.vendors[vendor.id] = vendor.model_copy(update={**changes, "updated_at": now()})


def reference_item(store, integration, kind: ReferenceKind, procore_id: str) -> dict | None:
    return store.one("procore_reference_item", integration_id=integration["id"], kind=kind.value,
                     procore_id=procore_id)


def waiting_record(store, integration, procore_id: int) -> dict:
    return next(row for row in store.rows("active_links", integration_id=integration["id"])
                if row["procore_id"] == procore_id)


def test_a_cost_code_the_erp_sets_up_links_by_code_at_the_next_run_and_its_record_goes_out(
        sandbox, store, integration):
    from sandbox.procore_lines import CODE_THE_ERP_LACKS

    sandbox.reset(unlinkable_records=True)
    link_sandbox_references(store, sandbox)
    refresh(store, integration, by="nightly")
    _projects, waiting_ids = company_data(sandbox, integration)
    star_subcontract = waiting_ids["Star Framing, LLC"]
    export_integration(store, integration, "run-1")
    assert CODE_THE_ERP_LACKS_PHRASE in waiting_record(store, integration, star_subcontract)["message"]

    erp_sets_up_cost_code(sandbox, integration, CODE_THE_ERP_LACKS.full_code, CODE_THE_ERP_LACKS.name)
    read = export_integration(store, integration, "run-2")["counts"]
    assert (read["reference_read_changes"], read["reference_linked_by_code"]) == (1, 1)
    [started] = history(store, integration, ReferenceKind.COST_CODE, str(CODE_THE_ERP_LACKS.id))
    assert (started["started_by"], started["reason"]) == (
        "hourly_export:run-2", "matched by code: cost code 02-410 is exactly the ERP's 02-410")

    export_integration(store, integration, "run-3")
    assert waiting_record(store, integration, star_subcontract)["colour"] == "GREEN"
    still = waiting_for_links(store, integration)
    assert len(still) == 1 and PROJECT_WITHOUT_JOB in still[0]["message"]


def test_a_cost_code_procore_added_since_the_full_reading_is_read_for_the_waiting_record_naming_it(
        sandbox, store, monkeypatch):
    """Procore's team adds a cost code after the day's reading and a record's line takes it: the next run reads
    that project's cost codes, and only that project's."""
    from sandbox.procore_lines import CODE_THE_ERP_LACKS, COST_CODES

    sandbox.reset(unlinkable_records=True)
    integration = add_test_integrations(store)["summit-acumatica"]
    link_sandbox_references(store, sandbox)
    with monkeypatch.context() as before_it_was_added:
        before_it_was_added.setattr("sandbox.procore_data.PROCORE_COST_CODES", COST_CODES)
        refresh(store, integration, by="nightly")
    assert reference_item(store, integration, ReferenceKind.COST_CODE, str(CODE_THE_ERP_LACKS.id)) is None
    projects, waiting_ids = company_data(sandbox, integration)
    erp_sets_up_cost_code(sandbox, integration, CODE_THE_ERP_LACKS.full_code, CODE_THE_ERP_LACKS.name)

    before = sandbox.control("GET", "procore/calls").json()
    export_integration(store, integration, "run-1")  # keeps the waiting record's lines, then reads what changed
    spent = Counter(sandbox.control("GET", "procore/calls").json())
    spent.subtract(before)

    assert spent["GET /procore/rest/v1.0/cost_codes"] == 1  # the first project's, where the record is
    code = reference_item(store, integration, ReferenceKind.COST_CODE, str(CODE_THE_ERP_LACKS.id))
    assert code is not None and code["project_id"] == projects[0].id
    assert history(store, integration, ReferenceKind.COST_CODE, str(CODE_THE_ERP_LACKS.id))[0]["reason"].startswith(
        "matched by code: ")
    export_integration(store, integration, "run-2")
    assert waiting_record(store, integration, waiting_ids["Star Framing, LLC"])["colour"] == "GREEN"


def erp_makes_vendor_inactive(sandbox, integration, name: str) -> None:
    if integration["erp_kind"] == "acumatica":
        vendor = next(row for row in sandbox.erp_rows("acumatica", "Vendor") if row["VendorName"]["value"] == name)
        sandbox.control("PATCH", f"acumatica/Vendor/{vendor['VendorID']['value']}", json={"Status": "Inactive"})
        return
    quickbooks = sandbox.sandboxes.quickbooks
    with quickbooks.lock:
        vendor = next(row for row in quickbooks.objects["Vendor"].values() if row["DisplayName"] == name)
        quickbooks.save("Vendor", {**vendor, "Active": False})


def test_a_vendor_renamed_in_procore_or_made_inactive_in_the_erp_is_seen_at_the_next_run(sandbox, store, integration):
    link_sandbox_references(store, sandbox)
    refresh(store, integration, by="nightly")
    apex = next(v for v in sandbox.sandboxes.procore.vendors.values() if v.name == "Apex Concrete")
    procore_edits_vendor(sandbox, STAR, name="Star Framing & Drywall, LLC")
    erp_makes_vendor_inactive(sandbox, integration, "Apex Concrete")

    counts = export_integration(store, integration, "run-1")["counts"]

    assert counts["reference_read_changes"] == 1 and counts["reference_procore_items"] == 1
    assert reference_item(store, integration, ReferenceKind.VENDOR, STAR)["name"] == "Star Framing & Drywall, LLC"
    assert counts["reference_links_ended_by_drift"] == 1
    [ended] = history(store, integration, ReferenceKind.VENDOR, str(apex.id))
    assert ended["ended_by"] == "hourly_export:run-1" and ended["ended_reason"].endswith("is inactive in the ERP")


def test_what_a_side_deleted_is_marked_deleted_by_the_days_full_reading_only(sandbox, store):
    from datetime import timedelta

    from erp_sync.reference.reading import WATERMARK
    from erp_sync.store import utcnow

    integration = add_test_integrations(store)["summit-acumatica"]
    link_sandbox_references(store, sandbox)
    refresh(store, integration, by="nightly")
    star = procore_vendor(sandbox, STAR)
    link(store, integration, star, ErpItem(ReferenceKind.VENDOR, "STARFRM", "STARFRM", "Star Framing"), by="ana")
    apex = next(v for v in sandbox.sandboxes.procore.vendors.values() if v.name == "Apex Concrete")
    with sandbox.sandboxes.procore.lock:
        del sandbox.sandboxes.procore.vendors[int(STAR)]
    sandbox.control("DELETE", "acumatica/Vendor/APEXCON")

    hourly = export_integration(store, integration, "run-1")["counts"]
    assert hourly["reference_read_changes"] == 1 and "reference_links_ended_by_drift" not in hourly
    assert reference_item(store, integration, ReferenceKind.VENDOR, STAR) is not None
    linked = confirmed_links(store, integration)
    assert linked.erp_item(star).erp_id == "STARFRM"
    assert linked.erp_item(procore_vendor(sandbox, str(apex.id))).erp_id == "APEXCON"

    store.set_watermark(integration["id"], WATERMARK, (utcnow() - timedelta(hours=25)).isoformat())
    daily = export_integration(store, integration, "run-2")["counts"]

    assert daily["reference_read_in_full"] == 1
    assert (daily["reference_procore_deleted"], daily["reference_erp_deleted"]) == (1, 1)
    assert reference_item(store, integration, ReferenceKind.VENDOR, STAR) is None
    assert history(store, integration, ReferenceKind.VENDOR, STAR)[-1]["ended_reason"] == (
        "the vendor was deleted in Procore")
    assert history(store, integration, ReferenceKind.VENDOR, str(apex.id))[-1]["ended_reason"] == (
        "ERP vendor APEXCON was deleted in the ERP")


def test_a_spent_share_leaves_the_changes_watermark_where_it_was_and_the_next_run_reads_them(
        sandbox, store, monkeypatch):
    from erp_connectors.base import BudgetSpent
    from erp_sync.reference import reading

    integration = add_test_integrations(store)["summit-acumatica"]
    refresh(store, integration, by="nightly")
    read_at = store.watermark(integration["id"], reading.CHANGES_WATERMARK)
    procore_edits_vendor(sandbox, STAR, name="Star Framing & Drywall, LLC")

    def spent(*_args, **_kwargs):
        raise BudgetSpent("the sync's share of Procore's rate window is spent")

    with monkeypatch.context() as patched:
        patched.setattr(reading, "read_procore", spent)
        assert export_integration(store, integration, "run-1")["counts"]["reference_left_for_later"] == 1
    assert store.watermark(integration["id"], reading.CHANGES_WATERMARK) == read_at
    assert reference_item(store, integration, ReferenceKind.VENDOR, STAR)["name"] == "Star Framing, LLC"

    assert export_integration(store, integration, "run-2")["counts"]["reference_read_changes"] == 1
    assert store.watermark(integration["id"], reading.CHANGES_WATERMARK) > read_at
    assert reference_item(store, integration, ReferenceKind.VENDOR, STAR)["name"] == "Star Framing & Drywall, LLC"


# What an unchanged hour costs: Procore's vendor list (the project list the sync reads anyway is reused) and one
# list a kind of the ERP's, each asking for what changed; no project's cost codes.
QUIET_HOUR_READS = {
    "summit-acumatica": ("acumatica", {"Vendor", "Project", "CostCode", "AccountGroup", "ProjectTask"}),
    "harbor-quickbooks": ("quickbooks", {"query"}),
}
PROCORE_REFERENCE_LISTS = ("vendors", "cost_codes", "sub_jobs", "line_item_types", "companies")


def note_what_is_asked(monkeypatch) -> list[tuple[str, dict]]:
    """Every call any vendor hook makes from now on: its endpoint and query parameters."""
    from erp_connectors.base import VendorHook

    asked: list[tuple[str, dict]] = []
    send = VendorHook.request

    def noted(hook, method, endpoint, *, params=None, **kwargs):
        asked.append((endpoint, dict(params or {})))
        return send(hook, method, endpoint, params=params, **kwargs)

    monkeypatch.setattr(VendorHook, "request", noted)
    return asked


def test_an_unchanged_hour_reads_the_vendor_list_and_each_erp_list_for_what_changed_only(
        sandbox, store, integration, monkeypatch):
    link_sandbox_references(store, sandbox)
    refresh(store, integration, by="nightly")
    export_integration(store, integration, "run-1")
    asked = note_what_is_asked(monkeypatch)
    counts = export_integration(store, integration, "run-2")["counts"]

    assert counts["reference_read_changes"] == 1
    procore = [(path, params) for path, params in asked
               if any(path.endswith(f"/{name}") for name in PROCORE_REFERENCE_LISTS)]
    assert [path.rsplit("/", 1)[1] for path, _params in procore] == ["vendors"]
    assert "filters[updated_at]" in procore[0][1]
    vendor, entities = QUIET_HOUR_READS[integration["name"]]
    erp = [(path, params) for path, params in asked if path.rsplit("/", 1)[-1] in entities]
    if vendor == "acumatica":
        assert sorted(path.rsplit("/", 1)[1] for path, _params in erp) == sorted(entities)
        assert all(params["$filter"].startswith("LastModifiedDateTime gt datetimeoffset'") for _path, params in erp)
    else:
        reference = [params["query"] for _path, params in erp if "MetaData.LastUpdatedTime" in params["query"]
                     and " FROM BillPayment " not in params["query"]]
        assert len(reference) == 3 and all(" Active IN (true, false) AND MetaData.LastUpdatedTime > '" in query
                                           for query in reference)


def test_ready_to_export_says_what_is_unlinked_until_it_is_linked(sandbox, store):
    from erp_sync.models import ExportMode
    from erp_sync.sync.links import WAITING_FOR_ACCEPTANCE

    store.save_integration(TEST_INTEGRATIONS[0].model_copy(update={"export_mode": ExportMode.ACCEPTANCE}))
    integration = store.one("integration_by_name", name=TEST_INTEGRATIONS[0].name)
    export_integration(store, integration, "run-1")
    ready = [row for row in store.rows("active_links", integration_id=integration["id"]) if row["state"] == "ready"]
    apex = [row for row in ready if '"Apex Concrete"' in (row["message"] or "")]
    assert apex and all(row["reason_code"] == "reference_unlinked" and row["message"].startswith(
        'Not exported yet: link vendor "Apex Concrete"') for row in apex)

    link_sandbox_references(store, sandbox)
    export_integration(store, integration, "run-2")  # nothing changed in Procore
    again = {row["id"]: row for row in store.rows("active_links", integration_id=integration["id"])}
    assert {(again[row["id"]]["state"], again[row["id"]]["message"]) for row in apex} == {
        ("ready", WAITING_FOR_ACCEPTANCE)}


def sage300_and_its_first_project(sandbox, store) -> tuple[dict, ProcoreRef]:
    store.save_integration(SAGE_INTEGRATIONS[0])
    project = next(p for p in sandbox.sandboxes.procore.projects.values()
                   if p.company.id == SAGE_INTEGRATIONS[0].procore_company_id)
    return store.integrations()[0], ProcoreRef(ReferenceKind.PROJECT, str(project.id), project.project_number,
                                               project.name)


def test_an_erp_that_lists_none_of_a_kind_ends_no_link_but_one_that_lost_an_item_does(sandbox, store, sage):
    integration, ref = sage300_and_its_first_project(sandbox, store)
    link(store, integration, ref, ErpItem(ReferenceKind.PROJECT, "J-1", "J-1", "Job one"), by="ana")
    remove_jobs(sage.offices["sage300"])
    refresh(store, integration, by="nightly")  # the office keeps no jobs at all yet
    assert confirmed_links(store, integration).erp_item(ref).erp_id == "J-1"

    sage.offices["sage300"].insert_raw("MASTER_JCM_JOB", Job="J-2", Description="Job two", Status="Active")
    refresh(store, integration, by="nightly")
    assert confirmed_links(store, integration).erp_item(ref) is None
    assert history(store, integration, ReferenceKind.PROJECT, ref.procore_id)[-1]["ended_reason"] == (
        "ERP project J-1 was deleted in the ERP")


def test_an_exact_code_a_person_unlinked_is_not_linked_again_by_itself(sandbox, store, sage):
    integration, ref = sage300_and_its_first_project(sandbox, store)
    assert refresh(store, integration, by="nightly")["linked_by_code"] == 3 + 5 + 5 + SUB_JOB_ITEMS_LINKED
    unlink(store, integration, ReferenceKind.PROJECT, ref.procore_id, by="ana")

    assert refresh(store, integration, by="nightly")["linked_by_code"] == 0
    assert confirmed_links(store, integration).erp_item(ref) is None
    assert suggested(store, integration)[("project", ref.procore_id)][0] == ref.code  # for a person


def coded_lines(sandbox, vendor: str) -> list[dict]:
    """The lines of every subcontract and bill in the ERP sandbox (Acumatica) or bill and purchase order
    (QuickBooks)."""
    if vendor == "acumatica":
        return [line for entity in ("Subcontract", "Bill") for row in sandbox.erp_rows("acumatica", entity)
                for line in row.get("Details", [])]
    return [line for entity in ("PurchaseOrder", "Bill") for row in sandbox.erp_rows("quickbooks", entity)
            for line in row.get("Line", []) if "ItemBasedExpenseLineDetail" in line]


def test_without_seeded_links_records_wait_until_the_accountant_confirms_then_go_out_coded(sandbox, store):
    """The whole path the demo takes: the first export reads both sides, exact job numbers, cost codes and
    cost types link by themselves, the records wait for their vendors (their lines are read once those are
    linked); the accountant confirms the suggestions, General Conditions' 01-100 as the ERP's 01.100 among them,
    links the ambiguous vendor by search, and the next export sends commitments and invoices with coded lines.
    What no link can free yet (the cost code the ERP lacks, the project without a job) waits."""
    from sandbox.common import ERP_COST_CODES
    from sandbox.procore_lines import COST_CODES, COST_TYPES

    from erp_sync.reference.tab import confirm_all, erp_choices, link_chosen

    sandbox.reset(unlinkable_records=True)
    erp_codes = {code.full_code for code in ERP_COST_CODES}
    for name, integration in add_test_integrations(store).items():
        first = export_integration(store, integration, "run-1")["counts"]
        assert first["reference_linked_by_code"] > 0
        waiting = waiting_for_links(store, integration)
        assert waiting and all(row["message"].startswith('Not exported yet: link vendor "') for row in waiting)
        assert not any("cost type" in row["message"] for row in waiting)

        assert sum(confirm_all(store, integration, kind, by="avery") for kind in ReferenceKind) > 0
        [granite_inc] = [item for item in erp_choices(store, integration, ReferenceKind.VENDOR, "Granite Masonry")
                         if item.name == "Granite Masonry, Inc."]  # the ambiguous one, chosen by search
        assert link_chosen(store, integration, ReferenceKind.VENDOR, GRANITE, granite_inc.erp_id, by="avery")
        export_integration(store, integration, "run-2")

        rows = store.rows("active_links", integration_id=integration["id"])
        exported = [row for row in rows if row["colour"] == "GREEN"]
        assert {row["record_type"] for row in exported} >= {"commitment", "subcontractor_invoice"}, name
        still = waiting_for_links(store, integration)
        assert len(still) == 2 and all(cannot_link(row["message"]) for row in still)
        general, concrete = COST_CODES[0], COST_CODES[1]
        [confirmed] = history(store, integration, ReferenceKind.COST_CODE, str(general.id))
        assert (confirmed["started_by"], confirmed["reason"]) == (
            "avery", "suggestion confirmed: cost code 01-100 is the ERP's 01.100 once the delimiter is ignored")
        [started] = history(store, integration, ReferenceKind.COST_CODE, str(concrete.id))
        assert started["reason"] == (f"matched by code: cost code {concrete.full_code} is exactly the ERP's "
                                     f"{concrete.full_code}")
        if name == "summit-acumatica":
            kind = COST_TYPES[2]
            [started] = history(store, integration, ReferenceKind.COST_TYPE, str(kind.id))
            assert started["reason"] == f"matched by code: cost type {kind.code} is exactly the ERP's {kind.code}"
            lines = coded_lines(sandbox, "acumatica")
            assert lines and all(line["CostCode"]["value"] in erp_codes and line["Account"]["value"] == "50000"
                                 for line in lines)
        else:
            items = {item["Id"]: item["Name"] for item in sandbox.erp_rows("quickbooks", "Item")}
            lines = coded_lines(sandbox, "quickbooks")
            assert lines and all(items[line["ItemBasedExpenseLineDetail"]["ItemRef"]["value"]] in
                                 erp_codes | {"Retainage"} for line in lines)


# Sub jobs ------------------------------------------------------------------------------------------------

def project_numbered(sandbox, number: str):
    return next(p for p in sandbox.sandboxes.procore.projects.values() if p.project_number == number)


def sub_job_refs(sandbox, number: str) -> list[ProcoreRef]:
    project = project_numbered(sandbox, number)
    return [ProcoreRef(ReferenceKind.SUB_JOB, str(job.id), job.code, job.name, project.id)
            for job in sandbox.sandboxes.procore.sub_jobs[project.id]]


def test_sub_jobs_link_by_exact_code_within_their_projects_job_and_a_delimiter_difference_waits(sandbox, store):
    from erp_sync.reference.links import ReferenceRefused
    from erp_sync.reference.tab import confirm, link_chosen, tab_rows

    integration = add_test_integrations(store)["summit-acumatica"]
    podium, tower, deck = sub_job_refs(sandbox, "2401")

    refresh(store, integration, by="nightly")

    linked = confirmed_links(store, integration)  # 01 is a task of jobs 2401, 2404 and 2407: the project's job's
    assert (linked.erp_item(podium), linked.erp_item(tower)) == (
        ErpItem.sub_job("2401", "01", "Podium"), ErpItem.sub_job("2401", "02", "Tower"))
    [started] = history(store, integration, ReferenceKind.SUB_JOB, podium.procore_id)
    assert (started["started_by"], started["reason"]) == ("nightly", "matched by code: sub job 01 is exactly the ERP's 01")
    assert linked.erp_item(deck) is None
    assert suggested(store, integration)[("sub_job", deck.procore_id)] == (
        "2401/03.1", "sub job 03-1 is the ERP's 03.1 once the delimiter is ignored", False)
    with pytest.raises(ReferenceRefused, match="is of ERP job 2404, but the project of sub job 03-1 \"Parking Deck\" "
                                               "is linked to ERP job 2401"):
        link_chosen(store, integration, ReferenceKind.SUB_JOB, deck.procore_id, "2404/03.1", by="ana")
    rows = {row.ref.procore_id: row for row in tab_rows(store, integration, ReferenceKind.SUB_JOB)}
    assert rows[deck.procore_id].suggestion.item.erp_id == "2401/03.1" and rows[podium.procore_id].linked

    assert confirm(store, integration, ReferenceKind.SUB_JOB, deck.procore_id, by="ana")
    assert confirmed_links(store, integration).erp_item(deck).code == "03.1"
    # a sub job's own cost codes link to the ERP's cost codes, beside the project's own of the same code
    codes = [row for row in tab_rows(store, integration, ReferenceKind.COST_CODE) if row.ref.code == "03-300"]
    assert len(codes) == 1 + 3 and all(row.linked and row.linked.erp_id == "03-300" for row in codes)


def test_an_erp_without_sub_jobs_reads_none_and_its_lines_go_without(sandbox, store):
    integration = add_test_integrations(store)["harbor-quickbooks"]
    counts = refresh(store, integration, by="nightly")

    assert counts["procore_items"] == PROCORE_ITEMS["harbor-quickbooks"]  # no call for sub jobs at all
    assert store.rows("reference_tab_rows", integration_id=integration["id"], kind="sub_job") == []


def test_a_deleted_erp_task_ends_the_link_and_the_record_in_it_waits_naming_the_sub_job(sandbox, store):
    integration = add_test_integrations(store)["summit-acumatica"]
    link_sandbox_references(store, sandbox)
    refresh(store, integration, by="nightly")
    export_integration(store, integration, "run-1")
    _podium, tower, _deck = sub_job_refs(sandbox, "2401")
    project = project_numbered(sandbox, "2401")
    contract = next(row for row in sandbox.procore_rows("work_order_contracts")
                    if row["project"]["id"] == project.id and row["number"] == "SC-002")
    lines = sandbox.procore_lines("work_order_contracts", contract["id"])
    assert {line["cost_code"]["biller_id"] for line in lines} == {int(tower.procore_id)}
    exported = next(row for row in store.rows("active_links", integration_id=integration["id"])
                    if row["procore_id"] == contract["id"])
    assert exported["colour"] == "GREEN"

    sandbox.control("DELETE", "acumatica/ProjectTask/2401/02")
    counts = refresh(store, integration, by="nightly")
    lines[0]["amount"] = f"{float(lines[0]['amount']) + 100:.2f}"
    sandbox.control("PUT", f"procore/work_order_contracts/{contract['id']}/lines", json=lines)
    export_integration(store, integration, "run-2")

    assert counts["links_ended_by_drift"] == 1
    assert history(store, integration, ReferenceKind.SUB_JOB, tower.procore_id)[-1]["ended_reason"] == (
        "ERP sub job 02 was deleted in the ERP")
    waiting = next(row for row in store.rows("active_links", integration_id=integration["id"])
                   if row["procore_id"] == contract["id"])
    assert (waiting["colour"], waiting["reason_code"]) == ("BLUE", "reference_unlinked")
    assert waiting["message"].startswith(
        'Not exported yet: link sub job 02 "Tower" of project 2401 Harbor Point Tower on the Reference data tab; '
        "the next sync exports it.")


# The filters against the vendors' published references ----------------------------------------------------

def test_procore_is_asked_for_what_changed_only_on_the_lists_its_reference_gives_the_filter(
        sandbox, store, monkeypatch):
    """``sandbox/contracts/procore_rest_v1.json`` lists ``filters[updated_at]`` for the projects and the vendors,
    not for cost codes, sub jobs or line item types: a reading of what changed filters the first and reads the
    others whole (and only where it must)."""
    import re
    from datetime import timedelta
    from pathlib import Path

    from erp_sync.budget import Work
    from erp_sync.connectors import erp_adapter, procore_hook
    from erp_sync.reference.reading import CHANGED_IN, Reading, refresh_reference
    from erp_sync.store import utcnow

    resources = json.loads((Path(__file__).resolve().parents[1] / "sandbox/contracts/procore_rest_v1.json")
                           .read_text())["resources"]
    takes = [(re.compile(re.sub(r"\{[^}]+\}", r"\\d+", path) + "$"), set(resource.get("query", [])))
             for resource in resources.values() for path in resource["paths"]]
    integration = add_test_integrations(store)["summit-acumatica"]
    first = project_numbered(sandbox, "2401")  # with sub jobs: every list Procore has is read
    asked = note_what_is_asked(monkeypatch)
    procore, adapter = procore_hook(integration, store, Work.SYNC), erp_adapter(integration, store)
    now = utcnow()
    with procore, adapter.hook:
        refresh_reference(store, integration, procore, adapter, "ana",
                          Reading(now, now - timedelta(hours=1), frozenset({first.id}), cost_types=True))

    lists = {re.sub(r"\d+", "{}", path.rsplit("rest/v1.0/", 1)[-1]): params for path, params in asked
             if "rest/v1.0/" in path and not path.endswith("/oauth/token")}
    assert set(lists) == {"projects", "vendors", "cost_codes", "sub_jobs", "companies/{}/line_item_types"}
    assert {name for name, params in lists.items() if CHANGED_IN in params} == {"projects", "vendors"}
    for name, params in lists.items():
        published = next(query for pattern, query in takes if pattern.search(f"rest/v1.0/{name.replace('{}', '1')}"))
        assert {key for key in params if key.startswith("filters[")} <= published, name


def test_each_acumatica_entity_read_for_what_changed_publishes_its_change_date():
    from sandbox.acumatica_data import CONTRACT

    from erp_sync.erps.acumatica import AcumaticaAdapter

    for entity, *_fields in AcumaticaAdapter.REFERENCE_ENTITIES.values():
        assert CONTRACT["entities"][entity]["fields"]["LastModifiedDateTime"] == "DateTimeValue", entity


def test_sage_100_lists_the_rows_changed_since_and_sage_300_its_whole_tables(sandbox, store, sage):
    """Sage 100 Contractor's tables carry ``upddte``; Sage 300 CRE's ODBC tables carry no change date, so each
    reading reads them whole (on premises: no vendor's budget)."""
    from datetime import timedelta

    from erp_sync.connectors import erp_adapter
    from erp_sync.store import utcnow

    for integration in SAGE_INTEGRATIONS:
        store.save_integration(integration)
    sage300, sage100 = (erp_adapter(store.one("integration_by_name", name=integration.name), store)
                        for integration in SAGE_INTEGRATIONS)
    since = utcnow() - timedelta(minutes=1)
    stamp = utcnow().replace(tzinfo=None) + timedelta(minutes=1)  # after the seeding, in Sage's naive UTC
    sage.offices["sage100"].insert_raw("cstcde", recnum="02-410", cdenme="Selective Demolition", insdte=stamp,
                                       upddte=stamp)
    sage.offices["sage300"].insert_raw("JCM_MASTER__COST_CODE", Job="2401", Extra="", Cost_Code="02-410",
                                       Description="Selective Demolition")

    changed = sage100.reference_items(ReferenceKind.COST_CODE, since + timedelta(minutes=1, seconds=30))
    assert [(item.code, item.name) for item in changed] == [("02-410", "Selective Demolition")]
    assert sage100.reference_items(ReferenceKind.VENDOR, since + timedelta(minutes=1, seconds=30)) == []
    whole = sage300.reference_items(ReferenceKind.COST_CODE)
    assert sage300.reference_items(ReferenceKind.COST_CODE, since) == whole and len(whole) > 1
    assert "02-410" in {item.code for item in whole}


def test_the_procore_sandbox_filters_projects_and_vendors_by_updated_at_as_procore_does(sandbox):
    from erp_connectors.base import VendorApiError
    from erp_connectors.procore import ProcoreHook
    from sandbox.procore_data import DEMO_COMPANY_ID

    procore_edits_vendor(sandbox, STAR, name="Star Framing & Drywall, LLC")
    edited = sandbox.sandboxes.procore.vendors[int(STAR)].updated_at
    window = {"filters[updated_at]": f"{edited:%Y-%m-%dT%H:%M:%SZ}...{edited:%Y-%m-%dT%H:%M:%SZ}"}
    with ProcoreHook("procore_test", DEMO_COMPANY_ID) as procore:
        assert [v["name"] for v in procore.paginate("vendors", company_id=DEMO_COMPANY_ID, **window)] == [
            "Star Framing & Drywall, LLC"]
        assert list(procore.paginate("projects", company_id=DEMO_COMPANY_ID, **window)) == []  # none changed
        assert len(list(procore.paginate("projects", company_id=DEMO_COMPANY_ID))) == 3
        with pytest.raises(VendorApiError) as refused:
            list(procore.paginate("vendors", company_id=DEMO_COMPANY_ID, **{"filters[updated_at]": "yesterday"}))
    assert refused.value.status == 400 and "must be a range" in str(refused.value)


# A project relinked to another ERP job: its sub jobs follow ------------------------------------------------

def moved_to(job: str) -> str:
    return f"project 2401 Harbor Point Tower was linked to job {job}; its sub jobs are matched again within that job"


def add_acumatica_job(store, integration, job: str, tasks: dict[str, tuple[str, bool]]) -> None:
    """A project set up in Acumatica, with its tasks (code: name, marked Default), through its REST API."""
    from erp_sync.connectors import erp_adapter

    hook = erp_adapter(integration, store).hook
    try:
        hook.put("Project", {"ProjectID": job, "Description": "Harbor Point Tower, phase 2", "Status": "Active"},
                 creates=True)
        for code, (name, default) in tasks.items():
            hook.put("ProjectTask", {"ProjectID": job, "ProjectTaskID": code, "Description": name, "Status": "Active",
                                     "Default": default}, creates=True)
    finally:
        hook.close()


def test_a_project_relinked_on_the_tab_takes_its_sub_jobs_along_and_nothing_goes_to_the_old_jobs_tasks(sandbox, store):
    import sqlalchemy as sa

    from erp_sync.reference.tab import link_chosen, tab_rows

    integration = add_test_integrations(store)["summit-acumatica"]
    link_sandbox_references(store, sandbox)  # project 2401 on job 2401, its sub jobs on the job's tasks
    add_acumatica_job(store, integration, "24-017", {"01": ("Podium", False), "0000": ("Project-level costs", True)})
    refresh(store, integration, by="nightly")
    project = project_numbered(sandbox, "2401")
    podium, tower, deck = sub_job_refs(sandbox, "2401")

    assert link_chosen(store, integration, ReferenceKind.PROJECT, str(project.id), "24-017", by="ana")

    [old, new] = history(store, integration, ReferenceKind.SUB_JOB, podium.procore_id)
    assert (old["erp_id"], old["ended_by"], old["ended_reason"]) == ("2401/01", "ana", moved_to("24-017"))
    assert (new["erp_id"], new["started_by"], new["reason"]) == (
        "24-017/01", "ana", "matched by code: sub job 01 is exactly the ERP's 01")  # within the new job, at once
    for sub_job in (tower, deck):  # the new job has no task of theirs
        [ended] = history(store, integration, ReferenceKind.SUB_JOB, sub_job.procore_id)
        assert (ended["ended_by"], ended["ended_reason"]) == ("ana", moved_to("24-017"))
    with store.engine.begin() as connection:
        audited = connection.execute(sa.text(
            "SELECT actor, detail_json FROM audit_log WHERE entity = 'reference_link' AND entity_id = :id "
            "AND action = 'unlinked'"), {"id": f"sub_job:{tower.procore_id}"}).mappings().one()
    assert (audited["actor"], json.loads(audited["detail_json"])["reason"]) == ("ana", moved_to("24-017"))
    rows = {row.ref.procore_id: row for row in tab_rows(store, integration, ReferenceKind.SUB_JOB)}
    assert (rows[tower.procore_id].linked, rows[tower.procore_id].suggestion) == (None, None)
    assert rows[tower.procore_id].last_ended_reason == moved_to("24-017")

    export_integration(store, integration, "run-1")

    records = {row["procore_id"]: row for row in store.rows("active_links", integration_id=integration["id"])
               if row["procore_project_id"] == project.id}
    in_tower = next(row for row in sandbox.procore_rows("work_order_contracts")
                    if row["project"]["id"] == project.id and row["number"] == "SC-002")
    waiting = records[in_tower["id"]]
    assert (waiting["colour"], waiting["reason_code"]) == ("BLUE", "reference_unlinked")
    assert waiting["message"].startswith('Not exported yet: link sub job 02 "Tower" of project 2401 Harbor Point Tower '
                                         "on the Reference data tab; the next sync exports it.")
    lines = [line for subcontract in sandbox.erp_rows("acumatica", "Subcontract") for line in subcontract["Details"]]
    assert lines and not any(line["Project"]["value"] == "2401" for line in lines)  # nothing against the old job
    assert {line["Task"]["value"] for line in lines if line["Project"]["value"] == "24-017"} <= {"01", "0000"}
    assert not any(f"PC-{in_tower['id']}" in subcontract["Description"]["value"]
                   for subcontract in sandbox.erp_rows("acumatica", "Subcontract"))


def test_the_cli_relinks_and_unlinks_a_project_and_its_sub_jobs_follow_audited_with_the_os_user(sandbox, tmp_path,
                                                                                                capsys):
    import getpass

    from erp_sync.__main__ import main
    from erp_sync.store import Store

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    store = Store.from_url(url)
    store.upgrade()
    integration = add_test_integrations(store)["summit-acumatica"]
    cli = ["--db-url", url, "reference"]
    summit = ["--integration", "summit-acumatica"]
    project = project_numbered(sandbox, "2401")
    podium, tower, deck = sub_job_refs(sandbox, "2401")
    by = f"cli:{getpass.getuser()}"
    assert main([*cli, "refresh", *summit]) == 0  # 2401's sub jobs 01 and 02 on job 2401's tasks

    assert main([*cli, "link", *summit, "--kind", "project", "--procore-id", str(project.id), "--erp-id", "2404"]) == 0

    linked = confirmed_links(store, integration)  # job 2404 has tasks 01, 02 and 03.1 too
    assert (linked.erp_item(podium).erp_id, linked.erp_item(tower).erp_id) == ("2404/01", "2404/02")
    [old, new] = history(store, integration, ReferenceKind.SUB_JOB, tower.procore_id)
    assert (old["ended_by"], old["ended_reason"], new["started_by"]) == (by, moved_to("2404"), by)
    assert suggested(store, integration)[("sub_job", deck.procore_id)][0] == "2404/03.1"  # waits for a person

    assert main([*cli, "unlink", *summit, "--kind", "project", "--procore-id", str(project.id)]) == 0
    assert history(store, integration, ReferenceKind.SUB_JOB, podium.procore_id)[-1]["ended_reason"] == (
        "project 2401 Harbor Point Tower was unlinked from job 2404; its sub jobs are matched again within the job it "
        "is linked to next")
    assert not {podium.procore_id, tower.procore_id} & {pid for _kind, pid in confirmed_links(store, integration).items}

    assert main([*cli, "link", *summit, "--kind", "project", "--procore-id", str(project.id), "--erp-id", "2401"]) == 0
    linked = confirmed_links(store, integration)  # what only the project's moves ended links again by its code
    assert (linked.erp_item(podium).erp_id, linked.erp_item(tower).erp_id) == ("2401/01", "2401/02")


def test_a_projects_erp_job_deleted_ends_its_link_and_its_sub_jobs_links(sandbox, store):
    integration = add_test_integrations(store)["summit-acumatica"]
    refresh(store, integration, by="nightly")
    podium, _tower, _deck = sub_job_refs(sandbox, "2401")

    sandbox.control("DELETE", "acumatica/Project/2401")
    refresh(store, integration, by="nightly")

    project = project_numbered(sandbox, "2401")
    assert history(store, integration, ReferenceKind.PROJECT, str(project.id))[-1]["ended_reason"] == (
        "ERP project 2401 was deleted in the ERP")
    [ended] = history(store, integration, ReferenceKind.SUB_JOB, podium.procore_id)
    assert (ended["ended_by"], ended["ended_reason"]) == (
        "nightly", "project 2401 Harbor Point Tower was unlinked from job 2401; its sub jobs are matched again within "
                   "the job it is linked to next")
