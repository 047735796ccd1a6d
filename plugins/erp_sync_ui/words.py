"""How the pages write what a person reads: money with its currency and thousands separators (Babel,
the CLDR's rules), payment methods and export modes as words."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency

from erp_sync.models import ExportMode

CURRENCY, LOCALE = "USD", "en_US"  # Procore's demo companies bill in US dollars
PAYMENT_METHODS = {"check": "Check", "credit_card": "Credit card", "ach": "ACH transfer", "wire": "Wire transfer"}


def money(amount: Decimal | float | str | None) -> str:
    """``1919.1`` → ``$1,919.10``; nothing for no amount."""
    return "" if amount is None else format_currency(Decimal(str(amount)), CURRENCY, locale=LOCALE)


def payment_method(method: str | None) -> str:
    return PAYMENT_METHODS.get(method or "", (method or "").replace("_", " ").capitalize())


EXPORT_MODES = {
    ExportMode.ACCEPTANCE: {
        "title": "Accounting acceptance",
        "now": "approved records wait under Ready to Export until an accounting approver accepts them",
        "switch": "From the next hourly sync, every approved commitment, commitment change order and subcontractor "
                  "invoice of every project of {integration} waits under Ready to Export until an accounting "
                  "approver accepts it; nothing more goes to {erp} without acceptance."},
    ExportMode.DIRECT: {
        "title": "Direct export",
        "now": "approved records go straight to {erp} at the next hourly sync",
        "switch": "From the next hourly sync, every approved commitment, commitment change order and subcontractor "
                  "invoice of every project of {integration} goes straight to {erp} without accounting acceptance, "
                  "and so does every record waiting under Ready to Export now."},
}


def export_mode(mode: ExportMode | str, part: str, integration: str = "", erp: str = "the ERP") -> str:
    """How the pages say an integration's export mode: its ``title``, what it does ``now``, and the consequence
    of a ``switch`` to it."""
    return EXPORT_MODES[ExportMode(mode)][part].format(integration=integration, erp=erp)


def company(integration: dict) -> str:
    """The integration's Procore company by the name Procore gives it (read with the reference data), until then by
    its id."""
    return integration.get("procore_company_name") or f"Procore company {integration['procore_company_id']}"


FILTERS = {"company": company, "money": money, "payment_method": payment_method, "export_mode": export_mode}
