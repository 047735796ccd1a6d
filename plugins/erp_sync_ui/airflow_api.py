"""Starting a DAG from a page as the signed-in person: through Airflow's public REST API of this same
API server, with the person's own Airflow sign-in. Airflow checks their permission to trigger the DAG
and records them as the run's triggering user (the DAG then confirms their Procore account); the page
never writes to Airflow's database."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
from airflow.configuration import conf
from fastapi import Request

API_TIMEOUT_SECONDS = 30


class TriggerRefused(Exception):
    """Airflow did not start the run; the message says why, in Airflow's words."""


def airflow_base_path() -> str:
    """Where the Airflow UI lives under the server's address (``[api] base_url``'s path, often empty)."""
    return urlsplit(conf.get("api", "base_url", fallback="")).path.rstrip("/")


def trigger_dag(request: Request, dag_id: str, run_conf: dict) -> str:
    """Trigger ``dag_id`` with ``run_conf`` as the person behind ``request``; returns the new run's id."""
    api = f"{request.url.scheme}://{request.url.netloc}{airflow_base_path()}/api/v2"
    answer = requests.post(f"{api}/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": run_conf},
                           headers={"Authorization": f"Bearer {_sign_in(request)}"}, timeout=API_TIMEOUT_SECONDS)
    if answer.status_code != 200:
        detail = answer.json().get("detail") if answer.headers.get("content-type", "").startswith(
            "application/json") else answer.text
        raise TriggerRefused(f"Airflow did not start {dag_id} ({answer.status_code}: {detail})")
    return answer.json()["dag_run_id"]


def _sign_in(request: Request) -> str:
    """The token the person signed in with: the API's bearer token, or the UI's cookie."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" and token else request.cookies.get(COOKIE_NAME_JWT_TOKEN, "")
