"""The Procore connector over real HTTP against the sandbox: auth, paging, retries, faults, pacing."""

import json
import time

import pytest
import requests

from erp_connectors.base import VendorApiError
from erp_connectors.procore import ProcoreHook


@pytest.fixture
def hook(sandbox, procore_company_id):
    with ProcoreHook("procore_test", procore_company_id) as procore:
        yield procore


def test_reads_every_page_following_link_headers(sandbox, hook):
    sandbox.reset(projects=1, commitments_per_project=1, change_orders_per_project=0, invoices_per_project=230)
    project = hook.projects()[0]["id"]
    before = hook.calls["GET"]
    invoices = list(hook.paginate("requisitions", project_id=project))
    assert len({row["id"] for row in invoices}) == 230
    assert hook.calls["GET"] - before == 3


def test_token_is_fetched_once_and_renewed_before_expiry(sandbox, hook):
    hook.projects()
    hook.projects()
    assert hook.calls["POST"] == 1
    hook._token.expires_at = time.time() + 30  # inside the renewal margin
    hook.projects()
    assert hook.calls["POST"] == 2


def test_every_call_carries_the_company_header(sandbox, hook):
    hook.projects()
    assert hook.session().headers.get("Procore-Company-Id") is None  # per request, never a stray extra
    assert hook.default_request_headers()["Procore-Company-Id"] == "8089"


def test_the_token_url_extra_is_not_sent_as_a_header(sandbox, monkeypatch, procore_company_id):
    monkeypatch.setenv("AIRFLOW_CONN_PROCORE_TOKEN_URL", json.dumps({
        "conn_type": "http", "host": f"{sandbox.url}/procore", "login": "erp-sync-sandbox",
        "password": "sandbox-secret", "extra": {"token_url": f"{sandbox.url}/procore/oauth/token"}}))
    with ProcoreHook("procore_token_url", procore_company_id) as procore:
        assert procore.check()["procore_projects"] == 3
        assert "token_url" not in procore.session().headers


def test_503_with_retry_after_is_waited_out(sandbox, hook):
    sandbox.fault("procore", status=503, retry_after=1, times=2, path_pattern="/projects")
    started = time.monotonic()
    assert len(hook.projects()) == 3
    assert time.monotonic() - started >= 2
    assert hook.calls["GET"] == 3


def test_429_waits_for_the_rate_limit_reset(sandbox, hook):
    sandbox.control("PUT", "procore/rate_limit", json={"limit": 2, "window_seconds": 2})
    started = time.monotonic()
    for _ in range(3):
        hook.projects()
    assert time.monotonic() - started >= 1
    assert hook.calls["GET"] == 3  # paced on X-Rate-Limit-Remaining: 0 instead of collecting a 429


def test_a_spike_429_is_retried(sandbox, hook):
    sandbox.fault("procore", status=429, retry_after=1, times=1, path_pattern="/projects")
    assert len(hook.projects()) == 3


def test_a_server_error_on_a_read_is_retried(sandbox, hook):
    sandbox.fault("procore", status=500, times=2, path_pattern="/projects")
    assert len(hook.projects()) == 3


def test_a_dropped_connection_on_a_read_is_retried(sandbox, hook):
    sandbox.fault("procore", drop=True, times=1, path_pattern="/projects")
    assert len(hook.projects()) == 3


def test_a_write_whose_answer_was_lost_is_not_repeated(sandbox, hook):
    """POST is not idempotent: the hook must not send it twice; the caller finds the record instead."""
    project = hook.projects()[0]["id"]
    contract = hook.get("work_order_contracts", project_id=project)[0]["id"]
    sandbox.fault("procore", drop=True, after_commit=True, times=1, method="POST", path_pattern="/contract_payments")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        hook.request("POST", "rest/v1.0/contract_payments", params={"project_id": project, "contract_id": contract},
                     json={"contract_payment": {"amount": "10.00", "date": "2026-11-02", "origin_id": "Payment|1"}})
    payments = [p for p in sandbox.procore_rows("contract_payments") if p["origin_id"] == "Payment|1"]
    assert len(payments) == 1


def test_a_server_error_on_a_write_is_not_repeated(sandbox, hook):
    project = hook.projects()[0]["id"]
    contract = hook.get("work_order_contracts", project_id=project)[0]["id"]
    sandbox.fault("procore", status=500, times=1, method="POST")
    before = hook.calls["POST"]
    with pytest.raises(Exception, match="500"):
        hook.request("POST", "rest/v1.0/contract_payments", params={"project_id": project, "contract_id": contract},
                     json={"contract_payment": {"amount": "10.00", "date": "2026-11-02"}})
    assert hook.calls["POST"] - before == 1


def test_vendor_errors_carry_procores_message(sandbox, hook):
    with pytest.raises(VendorApiError, match="Project 1 not found") as error:
        hook.get("projects/1")
    assert error.value.status == 404


def test_check_fails_for_a_company_the_connection_cannot_see(sandbox):
    with ProcoreHook("procore_test", 999) as procore, pytest.raises(VendorApiError, match="cannot see company 999"):
        procore.check()


@pytest.mark.parametrize(("user_id", "missing"), [
    (101, []),
    (102, []),
    (103, ["the 'Can Push to Accounting' privilege in the Company Directory"]),
    (104, ["'Admin' on the project's Commitments tool",
           "'Standard' or 'Admin' on the company's ERP Integrations tool"]),
    (105, ["'Admin' on the project's Commitments tool",
           "'Standard' or 'Admin' on the company's ERP Integrations tool",
           "the 'Can Push to Accounting' privilege in the Company Directory"]),
])
def test_unlink_permissions_are_asked_of_procore(sandbox, hook, user_id, missing):
    project = hook.projects()[0]["id"]
    assert hook.unlink_permissions(user_id, project).missing() == missing


def test_a_slow_answer_past_the_timeout_is_retried_on_a_read(sandbox, hook):
    hook.timeout_seconds = 0.5
    sandbox.fault("procore", delay_seconds=1.5, times=1, path_pattern="/projects")
    started = time.monotonic()
    assert len(hook.projects()) == 3
    assert hook.calls["GET"] == 2
    assert time.monotonic() - started < 5
