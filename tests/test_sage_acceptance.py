"""Accounting acceptance with the on-premises ERPs: records wait, and an acceptance sends them through
Sage's import (the decisions DAG runs them on the on-premises queue), after which the hourly sync links
them as it links any Sage export."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from erp_sync.models import ExportMode, RecordType
from test_sage_dags import SYSTEM, dagbag, office  # noqa: F401 - fixtures

pytestmark = pytest.mark.airflow


def test_sage_records_wait_and_an_acceptance_sends_them_through_sages_import(office, dagbag):  # noqa: F811
    for name in SYSTEM:
        office.store.set_export_mode(name, ExportMode.ACCEPTANCE, actor="test")
    office.integrations = {row["name"]: row for row in office.store.integrations()}
    office.sync()
    for name, system in SYSTEM.items():
        assert {link["state"] for link in office.links(name)} == {"ready"}
        assert list(office.sage.offices[system].import_dir.glob("*.csv")) == []

    accepted = {name: office.links(name, RecordType.COMMITMENT) for name in SYSTEM}
    with office.store.engine.begin() as connection:
        for name, links in accepted.items():
            for link in links:
                connection.execute(sa.text(
                    "INSERT INTO export_decisions (integration, record_type, procore_id, decision, decided_by) "
                    "VALUES (:integration, 'commitment', :procore_id, 'accept', 101)"),
                    {"integration": name, "procore_id": link["procore_id"]})
    assert dagbag.dags["erp_export_decisions"].test().state == "success"

    for name, system in SYSTEM.items():
        queued = [link for link in office.links(name, RecordType.COMMITMENT) if "Queued for" in (link["message"] or "")]
        assert len(queued) == len(accepted[name]) == 6
        assert len(list(office.sage.offices[system].import_dir.glob("*.csv"))) == 6
    office.settle()
    for name in SYSTEM:
        assert {link["colour"] for link in office.links(name, RecordType.COMMITMENT)} == {"GREEN"}
        assert {link["state"] for link in office.links(name, RecordType.SUBCONTRACTOR_INVOICE)} == {"ready"}
