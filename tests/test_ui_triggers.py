"""The page's trigger of a DAG run through Airflow's REST API names the run itself, so asking again after
a busy server's 5xx, or after an answer that was lost, never starts a second run: a 409 for the run it
named means it started. Against a stand-in for Airflow's trigger endpoint that remembers the runs."""

from __future__ import annotations

import pytest
from conftest import ServedApp
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.requests import Request

from erp_sync_ui import airflow_api
from erp_sync_ui.airflow_api import TRIGGER_ATTEMPTS, TriggerRefused, trigger_dag


class Airflow:
    """Airflow's ``POST /api/v2/dags/{dag_id}/dagRuns``, answering as a script says: ``created-but-500``
    creates the run and answers 500 (the answer a busy server loses)."""

    def __init__(self):
        self.script: list[str] = []
        self.asked: list[dict] = []
        self.runs: set[str] = set()
        app = FastAPI()

        @app.post("/api/v2/dags/{dag_id}/dagRuns")
        def trigger(dag_id: str, body: dict) -> JSONResponse:
            self.asked.append(body)
            answer = self.script.pop(0) if self.script else "ok"
            if answer.isdigit():
                return JSONResponse({"detail": f"answered {answer}"}, status_code=int(answer))
            if body["dag_run_id"] in self.runs:
                return JSONResponse({"detail": "Unique constraint violation"}, status_code=409)
            self.runs.add(body["dag_run_id"])
            if answer == "created-but-500":
                return JSONResponse({"detail": "Database error"}, status_code=500)
            return JSONResponse({"dag_run_id": body["dag_run_id"], "dag_id": dag_id})

        self.server = ServedApp(app, "Airflow's trigger endpoint")

    def page_request(self) -> Request:
        """The person's request to the page, on this server, signed in with a Bearer token."""
        host = self.server.url.removeprefix("http://")
        return Request({"type": "http", "scheme": "http", "method": "POST", "path": "/erp-sync/", "query_string": b"",
                        "server": tuple(host.split(":")),
                        "headers": [(b"host", host.encode()), (b"authorization", b"Bearer person-token")]})


@pytest.fixture(scope="module")
def airflow():
    stand_in = Airflow()
    yield stand_in
    stand_in.server.stop()


@pytest.fixture(autouse=True)
def fresh(airflow, monkeypatch):
    airflow.script.clear(), airflow.asked.clear(), airflow.runs.clear()
    monkeypatch.setattr(airflow_api.tenacity, "wait_exponential", lambda **_: airflow_api.tenacity.wait_none())


def test_a_busy_airflow_is_asked_again_for_the_same_run_which_starts_once(airflow):
    airflow.script[:] = ["503", "500"]

    run_id = trigger_dag(airflow.page_request(), "erp_export_decisions", {"integration": "summit-acumatica"})

    assert airflow.runs == {run_id} and run_id.startswith("manual__")
    assert [body["dag_run_id"] for body in airflow.asked] == [run_id] * 3
    assert airflow.asked[0]["conf"] == {"integration": "summit-acumatica"}


def test_a_run_started_whose_answer_was_lost_is_taken_as_started_on_the_409(airflow):
    airflow.script[:] = ["created-but-500"]

    run_id = trigger_dag(airflow.page_request(), "erp_unlink_queue", {})

    assert airflow.runs == {run_id} and len(airflow.asked) == 2


def test_a_refusal_is_not_asked_again_and_says_why(airflow):
    airflow.script[:] = ["403"]

    with pytest.raises(TriggerRefused, match=r"Airflow did not start erp_payment_import \(403: answered 403\)"):
        trigger_dag(airflow.page_request(), "erp_payment_import", {})

    assert len(airflow.asked) == 1 and airflow.runs == set()


def test_an_airflow_busy_every_time_is_asked_a_bounded_number_of_times(airflow):
    airflow.script[:] = ["500"] * 10

    with pytest.raises(TriggerRefused, match=f"it was busy {TRIGGER_ATTEMPTS} times"):
        trigger_dag(airflow.page_request(), "erp_unlink_queue", {})

    assert len(airflow.asked) == TRIGGER_ATTEMPTS and airflow.runs == set()
