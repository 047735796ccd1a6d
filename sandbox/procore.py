"""A stand-in for Procore REST v1.0, served under ``/procore``.

Behaves as Procore documents it for what ERP Sync uses: OAuth2 client credentials at
``/oauth/token``, in the form body or HTTP Basic (RFC 6749 section 2.3.1), and the
authorization-code flow people sign in with (a sign-in page at ``/oauth/authorize`` for the seeded
users, a code good once for ten minutes and only with the app's registered redirect URI, refresh
tokens that rotate: each works once); ``/me`` answers as the token's user; write bodies shaped as
Procore's REST reference shapes them (``project_id`` and the parent's id beside the record's
changes; a commitment change order's ``origin_id`` on its change order package);
``Procore-Company-Id`` on every call but ``/companies`` and ``/me``;
``page``/``per_page`` with ``Total``, ``Per-Page`` and ``Link``; ``filters[updated_at]`` ranges
(``start...end``: on the record lists, the projects and the vendors, as Procore's reference lists the filter)
and ``filters[origin_id]``; ``X-Rate-Limit-*`` headers and 429 past the budget;
errors as ``{"errors": ...}``. The control API in ``control_router`` acts as a Procore user.
"""


import base64
import html
import math
import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import unquote_plus, urlencode, urljoin

import requests
from fastapi import APIRouter, Depends, FastAPI, Form, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field, ValidationError

from sandbox.common import RateWindow
from sandbox.procore_data import (
    APPROVED_STATUS,
    PAYMENT_FIELDS_OPEN_WHEN_SYNCED,
    PAYMENT_FIELDS_USERS_MAY_EDIT_WHEN_SYNCED,
    RECORD_TABLES,
    Commitment,
    CommitmentChangeOrder,
    Company,
    CompanyUser,
    ContractPayment,
    PermissionTemplate,
    ProcoreState,
    Project,
    ProjectUser,
    Requisition,
    SeedSizes,
    Vendor,
    now,
    record_project,
    summary_of,
)
from sandbox.procore_lines import (COST_TYPES, LINE_MODELS, CommitmentChangeOrderLineItem, SubJob,
                                   CommitmentLineItem, CostCode, LineItemType)

MAX_PER_PAGE = 100
SYNC_BATCH_LIMIT = 1000
MISSING_COMPANY = "Missing Procore-Company-Id header!"
INVALID_GRANT = ("The provided authorization grant is invalid, expired, revoked, does not match the redirection URI "
                 "used in the authorization request, or was issued to another client.")


class ProcoreError(Exception):
    def __init__(self, status: int, errors: Any, headers: dict[str, str] | None = None):
        self.status, self.errors, self.headers = status, errors, headers or {}


class Paging(BaseModel):
    page: int = Field(default=1, ge=1)
    per_page: int = Field(default=MAX_PER_PAGE, ge=1)


class RateLimitSettings(BaseModel):
    limit: int = Field(default=3600, ge=1)
    window_seconds: float = Field(default=3600, gt=0)
    spike_limit: int = Field(default=200, ge=1)
    spike_seconds: float = Field(default=10, gt=0)


class SyncBody(BaseModel):
    updates: list[dict[str, Any]] = Field(max_length=SYNC_BATCH_LIMIT)


# Request bodies as Procore's REST reference names them: the record's changes under the record's
# key, and the project (and the parent the path needs) at the top level. Rails reads those ids from
# the body or the query alike, so the sandbox takes either.
class ProjectScoped(BaseModel):
    project_id: int | None = Field(default=None, description="Unique identifier for the project.")


class WorkOrderContractBody(ProjectScoped):
    work_order_contract: dict[str, Any]


class PurchaseOrderContractBody(ProjectScoped):
    purchase_order_contract: dict[str, Any]


class RequisitionBody(ProjectScoped):
    commitment_id: int | None = Field(default=None, description="Commitment ID")
    requisition: dict[str, Any] = {}


class ContractPaymentBody(ProjectScoped):
    contract_id: int | None = Field(default=None, description="Contract ID")
    contract_payment: dict[str, Any] = {}


class ChangeOrderBody(BaseModel):
    change_order: dict[str, Any]


class ChangeOrderPackageBody(ProjectScoped):
    contract_id: int | None = Field(default=None, description="ID of the parent contract")
    change_order: dict[str, Any]


# What the reference lets an update of each change order resource set; any other key is ignored, as
# Procore ignores it. A commitment change order takes no origin: its change order package does.
CHANGE_ORDER_FIELDS = {"title", "description", "status", "number", "due_date", "executed"}
CHANGE_ORDER_PACKAGE_FIELDS = {"title", "description", "status", "due_date", "executed", "origin_id", "origin_data",
                               "origin_code"}


def in_scope(name: str, from_body: int | None, from_query: int | None) -> int:
    value = from_body if from_body is not None else from_query
    if value is None:
        raise ProcoreError(400, {name: ["is missing"]})
    return value


def create_procore_app(state: ProcoreState, rate: RateWindow) -> FastAPI:
    state_ = state  # the OAuth routes take a form field named "state"
    app = FastAPI(title="Procore REST API (ERP Sync sandbox)", version="1.0",
                  description="Stand-in for the parts of Procore REST v1.0 that ERP Sync uses.")

    @app.exception_handler(ProcoreError)
    async def _procore_error(_request: Request, error: ProcoreError) -> JSONResponse:
        return JSONResponse({"errors": error.errors}, status_code=error.status, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        messages = {".".join(str(p) for p in e["loc"][1:]) or "request": [e["msg"]] for e in error.errors()}
        return JSONResponse({"errors": messages}, status_code=400)

    @app.get("/oauth/authorize", tags=["Authentication"], operation_id="authorize", response_class=HTMLResponse)
    def authorize(client_id: str, redirect_uri: str, response_type: str = "code", state: str = "") -> HTMLResponse:
        """Procore's sign-in page: the person signs in, then is sent back to the app with a code."""
        app_problem = authorization_problem(client_id, redirect_uri, response_type)
        if app_problem:
            return login_page(client_id, redirect_uri, state, app_problem, status=400, form=False)
        return login_page(client_id, redirect_uri, state)

    @app.post("/oauth/authorize", tags=["Authentication"], operation_id="signIn", response_class=HTMLResponse)
    def sign_in(client_id: Annotated[str, Form()], redirect_uri: Annotated[str, Form()],
                login: Annotated[str, Form()], password: Annotated[str, Form()],
                state: Annotated[str, Form()] = "") -> Response:
        app_problem = authorization_problem(client_id, redirect_uri, "code")
        if app_problem:
            return login_page(client_id, redirect_uri, state, app_problem, status=400, form=False)
        user_id = state_.sign_in(login, password)
        if user_id is None:
            return login_page(client_id, redirect_uri, state, "Invalid email or password.", status=401)
        query = {"code": state_.issue_code(client_id, user_id, redirect_uri)} | ({"state": state} if state else {})
        return RedirectResponse(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(query)}", status_code=302)

    def authorization_problem(client_id: str, redirect_uri: str, response_type: str) -> str | None:
        if client_id not in state_.clients:
            return "Client authentication failed due to unknown client."
        if redirect_uri not in state_.redirect_uris.get(client_id, set()):
            return "The redirect uri included is not valid."
        if response_type != "code":
            return "The authorization server does not support this response type."
        return None

    @app.post("/oauth/token", tags=["Authentication"], operation_id="createToken")
    def token(grant_type: Annotated[str, Form()], client_id: Annotated[str | None, Form()] = None,
              client_secret: Annotated[str | None, Form()] = None, code: Annotated[str | None, Form()] = None,
              redirect_uri: Annotated[str | None, Form()] = None,
              refresh_token: Annotated[str | None, Form()] = None,
              authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        """Client credentials in the form body or in HTTP Basic (RFC 6749 section 2.3.1), not both;
        errors in RFC 6749 section 5.2's shape."""
        basic = basic_credentials(authorization)
        if basic and (client_id or client_secret):
            return oauth_error(400, "invalid_request", "Use one client authentication method, not two.")
        client_id, client_secret = basic or (client_id, client_secret)
        if not client_id or state_.clients.get(client_id) != client_secret:
            headers = {"WWW-Authenticate": 'Basic realm="Procore"'} if basic else {}
            return oauth_error(401, "invalid_client", "Client authentication failed.", headers)
        if grant_type == "client_credentials":
            return token_answer(client_id, None)
        if grant_type == "authorization_code":
            grant = state_.redeem_code(code or "", client_id, redirect_uri)
        elif grant_type == "refresh_token":
            grant = state_.redeem_refresh_token(refresh_token or "", client_id)
        else:
            return oauth_error(400, "unsupported_grant_type",
                               "The authorization grant type is not supported by the authorization server.")
        if grant is None:
            return oauth_error(400, "invalid_grant", INVALID_GRANT)
        return token_answer(client_id, grant.user_id) | {
            "refresh_token": state_.issue_refresh_token(client_id, grant.user_id)}

    def token_answer(client_id: str, user_id: int | None) -> dict[str, Any]:
        access_token, expires_in = state_.issue_token(client_id, user_id)
        return {"access_token": access_token, "token_type": "bearer", "expires_in": expires_in,
                "created_at": int(now().timestamp())}

    def authorized_client(response: Response, authorization: Annotated[str | None, Header()] = None) -> str:
        scheme, _, token = (authorization or "").partition(" ")
        client = state.client_of(token) if scheme.lower() == "bearer" else None
        if client is None:
            raise ProcoreError(401, "The access token is invalid")
        allowed, remaining, reset = rate.take(client)
        headers = {"X-Rate-Limit-Limit": str(rate.limit), "X-Rate-Limit-Remaining": str(remaining),
                   "X-Rate-Limit-Reset": str(reset)}
        if not allowed:
            raise ProcoreError(429, "Rate limit exceeded", headers)
        response.headers.update(headers)
        return client

    def company_scope(procore_company_id: Annotated[str | None, Header(alias="Procore-Company-Id")] = None) -> int:
        if not procore_company_id:
            raise ProcoreError(400, MISSING_COMPANY)
        if not procore_company_id.isdigit() or int(procore_company_id) not in state.companies:
            raise ProcoreError(403, "You do not have access to this company")
        return int(procore_company_id)

    open_api = APIRouter(prefix="/rest/v1.0", dependencies=[Depends(authorized_client)])
    api = APIRouter(prefix="/rest/v1.0", dependencies=[Depends(authorized_client)])
    api_v1_1 = APIRouter(prefix="/rest/v1.1", dependencies=[Depends(authorized_client)])
    api_v2 = APIRouter(prefix="/rest/v2.0", dependencies=[Depends(authorized_client)])
    CompanyId = Annotated[int, Depends(company_scope)]
    PageQuery = Annotated[Paging, Depends()]

    @open_api.get("/companies", tags=["Core"], operation_id="listCompanies")
    def list_companies(request: Request, response: Response, paging: PageQuery) -> list[Company]:
        return paginate(request, response, list(state.companies.values()), paging)

    @open_api.get("/me", tags=["Core"], operation_id="showMe")
    def me(authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        """The token's user; an app's own (client credentials) token is its service account."""
        grant = state_.grant_of((authorization or "").partition(" ")[2])
        user = state_.users.get(grant.user_id) if grant and grant.user_id else None
        if user is None:
            return {"id": 1, "login": "erp-sync-service-account@summit.example", "name": "ERP Sync service account"}
        return {"id": user.id, "login": user.email_address, "name": user.name}

    def project_in(company_id: int, project_id: int) -> Project:
        project = state.projects.get(project_id)
        if project is None or project.company.id != company_id:
            raise ProcoreError(404, f"Project {project_id} not found")
        return project

    def company_path(company_id: int, header_company: int) -> None:
        if company_id != header_company:
            raise ProcoreError(403, "The company in the path does not match the Procore-Company-Id header")

    UpdatedAt = Annotated[str | None, Query(alias="filters[updated_at]")]
    OriginId = Annotated[str | None, Query(alias="filters[origin_id]")]

    @api.get("/projects", tags=["Core"], operation_id="listProjects")
    def list_projects(request: Request, response: Response, company: CompanyId, paging: PageQuery,
                      company_id: int, updated_at: UpdatedAt = None) -> list[Project]:
        company_path(company_id, company)
        projects = [p for p in state.projects.values() if p.company.id == company_id]
        return paginate(request, response, updated_within(projects, updated_at), paging)

    @api.get("/projects/{project_id}", tags=["Core"], operation_id="showProject")
    def show_project(project_id: int, company: CompanyId) -> Project:
        return project_in(company, project_id)

    @api.get("/vendors", tags=["Core"], operation_id="listVendors")
    def list_vendors(request: Request, response: Response, company: CompanyId, paging: PageQuery,
                     company_id: int, updated_at: UpdatedAt = None) -> list[Vendor]:
        company_path(company_id, company)
        return paginate(request, response, updated_within(list(state.vendors.values()), updated_at), paging)

    @api.get("/cost_codes", tags=["Project Admin"], operation_id="listCostCodes")
    def list_cost_codes(request: Request, response: Response, company: CompanyId, paging: PageQuery,
                        project_id: int, sub_job_id: int | None = None) -> list[CostCode]:
        """The company's standard cost codes (every demo project takes them) and the project's sub jobs' own,
        each naming its sub job as ``biller``; ``sub_job_id`` narrows to one sub job's."""
        project_in(company, project_id)
        return paginate(request, response, state.cost_codes(project_id, sub_job_id), paging)

    @api.get("/sub_jobs", tags=["Project Admin"], operation_id="listSubJobs")
    def list_sub_jobs(request: Request, response: Response, company: CompanyId, paging: PageQuery,
                      project_id: int) -> list[SubJob]:
        project_in(company, project_id)
        with state.lock:
            return paginate(request, response, list(state.sub_jobs.get(project_id, [])), paging)

    @api.get("/companies/{company_id}/line_item_types", tags=["Company Admin"], operation_id="listLineItemTypes")
    def list_line_item_types(company_id: int, request: Request, response: Response, company: CompanyId,
                             paging: PageQuery) -> list[LineItemType]:
        company_path(company_id, company)
        return paginate(request, response, COST_TYPES, paging)

    @api.get("/companies/{company_id}/users", tags=["Directory"], operation_id="listCompanyUsers")
    def list_company_users(company_id: int, request: Request, response: Response, company: CompanyId,
                           paging: PageQuery) -> list[CompanyUser]:
        company_path(company_id, company)
        members = [state.users[user_id] for user_id in sorted(state.company_members[company_id])]
        return paginate(request, response, members, paging)

    @api.get("/companies/{company_id}/users/{user_id}", tags=["Directory"], operation_id="showCompanyUser")
    def show_company_user(company_id: int, user_id: int, company: CompanyId) -> CompanyUser:
        company_path(company_id, company)
        return found(state.company_user(company_id, user_id), "User", user_id)

    @api.get("/projects/{project_id}/users", tags=["Directory"], operation_id="listProjectUsers")
    def list_project_users(project_id: int, request: Request, response: Response, company: CompanyId,
                           paging: PageQuery) -> list[ProjectUser]:
        project_in(company, project_id)
        members = [user for (project, _user_id), user in sorted(state.project_users.items()) if project == project_id]
        return paginate(request, response, members, paging)

    @api.get("/projects/{project_id}/users/{user_id}", tags=["Directory"], operation_id="showProjectUser")
    def show_project_user(project_id: int, user_id: int, company: CompanyId) -> ProjectUser:
        project_in(company, project_id)
        return found(state.project_users.get((project_id, user_id)), "User", user_id)

    @api.get("/companies/{company_id}/permission_templates/{template_id}", tags=["Directory"],
             operation_id="showPermissionTemplate")
    def show_permission_template(company_id: int, template_id: int, company: CompanyId) -> PermissionTemplate:
        company_path(company_id, company)
        return found(state.templates.get(template_id), "Permission Template", template_id)

    def listing(table: str, company: int, project_id: int, updated_at: str | None, origin_id: str | None,
                **equal: Any) -> list[BaseModel]:
        project_in(company, project_id)
        rows = []
        for record in state.tables[table].values():
            if record_project(record) != project_id or getattr(record, "deleted_at", None):
                continue
            if origin_id is not None and record.origin_id != origin_id:
                continue
            if any(getattr(record, key) != value for key, value in equal.items() if value is not None):
                continue
            rows.append(record)
        return sorted(updated_within(rows, updated_at), key=lambda r: r.id)

    def record_in(table: str, company: int, project_id: int, record_id: int) -> BaseModel:
        project_in(company, project_id)
        record = state.tables[table].get(record_id)
        if record is None or record_project(record) != project_id or getattr(record, "deleted_at", None):
            raise ProcoreError(404, f"{RECORD_TABLES[table].__name__} {record_id} not found")
        return record

    def api_update(table: str, record: BaseModel, changes: dict[str, Any]) -> BaseModel:
        changes = {k: v for k, v in changes.items() if k in type(record).model_fields and k not in {"id", "created_at"}}
        if isinstance(record, ContractPayment) and record.origin_id:
            locked = sorted(set(changes) - PAYMENT_FIELDS_OPEN_WHEN_SYNCED)
            if locked:
                raise ProcoreError(422, {f: ["is locked because the payment is synced with an ERP"] for f in locked})
        return state.save(table, validated(record, changes))

    for table, key, body_model in (("work_order_contracts", "work_order_contract", WorkOrderContractBody),
                                   ("purchase_order_contracts", "purchase_order_contract", PurchaseOrderContractBody)):
        def register_commitments(table: str = table, key: str = key, body_model: type = body_model) -> None:
            @api.get(f"/{table}", tags=["Commitments"], operation_id=f"list_{table}")
            def list_commitments(request: Request, response: Response, company: CompanyId, paging: PageQuery,
                                 project_id: int, updated_at: UpdatedAt = None,
                                 origin_id: OriginId = None) -> list[Commitment]:
                return paginate(request, response, listing(table, company, project_id, updated_at, origin_id), paging)

            @api.get(f"/{table}/{{record_id}}", tags=["Commitments"], operation_id=f"show_{table}")
            def show_commitment(record_id: int, project_id: int, company: CompanyId) -> Commitment:
                return record_in(table, company, project_id, record_id)

            @api.get(f"/{table}/{{record_id}}/line_items", tags=["Commitments"], operation_id=f"list_{table}_line_items")
            def list_line_items(record_id: int, project_id: int, request: Request, response: Response,
                                company: CompanyId, paging: PageQuery) -> list[CommitmentLineItem]:
                """The commitment's schedule of values."""
                record_in(table, company, project_id, record_id)
                return paginate(request, response, state.commitment_lines.get(record_id, []), paging)

            @api.patch(f"/{table}/{{record_id}}", tags=["Commitments"], operation_id=f"update_{table}")
            def update_commitment(record_id: int, company: CompanyId, body: body_model,
                                  project_id: int | None = None) -> Commitment:
                project = in_scope("project_id", body.project_id, project_id)
                return api_update(table, record_in(table, company, project, record_id), getattr(body, key))
        register_commitments()

    @api.get("/projects/{project_id}/commitment_change_orders", tags=["Commitments"],
             operation_id="listCommitmentChangeOrders")
    def list_ccos(project_id: int, request: Request, response: Response, company: CompanyId, paging: PageQuery,
                  updated_at: UpdatedAt = None, origin_id: OriginId = None,
                  contract_id: int | None = None) -> list[CommitmentChangeOrder]:
        rows = listing("commitment_change_orders", company, project_id, updated_at, origin_id, contract_id=contract_id)
        return paginate(request, response, rows, paging)

    @api.get("/projects/{project_id}/commitment_change_orders/{record_id}", tags=["Commitments"],
             operation_id="showCommitmentChangeOrder")
    def show_cco(project_id: int, record_id: int, company: CompanyId) -> CommitmentChangeOrder:
        return record_in("commitment_change_orders", company, project_id, record_id)

    @api_v2.get("/companies/{company_id}/projects/{project_id}/commitment_change_orders/{record_id}/line_items",
                tags=["Commitments"], operation_id="listCommitmentChangeOrderLineItems")
    def list_cco_line_items(company_id: int, project_id: int, record_id: int, request: Request, response: Response,
                            company: CompanyId, paging: PageQuery) -> dict[str, list[CommitmentChangeOrderLineItem]]:
        """v2.0 wraps a list in ``data``; each line names the commitment line it changes."""
        company_path(company_id, company)
        record_in("commitment_change_orders", company, project_id, record_id)
        return {"data": paginate(request, response, state.change_order_lines.get(record_id, []), paging)}

    @api.patch("/projects/{project_id}/commitment_change_orders/{record_id}", tags=["Commitments"],
               operation_id="updateCommitmentChangeOrder")
    def update_cco(project_id: int, record_id: int, company: CompanyId, body: ChangeOrderBody) -> CommitmentChangeOrder:
        record = record_in("commitment_change_orders", company, project_id, record_id)
        return api_update("commitment_change_orders", record, only(body.change_order, CHANGE_ORDER_FIELDS))

    @api.patch("/change_order_packages/{package_id}", tags=["Commitments"], operation_id="updateChangeOrderPackage")
    def update_change_order_package(package_id: int, company: CompanyId, body: ChangeOrderPackageBody,
                                    project_id: int | None = None) -> CommitmentChangeOrder:
        """A commitment change order's package (its ``legacy_package_id``); this one takes ``origin_id``."""
        project = in_scope("project_id", body.project_id, project_id)
        project_in(company, project)
        record = next((r for r in state.tables["commitment_change_orders"].values()
                       if r.legacy_package_id == package_id and r.project_id == project and not r.deleted_at), None)
        if record is None or body.contract_id not in (None, record.contract_id):
            raise ProcoreError(404, f"Change Order Package {package_id} not found")
        return api_update("commitment_change_orders", record, only(body.change_order, CHANGE_ORDER_PACKAGE_FIELDS))

    @api.get("/requisitions", tags=["Commitments"], operation_id="listRequisitions")
    def list_requisitions(request: Request, response: Response, company: CompanyId, paging: PageQuery,
                          project_id: int, updated_at: UpdatedAt = None, origin_id: OriginId = None,
                          commitment_id: int | None = None) -> list[Requisition]:
        rows = listing("requisitions", company, project_id, updated_at, origin_id, commitment_id=commitment_id)
        return paginate(request, response, rows, paging)

    @api.get("/requisitions/{record_id}", tags=["Commitments"], operation_id="showRequisition")
    def show_requisition(record_id: int, project_id: int, company: CompanyId) -> Requisition:
        return record_in("requisitions", company, project_id, record_id)

    @api_v1_1.get("/requisitions/{record_id}", tags=["Commitments"], operation_id="showRequisitionV11")
    def show_requisition_v11(record_id: int, project_id: int, company: CompanyId,
                             view: str | None = None) -> dict[str, Any]:
        """v1.1 adds ``items`` only when ``view`` includes ``extended`` or ``items``."""
        record = record_in("requisitions", company, project_id, record_id).model_dump(mode="json")
        if set((view or "").split(",")) & {"extended", "items"}:
            record["items"] = [item.model_dump(mode="json") for item in state.requisition_items.get(record_id, [])]
        return record

    @api.patch("/requisitions/{record_id}", tags=["Commitments"], operation_id="updateRequisition")
    def update_requisition(record_id: int, company: CompanyId, body: RequisitionBody, project_id: int | None = None,
                           commitment_id: int | None = None) -> Requisition:
        record = record_in("requisitions", company, in_scope("project_id", body.project_id, project_id), record_id)
        commitment = in_scope("commitment_id", body.commitment_id, commitment_id)
        if commitment != record.commitment_id:
            raise ProcoreError(404, f"Requisition {record_id} not found on commitment {commitment}")
        return api_update("requisitions", record, body.requisition)

    def contract_in(company: int, project_id: int, contract_id: int) -> BaseModel:
        for table in ("work_order_contracts", "purchase_order_contracts"):
            if contract_id in state.tables[table]:
                return record_in(table, company, project_id, contract_id)
        raise ProcoreError(404, f"Contract {contract_id} not found")

    @api.get("/contract_payments", tags=["Commitments"], operation_id="listContractPayments")
    def list_payments(request: Request, response: Response, company: CompanyId, paging: PageQuery,
                      project_id: int, contract_id: int, updated_at: UpdatedAt = None,
                      origin_id: OriginId = None) -> list[ContractPayment]:
        contract_in(company, project_id, contract_id)
        rows = listing("contract_payments", company, project_id, updated_at, origin_id, contract_id=contract_id)
        return paginate(request, response, rows, paging)

    @api.get("/contract_payments/{record_id}", tags=["Commitments"], operation_id="showContractPayment")
    def show_payment(record_id: int, project_id: int, contract_id: int, company: CompanyId) -> ContractPayment:
        contract_in(company, project_id, contract_id)
        return record_in("contract_payments", company, project_id, record_id)

    @api.post("/contract_payments", status_code=201, tags=["Commitments"], operation_id="createContractPayment")
    def create_payment(company: CompanyId, body: ContractPaymentBody, project_id: int | None = None,
                       contract_id: int | None = None) -> ContractPayment:
        project_id = in_scope("project_id", body.project_id, project_id)
        contract_id = in_scope("contract_id", body.contract_id, contract_id)
        contract_in(company, project_id, contract_id)
        fields = {**body.contract_payment, "contract_id": contract_id, "project_id": project_id}
        return state.save("contract_payments", new_record(ContractPayment, state.new_id(), fields))

    @api.patch("/contract_payments/sync", tags=["Commitments"], operation_id="syncContractPayments")
    def sync_payments(project_id: int, company: CompanyId, body: SyncBody) -> dict[str, list]:
        project_in(company, project_id)
        entities, errors = [], []
        with state.lock:
            for update in body.updates:
                try:
                    entities.append(upsert_payment(project_id, company, update))
                except (ProcoreError, ValidationError) as error:
                    detail = error.errors if isinstance(error, ProcoreError) else error.errors(include_url=False)
                    errors.append({"id": update.get("id"), "origin_id": update.get("origin_id"), "errors": detail})
        return {"entities": entities, "errors": errors}

    def upsert_payment(project_id: int, company: int, update: dict[str, Any]) -> ContractPayment:
        existing = None
        if update.get("id"):
            existing = record_in("contract_payments", company, project_id, int(update["id"]))
        elif update.get("origin_id"):
            existing = state.find_by_origin("contract_payments", project_id, update["origin_id"])
        if existing is None:
            contract_in(company, project_id, int(update.get("contract_id", 0)))
            fields = {**update, "project_id": project_id}
            return state.save("contract_payments", new_record(ContractPayment, state.new_id(), fields))
        changes = {k: v for k, v in update.items() if k not in {"id", "project_id", "created_at"}}
        if changes == {k: getattr(existing, k, None) for k in changes}:
            return existing
        return state.save("contract_payments", validated(existing, changes))

    @api.patch("/contract_payments/{record_id}", tags=["Commitments"], operation_id="updateContractPayment")
    def update_payment(record_id: int, company: CompanyId, body: ContractPaymentBody, project_id: int | None = None,
                       contract_id: int | None = None) -> ContractPayment:
        project_id = in_scope("project_id", body.project_id, project_id)
        contract_in(company, project_id, in_scope("contract_id", body.contract_id, contract_id))
        record = record_in("contract_payments", company, project_id, record_id)
        return api_update("contract_payments", record, body.contract_payment)

    @api.delete("/contract_payments/{record_id}", status_code=204, tags=["Commitments"],
                operation_id="deleteContractPayment")
    def delete_payment(record_id: int, project_id: int, contract_id: int, company: CompanyId) -> Response:
        contract_in(company, project_id, contract_id)
        record_in("contract_payments", company, project_id, record_id)
        state.delete("contract_payments", record_id)
        return Response(status_code=204)

    app.include_router(open_api)
    app.include_router(api)
    app.include_router(api_v1_1)
    app.include_router(api_v2)
    return app


def control_router(state: ProcoreState, rate: RateWindow) -> APIRouter:
    """Acts as a Procore user (approve, edit) and resets or resizes the company; not Procore's API."""
    router = APIRouter(tags=["control: procore"])

    @router.post("/reset")
    def reset(sizes: SeedSizes | None = None) -> dict[str, int]:
        state.reset(sizes or SeedSizes())
        return {name: len(rows) for name, rows in state.tables.items()} | {"projects": len(state.projects)}

    @router.put("/apps/{client_id}/redirect_uris")
    def register_redirect_uris(client_id: str, redirect_uris: list[str]) -> list[str]:
        """What an app's owner does in Procore's developer portal: say where sign-ins may return to."""
        if client_id not in state.clients:
            raise HTTPException(404, f"no app with client id {client_id}")
        with state.lock:
            state.redirect_uris[client_id] = set(redirect_uris)
        return sorted(state.redirect_uris[client_id])

    @router.put("/rate_limit")
    def set_rate_limit(settings: RateLimitSettings) -> RateLimitSettings:
        rate.configure(settings.limit, settings.window_seconds, settings.spike_limit, settings.spike_seconds)
        return settings

    @router.get("/rate_limit")
    def rate_windows() -> dict[str, Any]:
        """The budget's settings and the calls each window admitted (what the benchmarks measure)."""
        settings = RateLimitSettings(limit=rate.limit, window_seconds=rate.window_seconds,
                                     spike_limit=rate.spike_limit, spike_seconds=rate.spike_seconds)
        return settings.model_dump() | {"windows": rate.windows()}

    @router.get("/{table}")
    def dump(table: str) -> list[dict[str, Any]]:
        with state.lock:
            return [r.model_dump(mode="json") for r in known_table(state, table).values()]

    @router.post("/{table}/{record_id}/approve")
    def approve(table: str, record_id: int) -> dict[str, Any]:
        if table not in APPROVED_STATUS:
            raise HTTPException(404, f"{table} has no approval")
        return user_edit(table, record_id, {"status": APPROVED_STATUS[table]})

    @router.patch("/{table}/{record_id}")
    def user_edit(table: str, record_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        with state.lock:
            record = known_table(state, table).get(record_id)
            if record is None:
                raise HTTPException(404, f"{table} {record_id} not found")
            if isinstance(record, ContractPayment) and record.origin_id:
                locked = sorted(set(changes) - PAYMENT_FIELDS_USERS_MAY_EDIT_WHEN_SYNCED)
                if locked:
                    raise HTTPException(422, f"Synced payments are locked in Procore: {', '.join(locked)}")
            try:
                return state.save(table, validated(record, changes)).model_dump(mode="json")
            except ValidationError as error:
                raise HTTPException(422, error.errors(include_url=False)) from error

    @router.get("/{table}/{record_id}/lines")
    def record_lines(table: str, record_id: int) -> list[dict[str, Any]]:
        lines, _model = lines_of(state, table)
        with state.lock:
            return [line.model_dump(mode="json") for line in lines.get(record_id, [])]

    @router.put("/{table}/{record_id}/lines")
    def edit_lines(table: str, record_id: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """A user edits the record's lines (the schedule of values, the change order's lines, the invoice's
        items); the record's total follows them and its ``updated_at`` moves."""
        lines, model = lines_of(state, table)
        try:
            edited = [model.model_validate(row) for row in rows]
        except ValidationError as error:
            raise HTTPException(422, error.errors(include_url=False)) from error
        with state.lock:
            record = known_table(state, table).get(record_id)
            if record is None:
                raise HTTPException(404, f"{table} {record_id} not found")
            lines[record_id] = edited
            totals = ({"summary": summary_of(edited)} if table == "requisitions"
                      else {"grand_total": f"{sum(Decimal(line.amount) for line in edited):.2f}"})
            return state.save(table, record.model_copy(update=totals)).model_dump(mode="json")

    @router.delete("/{table}/{record_id}")
    def user_delete(table: str, record_id: int) -> dict[str, Any]:
        return user_edit(table, record_id, {"deleted_at": now().isoformat()})

    return router


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """HTTP Basic client credentials, each form-urlencoded before encoding (RFC 6749 section 2.3.1)."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, sep, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (unquote_plus(client_id), unquote_plus(secret)) if sep else None


def oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status, headers=headers)


def only(changes: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    return {k: v for k, v in changes.items() if k in allowed}


def sign_in(authorize_url: str, login: str, password: str) -> str:
    """A person on the sign-in page: fills in their email and password; returns where Procore sends them back."""
    page = requests.get(authorize_url, timeout=30)
    page.raise_for_status()
    form = {name: html.unescape(value) for name, value in re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"',
                                                                     page.text)}
    answer = requests.post(urljoin(page.url, "authorize"), data={**form, "login": login, "password": password},
                           allow_redirects=False, timeout=30)
    if answer.status_code != 302:
        raise PermissionError(f"Procore's sign-in refused {login}: {answer.status_code} {answer.text[:200]}")
    return answer.headers["location"]


def login_page(client_id: str, redirect_uri: str, state: str, problem: str | None = None, status: int = 200,
               form: bool = True) -> HTMLResponse:
    """Procore's sign-in page, reduced to what a person fills in."""
    def hidden(name: str, value: str) -> str:
        return f'<input type="hidden" name="{name}" value="{html.escape(value, quote=True)}">'

    fields = (f'<form method="post" action="authorize">{hidden("client_id", client_id)}'
              f'{hidden("redirect_uri", redirect_uri)}{hidden("state", state)}'
              '<label>Email <input name="login" type="email" autocomplete="username"></label> '
              '<label>Password <input name="password" type="password" autocomplete="current-password"></label> '
              '<button type="submit">Sign in</button></form>') if form else ""
    error = f'<p class="error">{html.escape(problem)}</p>' if problem else ""
    return HTMLResponse(f"<!doctype html><title>Sign in to Procore (sandbox)</title><h1>Sign in to Procore</h1>"
                        f"{error}{fields}", status_code=status)


def lines_of(state: ProcoreState, table: str) -> tuple[dict[int, list[BaseModel]], type[BaseModel]]:
    held = {"work_order_contracts": state.commitment_lines, "purchase_order_contracts": state.commitment_lines,
            "commitment_change_orders": state.change_order_lines, "requisitions": state.requisition_items}
    if table not in held:
        raise HTTPException(404, f"{table} has no lines")
    return held[table], LINE_MODELS[table]


def known_table(state: ProcoreState, table: str) -> dict[int, BaseModel]:
    if table not in state.tables:
        raise HTTPException(404, f"unknown table {table}; known: {', '.join(state.tables)}")
    return state.tables[table]


def validated(record: BaseModel, changes: dict[str, Any]) -> BaseModel:
    """Apply changes and re-validate, so a sandbox record never holds a shape Procore would not send."""
    return type(record).model_validate({**record.model_dump(), **changes})


def new_record(model: type[BaseModel], record_id: int, fields: dict[str, Any]) -> BaseModel:
    stamp = now()
    known = {k: v for k, v in fields.items() if k in model.model_fields}
    try:
        return model.model_validate({**known, "id": record_id, "created_at": stamp, "updated_at": stamp})
    except ValidationError as error:
        raise ProcoreError(422, {".".join(map(str, e["loc"])): [e["msg"]] for e in error.errors()}) from error


def found(record: BaseModel | None, noun: str, record_id: int) -> BaseModel:
    if record is None:
        raise ProcoreError(404, f"{noun} {record_id} not found")
    return record


def updated_within(rows: list, updated_at: str | None) -> list:
    """``filters[updated_at]``: the rows last updated within the range (every row without one)."""
    if not updated_at:
        return rows
    start, end = parse_range(updated_at)
    return [row for row in rows if start <= row.updated_at <= end]


def parse_range(value: str) -> tuple[datetime, datetime]:
    start, sep, end = value.partition("...")
    try:
        if not sep:
            raise ValueError
        return datetime.fromisoformat(start.replace("Z", "+00:00")), datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError as error:
        raise ProcoreError(400, {"filters[updated_at]": ["must be a range: 2024-01-01T00:00:00Z...2024-01-31T23:59:59Z"]}) from error


def paginate(request: Request, response: Response, rows: list, paging: Paging) -> list:
    per_page = min(paging.per_page, MAX_PER_PAGE)
    last = max(1, math.ceil(len(rows) / per_page))
    response.headers["Total"] = str(len(rows))
    response.headers["Per-Page"] = str(per_page)

    def link(page: int, rel: str) -> str:
        return f'<{request.url.include_query_params(page=page, per_page=per_page)}>; rel="{rel}"'

    links = [link(1, "first")]
    if paging.page > 1:
        links.append(link(min(paging.page - 1, last), "prev"))
    if paging.page < last:
        links.append(link(paging.page + 1, "next"))
    links.append(link(last, "last"))
    response.headers["Link"] = ", ".join(links)
    return rows[(paging.page - 1) * per_page: paging.page * per_page]
