"""Links for the sandbox's reference data, as an accountant would confirm them on the Reference data tab:
every Procore vendor the ERP has under the same name (once case, punctuation and legal suffixes are ignored)
is linked, through ``erp_sync.reference.links.link``. Tests that export documents call this after adding
their integrations; what is left unlinked (Foundry Mechanical is in no ERP) waits for a link.

The ERP side is read with each integration's adapter (``reference_items``), the Procore side from the
sandbox's own data, so seeding spends none of Procore's budget."""

from __future__ import annotations

from erp_sync.connectors import erp_adapter
from erp_sync.reference.links import link
from erp_sync.reference.model import ProcoreRef, ReferenceKind
from erp_sync.reference.suggest import suggest
from erp_sync.store import Store

SEEDED_BY = "tests/seed_links"


def procore_vendors(sandbox) -> list[ProcoreRef]:
    return [ProcoreRef(ReferenceKind.VENDOR, str(vendor.id), vendor.abbreviated_name, vendor.name)
            for vendor in sandbox.sandboxes.procore.vendors.values()]


def link_sandbox_references(store: Store, sandbox, names: set[str] | None = None) -> int:
    """Link what matches for each enabled integration (or those named); returns how many links started."""
    started = 0
    for integration in store.integrations():
        if names is not None and integration["name"] not in names:
            continue
        adapter = erp_adapter(integration, store)
        try:
            items = adapter.reference_items(ReferenceKind.VENDOR)
        finally:
            adapter.hook.close()
        for ref in procore_vendors(sandbox):
            found = suggest(ref, items)
            if found is not None and found.item is not None:
                started += link(store, integration, ref, found.item, by=SEEDED_BY, reason=found.reason)
    return started
