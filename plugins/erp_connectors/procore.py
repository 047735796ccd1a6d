"""Procore REST v1.0.

Airflow connection (type ``http``): host = API base URL (``https://api.procore.com``, or the
sandbox's ``http://127.0.0.1:8700/procore``), login = OAuth client id, password = client secret.
Extra ``token_url`` says where tokens come from: Procore issues them at
``https://login.procore.com/oauth/token`` (the default); a sandbox or Procore's developer sandbox
sets its own. People sign in at the ``/oauth/authorize`` beside it (extra ``authorize_url``
overrides that).

The pipelines call Procore as the app (client credentials). People connect their own Procore
account through the authorization-code flow, which proves who they are: ``GET /rest/v1.0/me`` with
their token answers their user. Procore rotates refresh tokens: each refresh answers a new one and
the old one stops working.

Facts relied on (Procore developer documentation): client-credentials tokens live about 90
minutes; every call carries ``Procore-Company-Id`` ("Missing Procore-Company-Id header!"
otherwise); lists page with ``page``/``per_page`` and link the next page in ``Link``; the budget is
reported in ``X-Rate-Limit-Limit``/``-Remaining``/``-Reset`` (epoch seconds) and 429 past it;
the "Can Push to Accounting" privilege is the company user's ``erp_integrated_accountant``; tool
access levels come from the user's permission template (``user_access_levels``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlencode

from erp_connectors.base import NO_AUTH, BearerToken, VendorApiError, VendorHook

API = "rest/v1.0"
API_V1_1 = "rest/v1.1"
API_V2 = "rest/v2.0"
PROCORE_TOKEN_URL = "https://login.procore.com/oauth/token"
ACCESS_ORDER = ("none", "read_only", "standard", "admin")


@dataclass(frozen=True)
class ApproverPermissions:
    """What makes an accounting approver, who accepts or rejects exports (Procore's ERP articles)."""

    erp_integrations_level: str
    can_push_to_accounting: bool

    def missing(self) -> list[str]:
        gaps = []
        if self.erp_integrations_level not in ("standard", "admin"):
            gaps.append("'Standard' or 'Admin' on the company's ERP Integrations tool")
        if not self.can_push_to_accounting:
            gaps.append("the 'Can Push to Accounting' privilege in the Company Directory")
        return gaps


@dataclass(frozen=True)
class UnlinkPermissions(ApproverPermissions):
    """The three permissions Procore's unlink articles ask for: an approver's two, and the project's."""

    commitments_level: str = "none"

    def missing(self) -> list[str]:
        gaps = [] if self.commitments_level == "admin" else ["'Admin' on the project's Commitments tool"]
        return gaps + super().missing()


@dataclass(frozen=True)
class UserGrant:
    """What Procore hands out when a person signs in or their grant is refreshed; never logged."""

    access_token: str
    refresh_token: str

    def __repr__(self) -> str:
        return "UserGrant(<secret>)"


class ProcoreHook(VendorHook):
    vendor = "procore"
    conn_type = "http"
    hook_name = "Procore"
    settings_extras: ClassVar[tuple[str, ...]] = ("token_url", "authorize_url", "sync_share")
    rate_limit_header = "X-Rate-Limit-Limit"
    rate_remaining_header = "X-Rate-Limit-Remaining"
    rate_reset_header = "X-Rate-Limit-Reset"
    rate_limit_header = "X-Rate-Limit-Limit"
    per_page: ClassVar[int] = 100

    def __init__(self, conn_id: str, company_id: int | None = None, **kwargs: Any):
        """Without a company, only what needs none works: signing people in and ``/me``."""
        self.company_id = int(company_id) if company_id is not None else None
        self._token = BearerToken(self._fetch_token)
        super().__init__(conn_id, auth_type=lambda *_credentials: self._token, **kwargs)

    def _fetch_token(self) -> tuple[str, float]:
        response = self.send_once(
            "POST", self.token_url, auth=NO_AUTH,
            data={"grant_type": "client_credentials", "client_id": self.connection.login,
                  "client_secret": self.connection.password})
        body = response.json()
        return body["access_token"], float(body.get("expires_in", 5400))

    def reauthenticate(self) -> bool:
        return self._token.forget()

    @property
    def token_url(self) -> str:
        return self.extras.get("token_url") or PROCORE_TOKEN_URL

    def default_request_headers(self) -> dict[str, str]:
        company = {"Procore-Company-Id": str(self.company_id)} if self.company_id is not None else {}
        return super().default_request_headers() | company

    # People signing in (OAuth authorization code) ------------------------------------------

    def authorization_url(self, redirect_uri: str, state: str) -> str:
        """Where a person's browser goes to sign in to Procore and allow the app."""
        base = self.extras.get("authorize_url") or self.token_url.removesuffix("/token") + "/authorize"
        query = {"response_type": "code", "client_id": self.connection.login, "redirect_uri": redirect_uri,
                 "state": state}
        return f"{base}?{urlencode(query)}"

    def grant_from_code(self, code: str, redirect_uri: str) -> UserGrant:
        return self._user_grant({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})

    def grant_from_refresh(self, refresh_token: str) -> UserGrant:
        """A fresh access token; the refresh token given is spent and the answer's is the one to keep."""
        return self._user_grant({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def _user_grant(self, grant: dict[str, str]) -> UserGrant:
        # Not retried: a code or refresh token is spent by the first answer, even one that is lost.
        response = self.request("POST", self.token_url, auth=NO_AUTH, idempotent=False, data={
            **grant, "client_id": self.connection.login, "client_secret": self.connection.password})
        body = response.json()
        return UserGrant(body["access_token"], body["refresh_token"])

    def signed_in_user(self, access_token: str) -> dict[str, Any]:
        """``GET /me`` with a person's own token: Procore says who they are (``id``, ``login``, ``name``)."""
        return self.request("GET", f"{API}/me", auth=BearerToken(lambda: (access_token, 60))).json()

    def metered(self, url: str) -> bool:
        return url != self.token_url  # tokens come from the login host, outside the API's budget

    def get(self, path: str, api: str = API, **params: Any) -> Any:
        """One resource; ``api`` names another version where Procore keeps it there (``rest/v1.1``)."""
        return self.request("GET", f"{api}/{path}", params=params).json()

    def patch(self, path: str, body: dict[str, Any], **params: Any) -> Any:
        return self.request("PATCH", f"{API}/{path}", params=params, json=body).json()

    def paginate(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every row of a list, page by page, following the ``Link`` header's ``next``."""
        for _page, rows in self.pages(path, **params):
            yield from rows

    def pages(self, path: str, first_page: int = 1, api: str = API,
              **params: Any) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        """A list's pages from ``first_page`` on, each with its number (where a stopped read resumes);
        v2.0 wraps each page in ``data``."""
        url: str | None = f"{api}/{path}"
        query: dict[str, Any] | None = {**params, "page": first_page, "per_page": self.per_page}
        page = first_page
        while url:
            response = self.request("GET", url, params=query)
            body = response.json()
            yield page, body["data"] if isinstance(body, dict) else body
            url, query, page = response.links.get("next", {}).get("url"), None, page + 1

    def check(self) -> dict[str, int]:
        """The credentials work and reach the integration's company."""
        companies = {company["id"] for company in self.paginate("companies")}
        if self.company_id not in companies:
            raise VendorApiError(self.vendor, "GET", f"{API}/companies", 403,
                                 f"connection {self.http_conn_id!r} cannot see company {self.company_id}; "
                                 f"it sees {sorted(companies)}")
        return {"procore_projects": len(self.projects())}

    # Company and directory ----------------------------------------------------------------

    def projects(self) -> list[dict[str, Any]]:
        return list(self.paginate("projects", company_id=self.company_id))

    def company_name(self) -> str | None:
        """The company's name as Procore gives it (``GET companies``, the companies this connection sees)."""
        return next((company.get("name") for company in self.paginate("companies")
                     if company["id"] == self.company_id), None)

    def approver_permissions(self, user_id: int) -> ApproverPermissions:
        company_user = self.get(f"companies/{self.company_id}/users/{user_id}")
        return ApproverPermissions(erp_integrations_level=self._tool_level(company_user, "erp_integrations"),
                                   can_push_to_accounting=bool(company_user.get("erp_integrated_accountant")))

    def unlink_permissions(self, user_id: int, project_id: int) -> UnlinkPermissions:
        approver = self.approver_permissions(user_id)
        try:
            project_user = self.get(f"projects/{project_id}/users/{user_id}")
        except VendorApiError as error:
            if error.status != 404:
                raise
            project_user = {}  # not in the project's directory: no access to its tools
        return UnlinkPermissions(**vars(approver), commitments_level=self._tool_level(project_user, "commitments"))

    def payment_sync_refusal(self, user_id: int) -> str | None:
        """Why this user may not start the payment import on demand, or None if they may: it takes
        'Admin' on the ERP Integrations tool or being an accounting approver ('Can Push to Accounting')."""
        try:
            user = self.get(f"companies/{self.company_id}/users/{user_id}")
        except VendorApiError as error:
            if error.status != 404:
                raise
            return f"Procore user {user_id} is not in the directory of company {self.company_id}."
        if self._tool_level(user, "erp_integrations") == "admin" or user.get("erp_integrated_accountant"):
            return None
        return (f"{user.get('name', user_id)} (Procore user {user_id}) may not sync payments on demand: it takes "
                "'Admin' on the ERP Integrations tool or being an accounting approver ('Can Push to Accounting').")

    def sync_payments(self, project_id: int, updates: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        """Upsert Payments Issued by ``id`` or ``origin_id`` (at most 1,000 at once): repeating it is harmless."""
        return self.patch("contract_payments/sync", {"updates": updates}, project_id=project_id)

    def _tool_level(self, user: dict[str, Any], tool: str) -> str:
        template = user.get("permission_template")
        if not template:
            return "none"
        levels = self.get(f"companies/{self.company_id}/permission_templates/{template['id']}")
        level = levels.get("user_access_levels", {}).get(tool, "none")
        return level if level in ACCESS_ORDER else "none"
