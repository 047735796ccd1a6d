"""Telling operations, once per DAG run: a run that failed, and links that turned RED in it.

Every ERP Sync DAG has ``OperationsNotifier`` as its success and failure callback (Airflow runs DAG
callbacks once per run, in the DAG processor). It reads what the run did from the status store (never
Airflow's database) and, when there is something to tell, hands a subject and a message to the notifier
configured in Airflow's settings:

- ``[erp_sync] notifier`` (``AIRFLOW__ERP_SYNC__NOTIFIER``): the dotted path of any Airflow notifier
  class, e.g. ``airflow.providers.smtp.notifications.smtp.SmtpNotifier``; ``LogNotifier`` below by
  default;
- ``[erp_sync] notifier_kwargs`` (``AIRFLOW__ERP_SYNC__NOTIFIER_KWARGS``): its arguments as JSON. They
  are templates: ``{{ erp_sync_subject }}`` and ``{{ erp_sync_message }}`` hold what to say, e.g.
  ``{"to": "ops@example.com", "subject": "{{ erp_sync_subject }}", "html_content": "<pre>{{ erp_sync_message }}</pre>"}``.
"""

from __future__ import annotations

import importlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from airflow.sdk.bases.notifier import BaseNotifier

log = logging.getLogger(__name__)
DEFAULT_NOTIFIER = "erp_sync.notify.LogNotifier"


@dataclass(frozen=True)
class Notice:
    subject: str
    message: str


def run_notice(dag_id: str, run_id: str, failed: bool, runs: list[dict], failed_task: str | None = None
               ) -> Notice | None:
    """What operations should hear of one DAG run, from its rows in ``sync_runs``; None if nothing."""
    from erp_sync.runs import NEW_RED, red_reasons  # here, not at the top: every DAG file imports this module

    lines = [f"{row['job']} for {row['integration']} failed: {row['error']}" for row in runs
             if row["status"] == "failed"]
    new_reds = 0
    for row in runs:
        counts = json.loads(row["counts_json"] or "{}")
        if counts.get(NEW_RED):
            new_reds += counts[NEW_RED]
            lines.append(f"{row['integration']}: {counts[NEW_RED]} new RED link(s): {red_reasons(counts)}")
    if not failed and not new_reds:
        return None
    outcome = "failed" if failed else "succeeded"
    subject = f"ERP Sync: {dag_id} {outcome}" + (f", {new_reds} new RED link(s)" if new_reds else "")
    if failed:
        lines.append(f"See the log of task {failed_task or '(the failed task)'} in Airflow.")
    return Notice(subject, "\n".join([f"Run {run_id} of {dag_id} {outcome}.", *lines]))


def jobs_of(dag_id: str) -> set[str]:
    """The jobs whose ``sync_runs`` rows a DAG's runs write (run ids are unique only within one DAG)."""
    from erp_sync import acceptance
    from erp_sync.jobs import connection_check, hourly_sync, payment_import, unlink_queue

    return {"erp_hourly_sync": {hourly_sync.EXPORT_JOB, hourly_sync.REFRESH_JOB},
            "erp_payment_import": {payment_import.JOB}, "erp_unlink_queue": {unlink_queue.JOB},
            "erp_connection_check": {connection_check.JOB},
            "erp_export_decisions": {acceptance.JOB}}.get(dag_id, set())


def configured_notifier() -> BaseNotifier:
    from airflow.sdk.configuration import conf

    path = conf.get("erp_sync", "notifier", fallback=DEFAULT_NOTIFIER)
    kwargs = json.loads(conf.get("erp_sync", "notifier_kwargs", fallback="{}") or "{}")
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)(**kwargs)


class OperationsNotifier(BaseNotifier):
    """The DAG callback: one notice per run that failed or turned links RED, through the configured notifier."""

    def render_template_fields(self, context, jinja_env=None) -> None:
        """Nothing of its own to render (the configured notifier renders its fields), so it also works with
        the serialized DAG that ``dag.test()`` hands callbacks."""

    def notify(self, context) -> None:
        from erp_sync.store import Store

        dag_id, run_id = context["dag"].dag_id, context["run_id"]
        failed = context.get("reason", "success") != "success"
        try:
            runs = [row for row in Store.from_connection().rows("runs_of_airflow_run", airflow_run_id=run_id)
                    if row["job"] in jobs_of(dag_id)]
        except Exception as error:  # the notice matters more than its detail
            runs = [{"job": "reading the status store", "integration": "operations", "status": "failed",
                     "error": error, "counts_json": None}]
        notice = run_notice(dag_id, run_id, failed, runs, getattr(context.get("ti"), "task_id", None))
        if notice is None:
            return
        handed_on = {**context, "erp_sync_subject": notice.subject, "erp_sync_message": notice.message}
        if not hasattr(context["dag"], "get_template_env"):  # dag.test() hands callbacks the serialized DAG
            del handed_on["dag"]
        configured_notifier()(handed_on)


class LogNotifier(BaseNotifier):
    """Writes the notice as a warning into the log of whatever runs the callback, and, given ``path``,
    appends it to that file (the demo's ``.airflow/operations.log``)."""

    template_fields = ("subject", "message")

    def __init__(self, subject: str = "{{ erp_sync_subject }}", message: str = "{{ erp_sync_message }}",
                 path: str | None = None):
        super().__init__()
        self.subject, self.message, self.path = subject, message, path

    def notify(self, context) -> None:
        log.warning("%s\n%s", self.subject, self.message)
        if self.path:
            with Path(self.path).open("a") as file:
                file.write(f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC  {self.subject}\n{self.message}\n\n")


notify_operations = OperationsNotifier()
