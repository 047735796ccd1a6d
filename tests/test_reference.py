"""Reference-data links in the store: one ERP item per Procore item and back, with history and audit."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from conftest import add_test_integrations
from erp_sync.reference.links import (
    MATCHED_BY_CODE,
    ReferenceRefused,
    confirmed_links,
    history,
    link,
    unlink,
)
from erp_sync.reference.model import ErpItem, ProcoreRef, ReferenceKind

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


def test_confirmed_links_are_loaded_in_one_query(store, summit):
    link(store, summit, VENDOR, STAR, by="ana")
    link(store, summit, FORMING, ERP_FORMING, by="ana")
    statements = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    links = confirmed_links(store, summit)
    assert (links.erp_item(VENDOR), links.erp_item(FORMING)) == (STAR, ERP_FORMING)

    assert len([s for s in statements if "reference_links" in s]) == 1


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
                                               r'vendor STAR "Star Framing, LLC"; unlink that first\.'):
        link(store, summit, other, STAR, by="ana")

    link(store, summit, FORMING, ERP_FORMING, by="ana")
    link(store, summit, FORMING_OTHER_PROJECT, ERP_FORMING, by="ana")
    links = confirmed_links(store, summit)
    assert links.erp_item(FORMING) == links.erp_item(FORMING_OTHER_PROJECT) == ERP_FORMING
    assert links.erp_item(other) is None


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
