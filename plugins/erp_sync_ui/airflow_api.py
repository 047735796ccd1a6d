"""Starting a DAG from a page as the signed-in person: through Airflow's public REST API of this same
API server, with the person's own Airflow sign-in. Airflow checks their permission to trigger the DAG
and records them as the run's triggering user (the DAG then confirms their Procore account); the page
never writes to Airflow's database.

The page names the run itself, so a trigger sent again after a busy server's 5xx or a lost answer
starts nothing twice: a 409 says the run it names already exists, which is the run it asked for."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
import tenacity
from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
from airflow.configuration import conf
from fastapi import Request

API_TIMEOUT_SECONDS = 30
TRIGGER_ATTEMPTS = 4  # a busy API server (its database locked) answers 5xx for a moment


class TriggerRefused(Exception):
    """Airflow did not start the run; the message says why, in Airflow's words."""


class _Busy(Exception):
    """Airflow answered 5xx or not at all: worth asking again with the same run id."""


def airflow_base_path() -> str:
    """Where the Airflow UI lives under the server's address (``[api] base_url``'s path, often empty)."""
    return urlsplit(conf.get("api", "base_url", fallback="")).path.rstrip("/")


def new_run_id() -> str:
    """A run id of the page's own, as Airflow spells a manual run's, unique even for two clicks at once."""
    return f"manual__{datetime.now(UTC).isoformat()}_{secrets.token_hex(4)}"


def trigger_dag(request: Request, dag_id: str, run_conf: dict) -> str:
    """Trigger ``dag_id`` with ``run_conf`` as the person behind ``request``; returns the run's id."""
    api = f"{request.url.scheme}://{request.url.netloc}{airflow_base_path()}/api/v2"
    run_id = new_run_id()
    retrying = tenacity.Retrying(retry=tenacity.retry_if_exception_type(_Busy),
                                 wait=tenacity.wait_exponential(multiplier=0.5, max=4),
                                 stop=tenacity.stop_after_attempt(TRIGGER_ATTEMPTS), reraise=True)
    try:
        answer = retrying(_post_run, f"{api}/dags/{dag_id}/dagRuns", _sign_in(request),
                          {"dag_run_id": run_id, "logical_date": None, "conf": run_conf})
    except _Busy as busy:
        raise TriggerRefused(f"Airflow did not start {dag_id}: it was busy {TRIGGER_ATTEMPTS} times ({busy})") \
            from busy
    if answer.status_code in (200, 409):  # 409: an earlier attempt started it; its answer was lost
        return run_id
    raise TriggerRefused(f"Airflow did not start {dag_id} ({answer.status_code}: {_detail(answer)})")


def _post_run(url: str, token: str, body: dict) -> requests.Response:
    try:
        answer = requests.post(url, json=body, headers={"Authorization": f"Bearer {token}"},
                               timeout=API_TIMEOUT_SECONDS)
    except requests.RequestException as error:
        raise _Busy(str(error)) from error
    if answer.status_code >= 500:
        raise _Busy(f"{answer.status_code}: {_detail(answer)}")
    return answer


def _detail(answer: requests.Response) -> str:
    if answer.headers.get("content-type", "").startswith("application/json"):
        return str(answer.json().get("detail"))
    return answer.text[:300]


def _sign_in(request: Request) -> str:
    """The token the person signed in with: the API's bearer token, or the UI's cookie."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" and token else request.cookies.get(COOKIE_NAME_JWT_TOKEN, "")
