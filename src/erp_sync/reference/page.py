"""What the Reference data tab does for the signed-in person: only an accounting approver acts there ('Standard'
or 'Admin' on ERP Integrations and 'Can Push to Accounting'), as Procore says at that moment, like Accept; every
change is audited as the Airflow user who made it."""

from __future__ import annotations

from enum import StrEnum

from erp_sync.acceptance import lookup
from erp_sync.budget import Work
from erp_sync.connectors import procore_hook
from erp_sync.identity import ProcoreAccounts
from erp_sync.reference.links import unlink
from erp_sync.reference.model import ReferenceKind
from erp_sync.reference.tab import confirm, confirm_all, link_chosen
from erp_sync.store import Store
from erp_sync.unlink import refuse_unless_permitted, shown

ACTION = "link reference data"
MAX_ID_LENGTH = 200


class TabAction(StrEnum):
    LINK = "link"
    CONFIRM = "confirm"
    CONFIRM_ALL = "confirm_all"
    UNLINK = "unlink"


def act(store: Store, integration_name: str, airflow_user: str | None, kind: ReferenceKind, action: TabAction,
        procore_ids: list[str], erp_id: str = "") -> int:
    """Do what the person asked once Procore confirms them an accounting approver; how many links it started or
    ended. ValueError, NotConnected, Refused and ReferenceRefused say why nothing changed."""
    integration = lookup(store, integration_name)
    if not procore_ids:
        raise ValueError(f"Choose a {kind.label} first.")
    for value in (*procore_ids, erp_id):
        if len(value) > MAX_ID_LENGTH or not value.isprintable():
            raise ValueError(f"{shown(value[:40])} is not the id of a {kind.label} here; choose one from the list.")
    if action is TabAction.LINK and not erp_id.strip():
        raise ValueError(f"Choose the ERP {kind.label} to link it to (type to search), then press Link.")
    with procore_hook(integration, store, Work.ON_DEMAND) as procore:
        person = ProcoreAccounts(store).verified(airflow_user, integration["procore_conn_id"])
        refuse_unless_permitted(lambda: procore.approver_permissions(person.procore_user_id), person.procore_user_id,
                                integration, ACTION)
    by = airflow_user or f"procore:{person.procore_user_id}"
    if action is TabAction.CONFIRM_ALL:
        return confirm_all(store, integration, kind, by=by, procore_ids=set(procore_ids))
    [procore_id] = procore_ids[:1]
    if action is TabAction.UNLINK:
        return int(unlink(store, integration, kind, procore_id, by=by))
    if action is TabAction.CONFIRM:
        return int(confirm(store, integration, kind, procore_id, by=by))
    return int(link_chosen(store, integration, kind, procore_id, erp_id.strip(), by=by))


def said(action: TabAction, kind: ReferenceKind, count: int, person: str) -> str:
    """The notice after an action, shown on the page it redirects to."""
    if action is TabAction.CONFIRM_ALL:
        return (f"Linked {count} {kind.label}(s) to their suggestions as {person}; the next sync exports what "
                "waited for them.")
    if action is TabAction.UNLINK:
        return f"Unlinked as {person}." if count else f"That {kind.label} was not linked; nothing changed."
    return (f"Linked as {person}; the next sync exports what waited for it." if count
            else f"That {kind.label} was linked so already; nothing changed.")
