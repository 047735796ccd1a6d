"""A stand-in for Procore REST v1.0, served under ``/procore``.

Behaves as Procore documents it for what ERP Sync uses: OAuth2 client credentials at
``/oauth/token``; ``Procore-Company-Id`` on every call but ``/companies`` and ``/me``;
``page``/``per_page`` with ``Total``, ``Per-Page`` and ``Link``; ``filters[updated_at]`` ranges
(``start...end``) and ``filters[origin_id]``; ``X-Rate-Limit-*`` headers and 429 past the budget;
errors as ``{"errors": ...}``. The control API in ``control_router`` acts as a Procore user.
"""


import math
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Form, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
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
)

MAX_PER_PAGE = 100
SYNC_BATCH_LIMIT = 1000
MISSING_COMPANY = "Missing Procore-Company-Id header!"


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


def create_procore_app(state: ProcoreState, rate: RateWindow) -> FastAPI:
    app = FastAPI(title="Procore REST API (ERP Sync sandbox)", version="1.0",
                  description="Stand-in for the parts of Procore REST v1.0 that ERP Sync uses.")

    @app.exception_handler(ProcoreError)
    async def _procore_error(_request: Request, error: ProcoreError) -> JSONResponse:
        return JSONResponse({"errors": error.errors}, status_code=error.status, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        messages = {".".join(str(p) for p in e["loc"][1:]) or "request": [e["msg"]] for e in error.errors()}
        return JSONResponse({"errors": messages}, status_code=400)

    @app.post("/oauth/token", tags=["Authentication"], operation_id="createToken")
    def token(grant_type: Annotated[str, Form()], client_id: Annotated[str, Form()],
              client_secret: Annotated[str, Form()]) -> dict[str, Any]:
        if grant_type != "client_credentials":
            raise ProcoreError(400, "unsupported_grant_type")
        if state.clients.get(client_id) != client_secret:
            return JSONResponse({"error": "invalid_client",
                                 "error_description": "Client authentication failed."}, status_code=401)
        access_token, expires_in = state.issue_token(client_id)
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
    CompanyId = Annotated[int, Depends(company_scope)]
    PageQuery = Annotated[Paging, Depends()]

    @open_api.get("/companies", tags=["Core"], operation_id="listCompanies")
    def list_companies(request: Request, response: Response, paging: PageQuery) -> list[Company]:
        return paginate(request, response, list(state.companies.values()), paging)

    @open_api.get("/me", tags=["Core"], operation_id="showMe")
    def me() -> dict[str, Any]:
        return {"id": 1, "login": "erp-sync-service-account@summit.example", "name": "ERP Sync service account"}

    def project_in(company_id: int, project_id: int) -> Project:
        project = state.projects.get(project_id)
        if project is None or project.company.id != company_id:
            raise ProcoreError(404, f"Project {project_id} not found")
        return project

    def company_path(company_id: int, header_company: int) -> None:
        if company_id != header_company:
            raise ProcoreError(403, "The company in the path does not match the Procore-Company-Id header")

    @api.get("/projects", tags=["Core"], operation_id="listProjects")
    def list_projects(request: Request, response: Response, company: CompanyId, paging: PageQuery,
                      company_id: int) -> list[Project]:
        company_path(company_id, company)
        projects = [p for p in state.projects.values() if p.company.id == company_id]
        return paginate(request, response, projects, paging)

    @api.get("/projects/{project_id}", tags=["Core"], operation_id="showProject")
    def show_project(project_id: int, company: CompanyId) -> Project:
        return project_in(company, project_id)

    @api.get("/vendors", tags=["Core"], operation_id="listVendors")
    def list_vendors(request: Request, response: Response, company: CompanyId, paging: PageQuery,
                     company_id: int) -> list[Vendor]:
        company_path(company_id, company)
        return paginate(request, response, list(state.vendors.values()), paging)

    @api.get("/companies/{company_id}/users", tags=["Directory"], operation_id="listCompanyUsers")
    def list_company_users(company_id: int, request: Request, response: Response, company: CompanyId,
                           paging: PageQuery) -> list[CompanyUser]:
        company_path(company_id, company)
        return paginate(request, response, list(state.users.values()), paging)

    @api.get("/companies/{company_id}/users/{user_id}", tags=["Directory"], operation_id="showCompanyUser")
    def show_company_user(company_id: int, user_id: int, company: CompanyId) -> CompanyUser:
        company_path(company_id, company)
        return found(state.users.get(user_id), "User", user_id)

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
        window = parse_range(updated_at) if updated_at else None
        rows = []
        for record in state.tables[table].values():
            if record_project(record) != project_id or getattr(record, "deleted_at", None):
                continue
            if origin_id is not None and record.origin_id != origin_id:
                continue
            if window and not window[0] <= record.updated_at <= window[1]:
                continue
            if any(getattr(record, key) != value for key, value in equal.items() if value is not None):
                continue
            rows.append(record)
        return sorted(rows, key=lambda r: r.id)

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

    UpdatedAt = Annotated[str | None, Query(alias="filters[updated_at]")]
    OriginId = Annotated[str | None, Query(alias="filters[origin_id]")]

    for table, key in (("work_order_contracts", "work_order_contract"),
                       ("purchase_order_contracts", "purchase_order_contract")):
        def register_commitments(table: str = table, key: str = key) -> None:
            @api.get(f"/{table}", tags=["Commitments"], operation_id=f"list_{table}")
            def list_commitments(request: Request, response: Response, company: CompanyId, paging: PageQuery,
                                 project_id: int, updated_at: UpdatedAt = None,
                                 origin_id: OriginId = None) -> list[Commitment]:
                return paginate(request, response, listing(table, company, project_id, updated_at, origin_id), paging)

            @api.get(f"/{table}/{{record_id}}", tags=["Commitments"], operation_id=f"show_{table}")
            def show_commitment(record_id: int, project_id: int, company: CompanyId) -> Commitment:
                return record_in(table, company, project_id, record_id)

            @api.patch(f"/{table}/{{record_id}}", tags=["Commitments"], operation_id=f"update_{table}")
            def update_commitment(record_id: int, project_id: int, company: CompanyId,
                                  body: Annotated[dict[str, dict[str, Any]], Body()]) -> Commitment:
                return api_update(table, record_in(table, company, project_id, record_id), body.get(key, {}))
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

    @api.patch("/projects/{project_id}/commitment_change_orders/{record_id}", tags=["Commitments"],
               operation_id="updateCommitmentChangeOrder")
    def update_cco(project_id: int, record_id: int, company: CompanyId,
                   body: Annotated[dict[str, dict[str, Any]], Body()]) -> CommitmentChangeOrder:
        record = record_in("commitment_change_orders", company, project_id, record_id)
        return api_update("commitment_change_orders", record, body.get("commitment_change_order", {}))

    @api.get("/requisitions", tags=["Commitments"], operation_id="listRequisitions")
    def list_requisitions(request: Request, response: Response, company: CompanyId, paging: PageQuery,
                          project_id: int, updated_at: UpdatedAt = None, origin_id: OriginId = None,
                          commitment_id: int | None = None) -> list[Requisition]:
        rows = listing("requisitions", company, project_id, updated_at, origin_id, commitment_id=commitment_id)
        return paginate(request, response, rows, paging)

    @api.get("/requisitions/{record_id}", tags=["Commitments"], operation_id="showRequisition")
    def show_requisition(record_id: int, project_id: int, company: CompanyId) -> Requisition:
        return record_in("requisitions", company, project_id, record_id)

    @api.patch("/requisitions/{record_id}", tags=["Commitments"], operation_id="updateRequisition")
    def update_requisition(record_id: int, project_id: int, company: CompanyId,
                           body: Annotated[dict[str, dict[str, Any]], Body()]) -> Requisition:
        record = record_in("requisitions", company, project_id, record_id)
        return api_update("requisitions", record, body.get("requisition", {}))

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
    def create_payment(project_id: int, contract_id: int, company: CompanyId,
                       body: Annotated[dict[str, dict[str, Any]], Body()]) -> ContractPayment:
        contract_in(company, project_id, contract_id)
        fields = {**body.get("contract_payment", {}), "contract_id": contract_id, "project_id": project_id}
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
    def update_payment(record_id: int, project_id: int, contract_id: int, company: CompanyId,
                       body: Annotated[dict[str, dict[str, Any]], Body()]) -> ContractPayment:
        contract_in(company, project_id, contract_id)
        record = record_in("contract_payments", company, project_id, record_id)
        return api_update("contract_payments", record, body.get("contract_payment", {}))

    @api.delete("/contract_payments/{record_id}", status_code=204, tags=["Commitments"],
                operation_id="deleteContractPayment")
    def delete_payment(record_id: int, project_id: int, contract_id: int, company: CompanyId) -> Response:
        contract_in(company, project_id, contract_id)
        record_in("contract_payments", company, project_id, record_id)
        state.delete("contract_payments", record_id)
        return Response(status_code=204)

    app.include_router(open_api)
    app.include_router(api)
    return app


def control_router(state: ProcoreState, rate: RateWindow) -> APIRouter:
    """Acts as a Procore user (approve, edit) and resets or resizes the company; not Procore's API."""
    router = APIRouter(tags=["control: procore"])

    @router.post("/reset")
    def reset(sizes: SeedSizes | None = None) -> dict[str, int]:
        state.reset(sizes or SeedSizes())
        return {name: len(rows) for name, rows in state.tables.items()} | {"projects": len(state.projects)}

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

    @router.delete("/{table}/{record_id}")
    def user_delete(table: str, record_id: int) -> dict[str, Any]:
        return user_edit(table, record_id, {"deleted_at": now().isoformat()})

    return router


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
