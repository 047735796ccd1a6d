"""Procore's resources as the sandbox holds them, with Procore's field names, and the demo company.

Field names follow Procore's REST v1.0 reference (work order / purchase order contracts,
commitment change orders, requisitions, contract payments, company and project users,
permission templates). Money is a string, as Procore sends it.
"""

from __future__ import annotations

import random
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from sandbox.common import DEMO_SUB_JOBS
from sandbox.procore_lines import (
    COST_CODES,
    CommitmentChangeOrderLineItem,
    CommitmentLineItem,
    CostCode,
    Holder,
    RequisitionItem,
    SubJob,
    change_order_line,
    commitment_lines,
    current_payment_due,
    requisition_items,
    split,
    sub_job_cost_codes,
    sub_job_id,
    total_retainage,
)

DEMO_COMPANY_ID = 8089
SECOND_COMPANY_ID = 8090  # a second company in the same Procore account, paired with another ERP
SAGE300_COMPANY_ID = 8091
SAGE100_COMPANY_ID = 8092
COMPANY_NAMES = {DEMO_COMPANY_ID: "Summit Builders (demo)", SECOND_COMPANY_ID: "Harbor Construction (demo)",
                 SAGE300_COMPANY_ID: "Granite Ridge Contractors (demo)", SAGE100_COMPANY_ID: "Prairie Builders (demo)"}
# A project accountant of Harbor Construction only: the other companies' directories do not know her.
HARBOR_ONLY_USER_ID = 201
DEMO_CLIENT_ID = "erp-sync-sandbox"
DEMO_CLIENT_SECRET = "sandbox-secret"
# Where the demo's Airflow sends people back after they sign in to Procore: the app's registered redirect URIs,
# one for each address the README names for the UI (an app in Procore's developer portal may register several).
DEMO_REDIRECT_URIS = ("http://localhost:8080/erp-sync/identity/callback",
                      "http://127.0.0.1:8080/erp-sync/identity/callback")
# The records' lines take ids from a range of their own, so the records' ids (which the README names) stay
# the same whatever lines they have.
LINE_IDS_START = 5_000_000
TOKEN_LIFETIME = timedelta(minutes=90)
CODE_LIFETIME = timedelta(minutes=10)
# The seeded people sign in on the sandbox's sign-in page with their email address and password.
SIGN_INS = {"avery.admin@summit.example": "avery-sandbox", "blake.standard@summit.example": "blake-sandbox",
            "casey.nopush@summit.example": "casey-sandbox", "devon.viewer@summit.example": "devon-sandbox",
            "emery.field@summit.example": "emery-sandbox"}


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def money(value: Decimal | float) -> str:
    return f"{Decimal(value):.2f}"


class Ref(BaseModel):
    id: int
    name: str


class Company(BaseModel):
    id: int
    name: str
    is_active: bool = True


class Project(BaseModel):
    id: int
    name: str
    project_number: str
    active: bool = True
    company: Ref
    created_at: datetime
    updated_at: datetime


class Vendor(BaseModel):
    id: int
    name: str
    abbreviated_name: str
    is_active: bool = True
    origin_id: str | None = None
    origin_data: str | None = None
    updated_at: datetime


class PermissionTemplate(BaseModel):
    id: int
    name: str
    type: Literal["company_tools", "project_tools"]
    user_access_levels: dict[str, Literal["none", "read_only", "standard", "admin"]]


class CompanyUser(BaseModel):
    id: int
    name: str
    first_name: str
    last_name: str
    email_address: str
    job_title: str | None = None
    is_active: bool = True
    is_employee: bool = True
    erp_integrated_accountant: bool = Field(description="The 'Can Push to Accounting' privilege")
    permission_template: Ref | None = None
    updated_at: datetime


class ProjectUser(BaseModel):
    id: int
    name: str
    email_address: str
    is_active: bool = True
    permission_template: Ref | None = None


class ErpLinkedRecord(BaseModel):
    """What every record that Procore syncs with an ERP carries: the ERP reference and timestamps."""

    id: int
    origin_id: str | None = None
    origin_data: str | None = None
    created_at: datetime
    updated_at: datetime


class DeletableRecord(ErpLinkedRecord):
    deleted_at: datetime | None = None


class Commitment(DeletableRecord):
    number: str
    title: str
    status: Literal["Draft", "Out For Bid", "Out For Signature", "Approved", "Complete", "Terminated", "Void"]
    executed: bool = False
    description: str | None = None
    vendor: Ref
    project: Ref
    grand_total: str
    contract_date: date | None = None
    origin_code: str | None = None
    retainage_percent: str | None = Field(default=None, description="the contract's default retainage, in percent")


class CommitmentChangeOrder(DeletableRecord):
    number: str
    title: str
    status: Literal["draft", "pending", "approved", "rejected", "void"]
    contract_id: int
    project_id: int
    grand_total: str
    description: str | None = None
    due_date: date | None = None
    executed: bool = False
    legacy_package_id: int | None = Field(default=None, description="its change order package")


class RequisitionSummary(BaseModel):
    current_payment_due: str
    total_completed_and_stored_to_date: str
    total_retainage: str = "0.00"


class Requisition(DeletableRecord):
    number: int
    invoice_number: str | None = None
    status: Literal["draft", "under_review", "revise_and_resubmit", "approved", "approved_as_noted"]
    commitment_id: int
    project_id: int
    vendor: Ref
    billing_date: date | None = None
    requisition_start: date | None = None  # the billing period
    requisition_end: date | None = None
    summary: RequisitionSummary
    erp_status: str | None = None


class ContractPayment(ErpLinkedRecord):
    contract_id: int
    project_id: int
    amount: str
    date: date
    check_number: str | None = None
    payment_number: str | None = Field(default=None, coerce_numbers_to_str=True)  # Procore's JS SDK sends a number
    invoice_number: str | None = None
    payment_method: str | None = None
    notes: str | None = None
    attachments: list[dict] = []


PAYMENT_FIELDS_OPEN_WHEN_SYNCED = {"attachments", "origin_id", "origin_data"}
PAYMENT_FIELDS_USERS_MAY_EDIT_WHEN_SYNCED = {"attachments", "payment_number"}

Record = Commitment | CommitmentChangeOrder | Requisition | ContractPayment
RECORD_TABLES: dict[str, type[BaseModel]] = {
    "work_order_contracts": Commitment,
    "purchase_order_contracts": Commitment,
    "commitment_change_orders": CommitmentChangeOrder,
    "requisitions": Requisition,
    "contract_payments": ContractPayment,
}
APPROVED_STATUS = {
    "work_order_contracts": "Approved",
    "purchase_order_contracts": "Approved",
    "commitment_change_orders": "approved",
    "requisitions": "approved",
}


class SeedSizes(BaseModel):
    projects: int = Field(default=3, ge=1, le=5000)
    commitments_per_project: int = Field(default=4, ge=0, le=500)
    change_orders_per_project: int = Field(default=2, ge=0, le=500)
    invoices_per_project: int = Field(default=3, ge=0, le=1000)
    companies: int = Field(default=4, ge=1, le=4, description="the first n of 8089, 8090, 8091 and 8092")
    change_orders_total: int | None = Field(default=None, ge=0, description="spread over the projects instead")
    invoices_total: int | None = Field(default=None, ge=0, description="spread over the projects instead")

    def spread(self, per_project: int, total: int | None, index: int) -> int:
        """Records for the project at ``index``: a fixed number, or a share of a total."""
        if total is None:
            return per_project
        share, extra = divmod(total, self.projects * self.companies)
        return share + (1 if index < extra else 0)
    seed: int = 7


@dataclass(frozen=True)
class Grant:
    """Who a token or an authorization code speaks for: an app (client credentials) or one of its users."""

    client_id: str
    user_id: int | None
    expires: datetime
    redirect_uri: str | None = None


class ProcoreState:
    """The sandbox's data; every change goes through ``lock`` because uvicorn serves threads."""

    def __init__(self, sizes: SeedSizes | None = None):
        self.lock = threading.RLock()
        self.clients = {DEMO_CLIENT_ID: DEMO_CLIENT_SECRET}
        self.redirect_uris = {DEMO_CLIENT_ID: set(DEMO_REDIRECT_URIS)}
        self.tokens: dict[str, Grant] = {}
        self.codes: dict[str, Grant] = {}
        self.refresh_tokens: dict[str, Grant] = {}
        self.reset(sizes or SeedSizes())

    def reset(self, sizes: SeedSizes) -> None:
        """Reseed the company's data; issued tokens stay valid, as they would across Procore edits."""
        with self.lock:
            self._next_id = 1000
            self._next_line_id = LINE_IDS_START
            self.companies = {cid: Company(id=cid, name=name)
                              for cid, name in list(COMPANY_NAMES.items())[:sizes.companies]}
            self.projects: dict[int, Project] = {}
            self.vendors: dict[int, Vendor] = {}
            self.templates: dict[int, PermissionTemplate] = {}
            self.users: dict[int, CompanyUser] = {}
            self.company_members: dict[int, set[int]] = {company: set() for company in self.companies}
            self.project_users: dict[tuple[int, int], ProjectUser] = {}
            self.tables: dict[str, dict[int, BaseModel]] = {name: {} for name in RECORD_TABLES}
            self.by_origin: dict[tuple[str, int, str], int] = {}
            # The records' lines, by the record's id (a commitment's, a CCO's, a requisition's).
            self.commitment_lines: dict[int, list[CommitmentLineItem]] = {}
            self.change_order_lines: dict[int, list[CommitmentChangeOrderLineItem]] = {}
            self.requisition_items: dict[int, list[RequisitionItem]] = {}
            self.sub_jobs: dict[int, list[SubJob]] = {}  # by project id
            _DemoCompany(self, sizes).build()

    def company_user(self, company_id: int, user_id: int) -> CompanyUser | None:
        """A user as the company's directory knows them: only its members are in it."""
        with self.lock:
            return self.users.get(user_id) if user_id in self.company_members.get(company_id, ()) else None

    def cost_codes(self, project_id: int, sub_job_id: int | None = None) -> list[CostCode]:
        """The project's cost codes (the company's standard codes) and each of its sub jobs' own, or one sub
        job's."""
        with self.lock:
            sub_jobs = [job for job in self.sub_jobs.get(project_id, []) if sub_job_id in (None, job.id)]
            own = COST_CODES if sub_job_id is None else []
            return [*own, *(code for job in sub_jobs for code in sub_job_cost_codes(job))]

    def sub_job(self, sub_job_id: int | None) -> SubJob | None:
        with self.lock:
            return next((job for jobs in self.sub_jobs.values() for job in jobs if job.id == sub_job_id), None)

    def new_id(self) -> int:
        with self.lock:
            self._next_id += 1
            return self._next_id

    def new_line_id(self) -> int:
        with self.lock:
            self._next_line_id += 1
            return self._next_line_id

    def issue_token(self, client_id: str, user_id: int | None = None) -> tuple[str, int]:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = Grant(client_id, user_id, now() + TOKEN_LIFETIME)
        return token, int(TOKEN_LIFETIME.total_seconds())

    def grant_of(self, token: str) -> Grant | None:
        with self.lock:
            grant = self.tokens.get(token)
        return grant if grant is not None and grant.expires > now() else None

    def client_of(self, token: str) -> str | None:
        grant = self.grant_of(token)
        return grant.client_id if grant else None

    def sign_in(self, login: str, password: str) -> int | None:
        """The user whose email and password these are, if they are."""
        with self.lock:
            user = next((u for u in self.users.values() if u.email_address.lower() == login.strip().lower()), None)
        return user.id if user and user.is_active and SIGN_INS.get(user.email_address) == password else None

    def issue_code(self, client_id: str, user_id: int, redirect_uri: str) -> str:
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = Grant(client_id, user_id, now() + CODE_LIFETIME, redirect_uri)
        return code

    def redeem_code(self, code: str, client_id: str, redirect_uri: str | None) -> Grant | None:
        """An authorization code works once, for its app and redirect URI, within ten minutes."""
        with self.lock:
            grant = self.codes.pop(code, None)
        if grant is None or grant.expires <= now() or grant.client_id != client_id or grant.redirect_uri != redirect_uri:
            return None
        return grant

    def issue_refresh_token(self, client_id: str, user_id: int) -> str:
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.refresh_tokens[token] = Grant(client_id, user_id, datetime.max.replace(tzinfo=UTC))
        return token

    def redeem_refresh_token(self, refresh_token: str, client_id: str) -> Grant | None:
        """Procore rotates refresh tokens: each one is good for a single refresh."""
        with self.lock:
            grant = self.refresh_tokens.get(refresh_token)
            if grant is None or grant.client_id != client_id:
                return None
            del self.refresh_tokens[refresh_token]
        return grant

    def save(self, table: str, record: BaseModel, touch: bool = True) -> BaseModel:
        if touch:
            record = record.model_copy(update={"updated_at": now()})
        with self.lock:
            previous = self.tables[table].get(record.id)
            if previous is not None and getattr(previous, "origin_id", None):
                self.by_origin.pop((table, record_project(previous), previous.origin_id), None)
            self.tables[table][record.id] = record
            if getattr(record, "origin_id", None):
                self.by_origin[(table, record_project(record), record.origin_id)] = record.id
        return record

    def delete(self, table: str, record_id: int) -> None:
        with self.lock:
            record = self.tables[table].pop(record_id)
            if getattr(record, "origin_id", None):
                self.by_origin.pop((table, record_project(record), record.origin_id), None)

    def find_by_origin(self, table: str, project_id: int, origin_id: str) -> BaseModel | None:
        """Procore's upsert by ``origin_id`` is scoped to a project."""
        with self.lock:
            record_id = self.by_origin.get((table, project_id, origin_id))
            return self.tables[table].get(record_id) if record_id is not None else None


def record_project(record: BaseModel) -> int:
    project = getattr(record, "project", None)
    return project.id if project is not None else record.project_id


class _DemoCompany:
    """Several projects and vendors, commitments in several states, CCOs, invoices and users."""

    # Vendors no seeded record names, with ids of their own (reference data starts at 500000, away from the
    # records' ids): spelt unlike the ERP's, matching two ERP vendors, inactive in the ERP.
    REFERENCE_VENDORS = {500001: "Star Framing, LLC", 500002: "Granite Masonry", 500003: "Summit Roofing"}
    VENDORS = ["Apex Concrete", "Brightline Electric", "Cascade Plumbing", "Delta Steel Erectors",
               "Evergreen Drywall", "Foundry Mechanical"]
    PROJECT_NAMES = ["Harbor Point Tower", "Riverside Medical Pavilion", "Northgate Transit Hub",
                     "Lakeside Elementary", "Summit Logistics Center"]
    COMMITMENT_STATUSES = ["Approved", "Approved", "Draft", "Out For Signature", "Approved", "Complete"]
    CCO_STATUSES = ["approved", "pending", "approved", "draft"]
    INVOICE_STATUSES = ["approved", "under_review", "approved", "draft", "approved_as_noted"]

    def __init__(self, state: ProcoreState, sizes: SeedSizes):
        self.state, self.sizes = state, sizes
        self.rng = random.Random(sizes.seed)
        self.created = now() - timedelta(days=30)

    def build(self) -> None:
        self._permissions()
        vendors = [self._vendor(name) for name in self.VENDORS]
        for vendor_id, name in self.REFERENCE_VENDORS.items():
            self._vendor(name, vendor_id)
        companies = [Ref(id=company.id, name=company.name) for company in self.state.companies.values()]
        for index in range(self.sizes.projects * len(companies)):
            project = self._project(index, companies[index // self.sizes.projects])
            commitments = [self._commitment(project, vendors, n) for n in range(self.sizes.commitments_per_project)]
            if commitments:
                for n in range(self.sizes.spread(self.sizes.change_orders_per_project,
                                                 self.sizes.change_orders_total, index)):
                    self._change_order(project, commitments[n % len(commitments)], n)
                # subcontractors bill commitments that are approved (Procore exports an invoice after its commitment)
                billable = [c for c in commitments if c.status == "Approved"] or commitments
                for n in range(self.sizes.spread(self.sizes.invoices_per_project, self.sizes.invoices_total, index)):
                    self._invoice(project, billable[n % len(billable)], n)

    def _permissions(self) -> None:
        s = self.state
        company_levels = {"ERP Admin": "admin", "ERP Standard": "standard", "ERP Read Only": "read_only",
                          "No ERP Access": "none"}
        company_templates = {}
        for name, level in company_levels.items():
            template = PermissionTemplate(id=s.new_id(), name=name, type="company_tools",
                                          user_access_levels={"erp_integrations": level, "directory": "read_only"})
            s.templates[template.id] = company_templates[name] = template
        project_levels = {"Project Admin": "admin", "Project Manager": "standard", "Field Viewer": "read_only"}
        project_templates = {}
        for name, level in project_levels.items():
            template = PermissionTemplate(id=s.new_id(), name=name, type="project_tools",
                                          user_access_levels={"commitments": level, "directory": "read_only"})
            s.templates[template.id] = project_templates[name] = template
        # (name, company template, Can Push to Accounting, project template, job title, companies or None for all)
        people = [
            ("Avery Admin", "ERP Admin", True, "Project Admin", "Controller", None),
            ("Blake Standard", "ERP Standard", True, "Project Admin", "Project Accountant", None),
            ("Casey Nopush", "ERP Admin", False, "Project Admin", "Project Manager", None),
            ("Devon Viewer", "ERP Read Only", True, "Project Manager", "Assistant PM", None),
            ("Emery Field", "No ERP Access", False, "Field Viewer", "Superintendent", None),
        ]
        harbor_only = ("Harper Quay", "ERP Admin", True, "Project Admin", "Project Accountant", {SECOND_COMPANY_ID})
        self.people = []
        for user_id, person in [(101 + index, person) for index, person in enumerate(people)] + [
                (HARBOR_ONLY_USER_ID, harbor_only)]:
            name, company_template, can_push, project_template, title, companies = person
            first, last = name.split()
            user = CompanyUser(
                id=user_id, name=name, first_name=first, last_name=last,
                email_address=f"{first.lower()}.{last.lower()}@summit.example", job_title=title,
                erp_integrated_accountant=can_push, updated_at=self.created,
                permission_template=Ref(id=company_templates[company_template].id, name=company_template),
            )
            s.users[user.id] = user
            for company in s.companies if companies is None else companies & set(s.companies):
                s.company_members[company].add(user.id)
            self.people.append((user, project_templates[project_template]))

    def _vendor(self, name: str, vendor_id: int | None = None) -> Ref:
        vendor = Vendor(id=vendor_id or self.state.new_id(), name=name, abbreviated_name=name.split()[0].upper()[:6],
                        updated_at=self.created)
        self.state.vendors[vendor.id] = vendor
        return Ref(id=vendor.id, name=vendor.name)

    def _project(self, index: int, company: Ref) -> Ref:
        base = self.PROJECT_NAMES[index % len(self.PROJECT_NAMES)]
        name = base if index < len(self.PROJECT_NAMES) else f"{base} {index // len(self.PROJECT_NAMES) + 1}"
        project = Project(id=self.state.new_id(), name=name, project_number=str(2401 + index),
                          company=company, created_at=self.created, updated_at=self.created)
        self.state.projects[project.id] = project
        self.state.sub_jobs[project.id] = [
            SubJob(id=sub_job_id(int(project.project_number), position), code=sub_job.procore_code, name=sub_job.name,
                   created_at=self.created, updated_at=self.created)
            for position, sub_job in enumerate(DEMO_SUB_JOBS.get(int(project.project_number), ()), start=1)]
        for user, template in self.people:
            if user.id not in self.state.company_members[company.id]:
                continue  # a project's directory holds people of its company
            self.state.project_users[(project.id, user.id)] = ProjectUser(
                id=user.id, name=user.name, email_address=user.email_address,
                permission_template=Ref(id=template.id, name=template.name))
        return Ref(id=project.id, name=project.name)

    def _commitment(self, project: Ref, vendors: list[Ref], n: int) -> Commitment:
        table = "work_order_contracts" if n % 3 else "purchase_order_contracts"
        prefix = "SC" if table == "work_order_contracts" else "PO"
        commitment = Commitment(
            id=self.state.new_id(), number=f"{prefix}-{n + 1:03d}", project=project,
            title=f"{self.rng.choice(['Foundations', 'Electrical rough-in', 'Plumbing', 'Steel', 'Drywall'])} package",
            status=self.COMMITMENT_STATUSES[n % len(self.COMMITMENT_STATUSES)],
            executed=n % 2 == 0, vendor=vendors[n % len(vendors)],
            grand_total=money(self.rng.randrange(20_000, 900_000)), retainage_percent="10.0" if n % 4 != 3 else "0.0",
            contract_date=self.created.date(), created_at=self.created, updated_at=self.created)
        self.state.save(table, commitment, touch=False)
        holder = Holder(id=commitment.id, holder_type="WorkOrderContract" if prefix == "SC" else "PurchaseOrderContract")
        # the project's first two commitments (where it has sub jobs) are each in a sub job of their own
        sub_jobs = self.state.sub_jobs.get(project.id, [])[:2]
        self.state.commitment_lines[commitment.id] = commitment_lines(
            self.state.new_line_id, holder, Decimal(commitment.grand_total), 2 + n % 3, n, self.created,
            sub_jobs[n] if n < len(sub_jobs) else None)
        return commitment

    def _change_order(self, project: Ref, commitment: Commitment, n: int) -> None:
        cco_id = self.state.new_id()
        cco = CommitmentChangeOrder(
            id=cco_id, legacy_package_id=cco_id, number=f"{commitment.number}-CO{n + 1:02d}",
            title=f"Change order {n + 1} on {commitment.number}", contract_id=commitment.id,
            project_id=project.id, status=self.CCO_STATUSES[n % len(self.CCO_STATUSES)],
            grand_total=money(self.rng.randrange(1_000, 60_000)), created_at=self.created,
            updated_at=self.created)
        self.state.save("commitment_change_orders", cco, touch=False)
        changed = self.state.commitment_lines[commitment.id]
        amounts = split(Decimal(cco.grand_total), 1 + n % 2)
        self.state.change_order_lines[cco_id] = [
            change_order_line(self.state.new_line_id(), position, changed[(position - 1) % len(changed)], amount)
            for position, amount in enumerate(amounts, start=1)]

    def _invoice(self, project: Ref, commitment: Commitment, n: int) -> None:
        share = Decimal(self.rng.choice([5, 10, 15])) / 100
        lines = self.state.commitment_lines[commitment.id]
        items = requisition_items(self.state.new_line_id, lines, share, Decimal(commitment.retainage_percent or 0),
                                  self.state.sub_job(lines[0].cost_code.biller_id if lines else None))
        invoice = Requisition(
            id=self.state.new_id(), number=n + 1, invoice_number=f"INV-{project.id}-{n + 1:04d}",
            status=self.INVOICE_STATUSES[n % len(self.INVOICE_STATUSES)], commitment_id=commitment.id,
            project_id=project.id, vendor=commitment.vendor, billing_date=self.created.date(),
            requisition_start=self.created.date().replace(day=1), requisition_end=self.created.date(),
            summary=summary_of(items), created_at=self.created, updated_at=self.created)
        self.state.save("requisitions", invoice, touch=False)
        self.state.requisition_items[invoice.id] = items


def summary_of(items: list[RequisitionItem]) -> RequisitionSummary:
    """A requisition's summary as Procore derives it from its items."""
    to_date = sum((Decimal(item.total_completed_and_stored_to_date) for item in items), Decimal(0))
    return RequisitionSummary(current_payment_due=money(current_payment_due(items)),
                              total_completed_and_stored_to_date=money(to_date),
                              total_retainage=money(total_retainage(items)))
