"""Where ERP Sync's messages to people go: an Airflow notifier, chosen by configuration.

With the Airflow Variable ``erp_sync_summary_email`` set (addresses separated by commas) the daily
summary is mailed with the SMTP provider's ``SmtpNotifier`` over the ``smtp_default`` connection;
without it, ``LogNotifier`` writes it to the task log (the demo)."""

from __future__ import annotations

import logging

from airflow.sdk.bases.notifier import BaseNotifier

log = logging.getLogger(__name__)
SUMMARY_EMAIL_VARIABLE = "erp_sync_summary_email"


class LogNotifier(BaseNotifier):
    """Writes the message to the log: the notifier of a deployment that has no mail server configured."""

    template_fields = ("message",)

    def __init__(self, message: str = "{{ erp_sync_summary }}"):
        super().__init__()
        self.message = message

    def notify(self, context) -> None:
        log.info("%s", self.message)


def summary_notifier() -> BaseNotifier:
    from airflow.sdk import Variable

    addresses = Variable.get(SUMMARY_EMAIL_VARIABLE, default=None)
    if not addresses:
        return LogNotifier()
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    return SmtpNotifier(to=[address.strip() for address in addresses.split(",") if address.strip()],
                        subject="ERP Sync daily summary: {{ erp_sync_integration }}",
                        html_content="<pre>{{ erp_sync_summary | e }}</pre>")
