"""Reference-data links in the store: one ERP item per Procore item and back, with history and audit."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import sqlalchemy as sa

from conftest import add_test_integrations
from erp_sync.reference.check import check
from erp_sync.reference.links import (
    MATCHED_BY_CODE,
    ReferenceRefused,
    confirmed_links,
    history,
    link,
    unlink,
)
from erp_sync.reference.model import ErpItem, ProcoreRef, ReferenceKind
from erp_sync.reference.suggest import normal_code, normal_name, search, suggest

VENDOR = ProcoreRef(ReferenceKind.VENDOR, "7001", "STAR", "Star Framing, LLC")
STAR = ErpItem(ReferenceKind.VENDOR, "V00042", "V00042", "Star Framing")
STAR_INC = ErpItem(ReferenceKind.VENDOR, "V00043", "V00043", "Star Framing Inc")
FORMING = ProcoreRef(ReferenceKind.COST_CODE, "9301", "03-300", "Concrete Forming", project_id=17)
FORMING_OTHER_PROJECT = ProcoreRef(ReferenceKind.COST_CODE, "9401", "03-300", "Concrete Forming", project_id=18)
ERP_FORMING = ErpItem(ReferenceKind.COST_CODE, "03-300", "03-300", "Concrete Forming")


@pytest.fixture
def summit(store):
    return add_test_integrations(store)["summit-acumatica"]


def audit_rows(store) -> list[dict]:
    with store.engine.begin() as connection:
        return [dict(row) for row in connection.execute(sa.text(
            "SELECT entity, entity_id, action, old_state, new_state, actor, detail_json FROM audit_log "
            "WHERE entity = 'reference_link' ORDER BY id")).mappings()]


def test_a_link_is_what_confirmed_links_answers_and_is_audited_with_who_made_it(store, summit):
    assert confirmed_links(store, summit).erp_item(VENDOR) is None

    assert link(store, summit, VENDOR, STAR, by="ana", reason=MATCHED_BY_CODE)
    assert not link(store, summit, VENDOR, STAR, by="ana")  # the same link again changes nothing

    assert confirmed_links(store, summit).erp_item(VENDOR) == STAR
    assert confirmed_links(store, summit["id"]).erp_item(FORMING) is None
    [entry] = audit_rows(store)
    assert (entry["entity_id"], entry["action"], entry["new_state"], entry["actor"]) == (
        "vendor:7001", "linked", "V00042", "ana")
    assert json.loads(entry["detail_json"])["reason"] == MATCHED_BY_CODE


def test_confirmed_links_are_loaded_in_one_query_and_the_names_sentences_need_in_another(store, summit):
    link(store, summit, VENDOR, STAR, by="ana")
    link(store, summit, FORMING, ERP_FORMING, by="ana")
    statements = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    links = confirmed_links(store, summit)
    assert (links.erp_item(VENDOR), links.erp_item(FORMING)) == (STAR, ERP_FORMING)

    assert len([s for s in statements if "reference_links" in s]) == 2
    assert links.named(FORMING) == FORMING  # linked: a sentence never names it


def test_relinking_ends_the_old_link_and_unlinking_keeps_the_history(store, summit):
    link(store, summit, VENDOR, STAR, by="ana")
    assert link(store, summit, VENDOR, STAR_INC, by="ben")
    assert confirmed_links(store, summit).erp_item(VENDOR) == STAR_INC

    assert unlink(store, summit, ReferenceKind.VENDOR, "7001", by="cleo")
    assert not unlink(store, summit, ReferenceKind.VENDOR, "7001", by="cleo")

    assert confirmed_links(store, summit).erp_item(VENDOR) is None
    past = history(store, summit, ReferenceKind.VENDOR, "7001")
    assert [(row["erp_id"], row["started_by"], row["ended_by"], row["ended_reason"]) for row in past] == [
        ("V00042", "ana", "ben", "relinked to V00043"), ("V00043", "ben", "cleo", "unlinked by hand")]
    assert [(row["action"], row["actor"]) for row in audit_rows(store)] == [
        ("linked", "ana"), ("unlinked", "ben"), ("linked", "ben"), ("unlinked", "cleo")]


def test_an_erp_item_links_one_procore_item_but_serves_each_projects_cost_code(store, summit):
    link(store, summit, VENDOR, STAR, by="ana")
    other = ProcoreRef(ReferenceKind.VENDOR, "7002", "STARF", "Star Framing")
    with pytest.raises(ReferenceRefused, match=r'ERP vendor V00042 "Star Framing" is already linked to Procore '
                                               r'vendor "Star Framing, LLC"; unlink that first\.'):
        link(store, summit, other, STAR, by="ana")

    link(store, summit, FORMING, ERP_FORMING, by="ana")
    link(store, summit, FORMING_OTHER_PROJECT, ERP_FORMING, by="ana")
    links = confirmed_links(store, summit)
    assert links.erp_item(FORMING) == links.erp_item(FORMING_OTHER_PROJECT) == ERP_FORMING
    assert links.erp_item(other) is None


def test_a_sub_jobs_own_cost_code_and_the_projects_both_take_the_erps_cost_code(store, summit):
    in_podium = ProcoreRef(ReferenceKind.COST_CODE, "9302", "03-300", "Concrete Forming", project_id=17,
                           sub_job_id=924011)
    link(store, summit, FORMING, ERP_FORMING, by="ana")
    link(store, summit, in_podium, ERP_FORMING, by="ana")
    assert confirmed_links(store, summit).erp_item(in_podium) == ERP_FORMING
    with pytest.raises(ReferenceRefused, match="already linked to Procore cost code 03-300"):
        link(store, summit, replace(in_podium, procore_id="9303"), ERP_FORMING, by="ana")  # one per sub job


def test_a_link_across_kinds_is_refused_and_changes_nothing(store, summit):
    with pytest.raises(ReferenceRefused, match="can only be linked to an ERP vendor, not to a cost code"):
        link(store, summit, VENDOR, ERP_FORMING, by="ana")
    assert confirmed_links(store, summit).items == {}
    assert audit_rows(store) == []


def test_links_belong_to_their_integration(store):
    integrations = add_test_integrations(store)
    link(store, integrations["summit-acumatica"], VENDOR, STAR, by="ana")
    assert confirmed_links(store, integrations["harbor-quickbooks"]).erp_item(VENDOR) is None
    link(store, integrations["harbor-quickbooks"], VENDOR, STAR_INC, by="ana")
    assert confirmed_links(store, integrations["summit-acumatica"]).erp_item(VENDOR) == STAR


# Sub jobs follow their project's ERP job -----------------------------------------------------------------

HARBOR_POINT = ProcoreRef(ReferenceKind.PROJECT, "17", "2401", "Harbor Point Tower")
PODIUM = ProcoreRef(ReferenceKind.SUB_JOB, "924011", "01", "Podium", project_id=17)
TOWER = ProcoreRef(ReferenceKind.SUB_JOB, "924012", "02", "Tower", project_id=17)
JOB_2401 = ErpItem(ReferenceKind.PROJECT, "2401", "2401", "Harbor Point Tower")
JOB_24_017 = ErpItem(ReferenceKind.PROJECT, "24-017", "24-017", "Harbor Point Tower, phase 2")
MOVED = "project 2401 Harbor Point Tower was linked to job 24-017; its sub jobs are matched again within that job"


def test_a_project_linked_to_another_job_ends_its_sub_jobs_links_there_audited_with_the_same_person(store, summit):
    link(store, summit, HARBOR_POINT, JOB_2401, by="seed")
    link(store, summit, PODIUM, ErpItem.sub_job("2401", "01", "Podium"), by="seed")
    link(store, summit, TOWER, ErpItem.sub_job("2401", "02", "Tower"), by="seed")
    link(store, summit, FORMING, ERP_FORMING, by="seed")  # the ERP's cost codes serve every job: it stays

    assert link(store, summit, HARBOR_POINT, JOB_24_017, by="ana")

    links = confirmed_links(store, summit)
    assert (links.erp_item(PODIUM), links.erp_item(TOWER), links.erp_item(FORMING)) == (None, None, ERP_FORMING)
    for sub_job in (PODIUM, TOWER):
        [ended] = history(store, summit, ReferenceKind.SUB_JOB, sub_job.procore_id)
        assert (ended["ended_by"], ended["ended_reason"]) == ("ana", MOVED)
    assert [(row["entity_id"], row["actor"], json.loads(row["detail_json"])["reason"])
            for row in audit_rows(store) if row["action"] == "unlinked"] == [
        ("project:17", "ana", "relinked to 24-017"), ("sub_job:924011", "ana", MOVED), ("sub_job:924012", "ana", MOVED)]


def test_a_project_unlinked_or_ended_by_drift_takes_its_sub_jobs_links_with_it_and_one_of_its_job_stays(store, summit):
    link(store, summit, HARBOR_POINT, JOB_24_017, by="seed")
    link(store, summit, PODIUM, ErpItem.sub_job("24-017", "01", "Podium"), by="seed")

    assert not link(store, summit, HARBOR_POINT, JOB_24_017, by="ana")  # the same job again: nothing moves
    assert confirmed_links(store, summit).erp_item(PODIUM) == ErpItem.sub_job("24-017", "01", "Podium")
    assert unlink(store, summit, ReferenceKind.PROJECT, "17", by="bo")

    [ended] = history(store, summit, ReferenceKind.SUB_JOB, PODIUM.procore_id)
    assert (ended["ended_by"], ended["ended_reason"]) == (
        "bo", "project 2401 Harbor Point Tower was unlinked from job 24-017; its sub jobs are matched again within "
              "the job it is linked to next")
    assert confirmed_links(store, summit).items == {}


# Suggestions -------------------------------------------------------------------------------------------

def erp(kind: ReferenceKind, erp_id: str, name: str, code: str | None = None, active: bool = True) -> ErpItem:
    return ErpItem(kind, erp_id, code or erp_id, name, active)


@pytest.mark.parametrize(("name", "normal"), [
    ("Star Framing, LLC", "star framing"), ("STAR FRAMING L.L.C.", "star framing"), ("Acme Co., Inc.", "acme"),
    ("Company", "company"), ("  Delta   Steel-Erectors ", "delta steel erectors")])
def test_vendor_names_are_normalised_for_case_punctuation_and_legal_suffixes(name, normal):
    assert normal_name(name) == normal


def test_codes_are_normalised_for_the_delimiter():
    assert normal_code("01-100") == normal_code("01.100") == normal_code("01 100") == "01100"


def test_an_exact_code_links_by_itself_and_a_delimiter_difference_waits_for_a_person():
    general = ProcoreRef(ReferenceKind.COST_CODE, "5001", "01-100", "General Conditions", project_id=17)
    exact = suggest(general, [erp(ReferenceKind.COST_CODE, "01-100", "General Conditions")])
    assert (exact.item.erp_id, exact.automatic, exact.reason) == (
        "01-100", True, "cost code 01-100 is exactly the ERP's 01-100")

    dotted = suggest(general, [erp(ReferenceKind.COST_CODE, "01.100", "General Conditions")])
    assert (dotted.item.erp_id, dotted.automatic, dotted.reason) == (
        "01.100", False, "cost code 01-100 is the ERP's 01.100 once the delimiter is ignored")


def test_a_vendor_named_alike_is_suggested_but_never_linked_by_itself():
    star = suggest(VENDOR, [erp(ReferenceKind.VENDOR, "V00042", "Star Framing"),
                            erp(ReferenceKind.VENDOR, "V00050", "Apex Concrete")])
    assert (star.item.erp_id, star.automatic) == ("V00042", False)
    assert star.reason == ('"Star Framing, LLC" and "Star Framing" are the same name once case, punctuation and '
                           "legal suffixes are ignored")
    by_origin = suggest(VENDOR, [erp(ReferenceKind.VENDOR, "V00050", "Apex")], origin="V00050")
    assert (by_origin.item.erp_id, by_origin.reason, by_origin.automatic) == (
        "V00050", "origin_code V00050 is ERP vendor V00050", False)


def test_two_candidates_are_ambiguous_and_never_taken():
    found = suggest(VENDOR, [erp(ReferenceKind.VENDOR, "V00042", "Star Framing"),
                             erp(ReferenceKind.VENDOR, "V00043", "Star Framing Inc.")])
    assert found.item is None and not found.automatic
    assert [item.erp_id for item in found.candidates] == ["V00042", "V00043"]
    assert found.reason.startswith('ambiguous: V00042 "Star Framing" and V00043 "Star Framing Inc." both match')


def test_an_inactive_erp_item_is_never_suggested():
    found = suggest(VENDOR, [erp(ReferenceKind.VENDOR, "V00042", "Star Framing", active=False)])
    assert found.item is None
    assert found.reason == 'ERP vendor V00042 "Star Framing" matches but is inactive in the ERP; choose another with Link'
    one_active = suggest(VENDOR, [erp(ReferenceKind.VENDOR, "V00042", "Star Framing", active=False),
                                  erp(ReferenceKind.VENDOR, "V00043", "Star Framing LLC")])
    assert one_active.item.erp_id == "V00043"


def test_a_cost_type_of_the_same_name_is_suggested_where_the_erp_numbers_them_and_waits_for_a_person():
    subcontract = ProcoreRef(ReferenceKind.COST_TYPE, "6003", "S", "Subcontract")
    numbered = [erp(ReferenceKind.COST_TYPE, "1", "Material"), erp(ReferenceKind.COST_TYPE, "4", "Subcontract")]
    found = suggest(subcontract, numbered)
    assert (found.item.erp_id, found.automatic) == ("4", False)
    assert found.reason == 'cost type S "Subcontract" and the ERP\'s 4 "Subcontract" have the same name'
    assert suggest(ProcoreRef(ReferenceKind.COST_TYPE, "6006", "X", "Permits"), numbered) is None


def test_a_project_is_suggested_by_its_number_or_origin_id_and_nothing_is_guessed():
    harbor = ProcoreRef(ReferenceKind.PROJECT, "1001", "2024-017", "Harbor Tower")
    jobs = [erp(ReferenceKind.PROJECT, "2024-017", "Harbor Tower"), erp(ReferenceKind.PROJECT, "J-9", "Old job")]
    assert suggest(harbor, jobs).automatic
    assert suggest(ProcoreRef(ReferenceKind.PROJECT, "1002", "P-1", "New"), jobs, origin="J-9").reason == (
        "origin_id J-9 is ERP job J-9")
    assert suggest(ProcoreRef(ReferenceKind.PROJECT, "1003", "2025-001", "No job yet"), jobs) is None


def test_search_ranks_erp_items_by_code_or_name():
    items = [erp(ReferenceKind.VENDOR, "V1", "Apex Concrete"), erp(ReferenceKind.VENDOR, "V2", "Star Framing"),
             erp(ReferenceKind.VENDOR, "V3", "Star Plumbing", active=False)]
    assert [item.erp_id for item in search("star fram", items)] == ["V2"]
    assert [item.erp_id for item in search("", items)] == ["V1", "V2"]


# The export check --------------------------------------------------------------------------------------

HARBOR = ProcoreRef(ReferenceKind.PROJECT, "1001", "2024-017", "Harbor Tower")
FORMING_17 = ProcoreRef(ReferenceKind.COST_CODE, "9301", "03-300", "Concrete Forming", project_id=1001)
SUBCONTRACT = ProcoreRef(ReferenceKind.COST_TYPE, "6003", "S", "Subcontract")


def test_the_check_names_every_missing_link_once_with_where_to_link_it(store, summit):
    link(store, summit, HARBOR, erp(ReferenceKind.PROJECT, "2024-017", "Harbor Tower"), by="ana")
    link(store, summit, SUBCONTRACT, erp(ReferenceKind.COST_TYPE, "S", "Subcontract"), by="ana")
    refs = [VENDOR, HARBOR, FORMING_17, SUBCONTRACT, FORMING_17]

    missing, sentence = check(refs, confirmed_links(store, summit))

    assert missing == [VENDOR, FORMING_17]
    assert sentence == ('Not exported yet: link vendor "Star Framing, LLC" and cost code 03-300 "Concrete Forming" '
                        "of project 2024-017 Harbor Tower on the Reference data tab; the next sync exports it.")


def test_the_check_names_an_unlinked_sub_job_by_its_code_from_the_reading(store, summit):
    """A line names its sub job by id and name (its cost code's ``biller``), a record its project by name: the
    sentence takes their codes from the reference data read."""
    tower = ProcoreRef(ReferenceKind.PROJECT, "1001", "2401", "Harbor Point Tower")
    podium = ProcoreRef(ReferenceKind.SUB_JOB, "924011", "01", "Podium", project_id=1001)
    link(store, summit, tower, erp(ReferenceKind.PROJECT, "2401", "Harbor Point Tower"), by="ana")
    link(store, summit, podium, ErpItem.sub_job("2401", "01", "Podium"), by="ana")
    unlink(store, summit, ReferenceKind.SUB_JOB, podium.procore_id, by="ana")
    on_the_record = ProcoreRef(ReferenceKind.PROJECT, "1001", "Harbor Point Tower", "Harbor Point Tower")
    on_the_line = ProcoreRef(ReferenceKind.SUB_JOB, "924011", "", "Podium", project_id=1001)

    missing, sentence = check([on_the_record, on_the_line], confirmed_links(store, summit))

    assert missing == [on_the_line]
    assert sentence == ('Not exported yet: link sub job 01 "Podium" of project 2401 Harbor Point Tower on the '
                        "Reference data tab; the next sync exports it.")


def test_the_check_lets_a_fully_linked_record_go(store, summit):
    link(store, summit, VENDOR, STAR, by="ana")
    assert check([VENDOR], confirmed_links(store, summit)) == ([], None)
    missing, sentence = check([VENDOR, HARBOR, SUBCONTRACT], confirmed_links(store, summit))
    assert missing == [SUBCONTRACT, HARBOR]
    assert sentence == ('Not exported yet: link cost type S "Subcontract" and project 2024-017 "Harbor Tower" on the '
                        "Reference data tab; the next sync exports it.")
