"""A small in-test implementation of the ReferenceLinks protocol: every Procore item is linked to the ERP
item of the same code, but those a test names as unlinked. It stands in for the integration's confirmed
links until the issue "Reference data" lands its ``confirmed_links`` and ``tests/seed_links.py``."""

from __future__ import annotations

from erp_sync.reference.model import ErpItem, ProcoreRef, ReferenceKind

EXPENSE_ACCOUNT = "50000"  # what a cost type's account group posts to in Acumatica


class MirrorLinks:
    def __init__(self, unlinked: set[str] | None = None):
        self.unlinked = set(unlinked or ())  # Procore codes (or ids) left unlinked

    def erp_item(self, ref: ProcoreRef) -> ErpItem | None:
        if ref.code in self.unlinked or ref.procore_id in self.unlinked:
            return None
        erp_id = ref.procore_id if ref.kind is ReferenceKind.PROJECT else ref.code
        return ErpItem(ref.kind, erp_id, ref.code, ref.name,
                       posts_to=EXPENSE_ACCOUNT if ref.kind is ReferenceKind.COST_TYPE else None)
