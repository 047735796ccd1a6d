"""Links for the sandbox's reference data, as an accountant would make them on the Reference data tab: every
Procore vendor the ERP has under the same name (once case, punctuation and legal suffixes are ignored) is
linked, through ``erp_sync.reference.links.link``, and the ambiguous one (Granite Masonry, which two ERP vendors
look like) to the vendor she chooses (``VENDOR_MEANT``). Tests that export documents call this after adding their
integrations; what is left unlinked waits for a link: Foundry Mechanical (in no ERP), Summit Roofing (inactive
in the ERP), the project with no ERP job yet and the cost code the ERP lacks.

The job costing of the documents' lines is linked too: each project of the integration's company to the
ERP job of its number (Procore's project number is the job number; the ERP sandboxes hold the ``DEMO_JOBS``), its
sub jobs to the job's tasks, extras or phases (``sandbox.common.DEMO_SUB_JOBS``, where the ERP has them: QuickBooks
Online has none), and the company's cost codes (a sub job's own too) and cost types to the ERP items of the same
code as the ERP spells it (``01-100`` is the ERP's ``01.100``; an Acumatica cost type's account group posting to
``EXPENSE_ACCOUNT``). The tasks Acumatica's projects mark Default are kept as a reading keeps them (a line in no
sub job goes there).

The ERP side is read with each integration's adapter (``reference_items``): where the ERP lists a kind, the
link goes to its item of that code (a QuickBooks item's Id); the Procore side comes from the sandbox's own data,
so seeding spends none of Procore's budget."""

from __future__ import annotations

from erp_sync.connectors import erp_adapter
from erp_sync.reference.links import LINKED_BY_HAND, confirmed_links, erp_detail_json, link, unlink
from erp_sync.reference.model import ErpItem, ProcoreRef, ReferenceKind
from erp_sync.reference.suggest import suggest
from erp_sync.store import Store, utcnow
from sandbox.common import DEMO_JOBS, DEMO_SUB_JOBS, VENDOR_MEANT, erp_spelt
from sandbox.procore_lines import COST_CODES, COST_TYPES

SEEDED_BY = "tests/seed_links"
EXPENSE_ACCOUNT = "50000"
ERP_JOBS = {str(job) for job in DEMO_JOBS}


def procore_vendors(sandbox) -> list[ProcoreRef]:
    return [ProcoreRef(ReferenceKind.VENDOR, str(vendor.id), vendor.abbreviated_name, vendor.name)
            for vendor in sandbox.sandboxes.procore.vendors.values()]


def job_number(project_number: str) -> str:
    """The ERP job of a Procore project: the sandboxes keep Procore's project number as the job number."""
    return project_number


def job_costing(sandbox, company_id: int) -> list[tuple[ProcoreRef, ErpItem]]:
    """The company's projects that have an ERP job, with their sub jobs, cost codes and cost types, each with the
    ERP item of that code."""
    procore = sandbox.sandboxes.procore
    projects = [project for project in procore.projects.values()
                if project.company.id == company_id and job_number(project.project_number) in ERP_JOBS]
    pairs = [(ProcoreRef(ReferenceKind.PROJECT, str(project.id), project.project_number, project.name),
              ErpItem(ReferenceKind.PROJECT, job_number(project.project_number), job_number(project.project_number),
                      project.name)) for project in projects]
    for project in projects:
        job = job_number(project.project_number)
        erp_codes = {sub_job.name: sub_job.erp_code for sub_job in DEMO_SUB_JOBS.get(int(job), ())}
        pairs += [(ProcoreRef(ReferenceKind.SUB_JOB, str(sub_job.id), sub_job.code, sub_job.name, project.id),
                   ErpItem.sub_job(job, erp_codes[sub_job.name], sub_job.name))
                  for sub_job in procore.sub_jobs.get(project.id, [])]
        pairs += [(ProcoreRef(ReferenceKind.COST_CODE, str(code.id), code.full_code, code.name, project.id,
                              code.biller_id),
                   ErpItem(ReferenceKind.COST_CODE, erp_spelt(code).full_code, erp_spelt(code).full_code, code.name))
                  for code in procore.cost_codes(project.id) if code.biller_id]
    pairs += [(ProcoreRef(ReferenceKind.COST_CODE, str(code.id), code.full_code, code.name),
               ErpItem(ReferenceKind.COST_CODE, erp_spelt(code).full_code, erp_spelt(code).full_code, code.name))
              for code in COST_CODES]
    pairs += [(ProcoreRef(ReferenceKind.COST_TYPE, str(kind.id), kind.code, kind.name),
               ErpItem(ReferenceKind.COST_TYPE, kind.code, kind.code, kind.name, posts_to=EXPENSE_ACCOUNT))
              for kind in COST_TYPES]
    return pairs


def chosen_vendor(ref: ProcoreRef, items: list[ErpItem]) -> tuple[ErpItem, str] | None:
    """The ERP vendor of the same name, or the one the accountant chose among those that match, with the reason."""
    found = suggest(ref, items)
    if found is not None and found.item is None and ref.name in VENDOR_MEANT:
        return next(item for item in found.candidates if item.name == VENDOR_MEANT[ref.name]), LINKED_BY_HAND
    return None if found is None or found.item is None else (found.item, found.reason)


def link_sandbox_references(store: Store, sandbox, names: set[str] | None = None) -> int:
    """Link what can be linked for each enabled integration (or those named), and the job costing; returns how
    many vendor links started."""
    started = 0
    for integration in store.integrations():
        if names is not None and integration["name"] not in names:
            continue
        pairs = job_costing(sandbox, integration["procore_company_id"])
        current = {(ref.kind, ref.procore_id) for ref, _item in pairs}
        for kind, procore_id in confirmed_links(store, integration).items:  # projects of an earlier seeding
            if kind is ReferenceKind.PROJECT and (kind, procore_id) not in current:
                unlink(store, integration, kind, procore_id, by=SEEDED_BY, reason="the sandbox was reseeded")
        adapter = erp_adapter(integration, store)
        try:
            listed = {kind: adapter.reference_items(kind) for kind in ReferenceKind}
        finally:
            adapter.hook.close()
        # the ERP's own item of that code (QuickBooks' ids), else of that name (Sage 100's numbered cost types);
        # a sub job's within its job
        for ref, item in pairs:
            if ref.kind is ReferenceKind.SUB_JOB and ref.kind not in adapter.reference_kinds:
                continue  # QuickBooks Online has no sub jobs
            same_job = [erp for erp in listed[ref.kind] if erp.project == item.project]
            same_code = next((erp for erp in same_job if erp.code == item.code), None)
            item = same_code or next((erp for erp in same_job if erp.name == item.name), item)
            link(store, integration, ref, item, by=SEEDED_BY, reason="the sandbox's job costing")
        keep_default_tasks(store, integration, listed[ReferenceKind.SUB_JOB])
        for ref in procore_vendors(sandbox):
            if chosen := chosen_vendor(ref, listed[ReferenceKind.VENDOR]):
                item, reason = chosen
                started += link(store, integration, ref, item, by=SEEDED_BY, reason=reason)
    return started


def keep_default_tasks(store: Store, integration: dict, tasks: list[ErpItem]) -> None:
    with store.transaction() as tx:
        for task in (task for task in tasks if task.default):
            tx.execute("know_erp_reference_item", integration_id=integration["id"], kind=task.kind.value,
                       erp_id=task.erp_id, erp_project=task.project, code=task.code, name=task.name,
                       active=task.active, posts_to=None, detail_json=erp_detail_json(task), seen_at=utcnow())
