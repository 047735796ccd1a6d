"""Acumatica Cloud ERP, contract-based REST API.

Airflow connection (type ``http``): host = the instance URL (``https://summit.acumatica.com``, or
the sandbox's ``http://127.0.0.1:8700/acumatica``), login/password = an API user; extras
``tenant`` (required), ``branch``, ``endpoint_name`` (``Default``) and ``endpoint_version``.

Facts relied on (Acumatica Integration Development Guide): ``POST /entity/auth/login`` opens a
cookie session that holds a license seat until ``POST /entity/auth/logout``, so the hook logs in
on first use and always logs out when closed; every field is wrapped as ``{"value": ...}``;
lists take ``$filter``/``$select``/``$expand``/``$top``/``$skip`` and details come only when
expanded; PUT creates or updates by key; actions answer 202 and a ``Location`` to poll until 204;
past the license's limits the instance answers 429.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar

import requests

from erp_connectors.base import VendorApiError, VendorHook

DEFAULT_ENDPOINT, DEFAULT_VERSION = "Default", "24.200.001"
ACTION_POLL_SECONDS, ACTION_TIMEOUT_SECONDS = 1.0, 300


def wrap(fields: dict[str, Any]) -> dict[str, Any]:
    """Plain values to Acumatica's wrapped form; lists of dicts are detail lines."""
    wrapped: dict[str, Any] = {}
    for name, value in fields.items():
        if name in ("id", "delete"):  # a record's or line's identity and the delete flag are not wrapped
            wrapped[name] = value
        elif isinstance(value, list):
            wrapped[name] = [wrap(line) for line in value]
        else:
            wrapped[name] = {"value": value.isoformat() if isinstance(value, datetime) else value}
    return wrapped


def unwrap(record: dict[str, Any]) -> dict[str, Any]:
    plain: dict[str, Any] = {}
    for name, value in record.items():
        if isinstance(value, dict) and "value" in value:
            plain[name] = value["value"]
        elif isinstance(value, list):
            plain[name] = [unwrap(line) for line in value]
        elif name in ("id",):
            plain[name] = value
    return plain


def odata_datetime(moment: datetime) -> str:
    return f"datetimeoffset'{moment.isoformat()}'"


def odata_string(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


class AcumaticaHook(VendorHook):
    vendor = "acumatica"
    conn_type = "http"
    hook_name = "Acumatica Cloud ERP"
    settings_extras: ClassVar[tuple[str, ...]] = ("tenant", "branch", "endpoint_name", "endpoint_version", "locale")
    page_size: ClassVar[int] = 500

    def __init__(self, conn_id: str, **kwargs: Any):
        super().__init__(conn_id, **kwargs)
        self.logged_in = False

    @property
    def base(self) -> str:
        name = self.extras.get("endpoint_name", DEFAULT_ENDPOINT)
        return f"entity/{name}/{self.extras.get('endpoint_version', DEFAULT_VERSION)}"

    def _send(self, method, endpoint, params, json, data, headers, auth) -> requests.Response:
        if not self.logged_in and not endpoint.startswith("entity/auth/"):
            self.login()
        return super()._send(method, endpoint, params, json, data, headers, auth)

    def login(self) -> None:
        credentials = {"name": self.connection.login, "password": self.connection.password,
                       "tenant": self.extras.get("tenant")}
        credentials |= {k: self.extras[k] for k in ("branch", "locale") if self.extras.get(k)}
        self.send_once("POST", "entity/auth/login", json=credentials)
        self.logged_in = True

    def reauthenticate(self) -> bool:
        """The session expired (idle timeout): the next call logs in again."""
        was_logged_in, self.logged_in = self.logged_in, False
        return was_logged_in

    def close(self) -> None:
        if self.logged_in:
            try:
                self.request("POST", "entity/auth/logout", idempotent=True)
            except (VendorApiError, requests.RequestException) as error:
                self.log.warning("Acumatica logout failed (%s); the seat frees when the session times out", error)
            self.logged_in = False
        super().close()

    def error_message(self, body: dict[str, Any], ok: bool) -> str | None:
        if ok:
            return None
        field_errors = [f"{name}: {value['error']}" for name, value in body.items()
                        if isinstance(value, dict) and value.get("error")]
        message = body.get("exceptionMessage") or body.get("message") or ""
        return "; ".join(filter(None, [message, *field_errors])) or str(body)

    # Entities ------------------------------------------------------------------------------
    def records(self, entity: str, *, filter: str | None = None, select: str | None = None,
                expand: str | None = None) -> Iterator[dict[str, Any]]:
        """Every record of a list, unwrapped, page by page with ``$top``/``$skip``."""
        skip = 0
        while True:
            params = {"$top": self.page_size, "$skip": skip}
            params |= {k: v for k, v in (("$filter", filter), ("$select", select), ("$expand", expand)) if v}
            page = self.request("GET", f"{self.base}/{entity}", params=params).json()
            yield from (unwrap(record) for record in page)
            if len(page) < self.page_size:
                return
            skip += len(page)

    def record(self, entity: str, *key: str, expand: str | None = None) -> dict[str, Any] | None:
        try:
            response = self.request("GET", f"{self.base}/{entity}/{'/'.join(key)}",
                                    params={"$expand": expand} if expand else None)
        except VendorApiError as error:
            if error.status == 404:
                return None
            raise
        return unwrap(response.json())

    def put(self, entity: str, fields: dict[str, Any], *, creates: bool, expand: str | None = None) -> dict[str, Any]:
        """Create or update by key (the answer holds the ``expand``-ed details). A create under a number
        Acumatica assigns is not repeated on a lost answer: the caller finds the record by its reference instead."""
        response = self.request("PUT", f"{self.base}/{entity}", json=wrap(fields), idempotent=not creates,
                                params={"$expand": expand} if expand else None)
        return unwrap(response.json())

    def delete(self, entity: str, *key: str) -> None:
        self.request("DELETE", f"{self.base}/{entity}/{'/'.join(key)}")

    def invoke(self, entity: str, action: str, key: dict[str, Any]) -> None:
        """Run an action and wait until Acumatica reports it done."""
        response = self.request("POST", f"{self.base}/{entity}/{action}", json={"entity": wrap(key), "parameters": {}})
        location = response.headers.get("Location") if response.status_code == 202 else None
        deadline = time.monotonic() + ACTION_TIMEOUT_SECONDS
        while location:
            if self.request("GET", self._relative(location)).status_code != 202:
                return
            if time.monotonic() > deadline:
                raise VendorApiError(self.vendor, "POST", action, 504, f"{action} did not finish in time")
            time.sleep(ACTION_POLL_SECONDS)

    def _relative(self, location: str) -> str:
        """Acumatica's ``Location`` is a path from the site root; the connection's host may carry a prefix."""
        if location.startswith(("http://", "https://")):
            return location
        host = self.url_from_endpoint("")
        prefix = requests.utils.urlparse(host).path.rstrip("/")
        return location[len(prefix):].lstrip("/") if prefix and location.startswith(prefix) else location.lstrip("/")

    def check(self) -> dict[str, int]:
        return {"acumatica_vendors": sum(1 for _ in self.records("Vendor", select="VendorID"))}
