"""How the pages write what a person reads: money with its currency and thousands separators (Babel,
the CLDR's rules), payment methods as words."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency

CURRENCY, LOCALE = "USD", "en_US"  # Procore's demo companies bill in US dollars
PAYMENT_METHODS = {"check": "Check", "credit_card": "Credit card", "ach": "ACH transfer", "wire": "Wire transfer"}


def money(amount: Decimal | float | str | None) -> str:
    """``1919.1`` → ``$1,919.10``; nothing for no amount."""
    return "" if amount is None else format_currency(Decimal(str(amount)), CURRENCY, locale=LOCALE)


def payment_method(method: str | None) -> str:
    return PAYMENT_METHODS.get(method or "", (method or "").replace("_", " ").capitalize())


FILTERS = {"money": money, "payment_method": payment_method}
