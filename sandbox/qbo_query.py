"""The QuickBooks Online query language, as far as ERP Sync and common clients use it.

``SELECT * | COUNT(*) | Field, ... FROM Entity [WHERE cond AND cond ...] [ORDERBY Field [ASC|DESC]]
[STARTPOSITION n] [MAXRESULTS m]``; conditions compare a (possibly dotted) field with ``=``, ``<``,
``>``, ``<=``, ``>=``, ``IN (...)`` or ``LIKE '%text%'``. QuickBooks has no ``OR``, and neither has this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_RESULTS = 1000
DEFAULT_RESULTS = 100

_QUERY = re.compile(
    r"^\s*select\s+(?P<what>\*|count\(\*\)|[\w.,\s]+?)\s+from\s+(?P<entity>\w+)"
    r"(?:\s+where\s+(?P<where>.+?))?"
    r"(?:\s+orderby\s+(?P<order>[\w.]+)(?:\s+(?P<direction>asc|desc))?)?"
    r"(?:\s+startposition\s+(?P<start>\d+))?"
    r"(?:\s+maxresults\s+(?P<max>\d+))?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL)
_CONDITION = re.compile(r"^\s*(?P<field>[\w.]+)\s*(?P<op><=|>=|<>|!=|=|<|>|\bin\b|\blike\b)\s*(?P<value>.+?)\s*$",
                        re.IGNORECASE | re.DOTALL)
_AND = re.compile(r"\s+and\s+(?=(?:[^']*'[^']*')*[^']*$)", re.IGNORECASE)


class QueryError(ValueError):
    pass


@dataclass
class Query:
    entity: str
    count: bool = False
    fields: list[str] | None = None
    conditions: list[tuple[str, str, Any]] = field(default_factory=list)
    order: str | None = None
    descending: bool = False
    start: int = 1
    max_results: int = DEFAULT_RESULTS

    def matches(self, row: dict[str, Any]) -> bool:
        return all(_holds(lookup(row, name), op, value) for name, op, value in self.conditions)


def parse_query(text: str) -> Query:
    match = _QUERY.match(text or "")
    if not match:
        raise QueryError(f"Error parsing query: {text!r}")
    what = match["what"].strip()
    query = Query(entity=match["entity"], count=what.lower() == "count(*)",
                  fields=None if what in ("*",) or what.lower() == "count(*)" else [f.strip() for f in what.split(",")])
    if match["where"]:
        query.conditions = [_condition(part) for part in _AND.split(match["where"])]
    if match["order"]:
        query.order, query.descending = match["order"], (match["direction"] or "").lower() == "desc"
    query.start = max(1, int(match["start"] or 1))
    query.max_results = min(MAX_RESULTS, int(match["max"] or DEFAULT_RESULTS))
    return query


def _condition(text: str) -> tuple[str, str, Any]:
    if re.search(r"\bor\b(?=(?:[^']*'[^']*')*[^']*$)", text, re.IGNORECASE):
        raise QueryError("OR is not supported in QuickBooks queries")
    match = _CONDITION.match(text)
    if not match:
        raise QueryError(f"Error parsing condition: {text!r}")
    op = match["op"].lower()
    raw = match["value"].strip()
    if op == "in":
        if not (raw.startswith("(") and raw.endswith(")")):
            raise QueryError(f"IN needs a list in parentheses: {raw!r}")
        return match["field"], op, [_value(part.strip()) for part in raw[1:-1].split(",")]
    return match["field"], op, _value(raw)


def _value(raw: str) -> Any:
    if raw.startswith("'") and raw.endswith("'"):
        return raw[1:-1].replace("\\'", "'")
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    try:
        return Decimal(raw)
    except InvalidOperation as error:
        raise QueryError(f"cannot read the value {raw!r}") from error


def lookup(row: dict[str, Any], dotted: str) -> Any:
    value: Any = row
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = next((v for k, v in value.items() if k.lower() == part.lower()), None)
    if isinstance(value, dict) and "value" in value:  # VendorRef = '56' compares the reference's value
        value = value["value"]
    return value


def _holds(actual: Any, op: str, expected: Any) -> bool:
    if op == "in":
        return any(_holds(actual, "=", option) for option in expected)
    if actual is None:
        return False
    if op == "like":
        pattern = "^" + re.escape(str(expected)).replace("%", ".*") + "$"
        return re.match(pattern, str(actual), re.IGNORECASE | re.DOTALL) is not None
    actual, expected = _comparable(actual, expected)
    return {"=": actual == expected, "<>": actual != expected, "!=": actual != expected, "<": actual < expected,
            ">": actual > expected, "<=": actual <= expected, ">=": actual >= expected}[op]


def _comparable(actual: Any, expected: Any) -> tuple[Any, Any]:
    if isinstance(expected, Decimal):
        return Decimal(str(actual)), expected
    if isinstance(expected, bool):
        return bool(actual), expected
    text = str(actual)
    if len(expected) >= 10 and expected[4:5] == "-" and len(text) >= 10 and text[4:5] == "-":
        try:  # dates and date-times compare as instants (timestamps carry the company's offset)
            left, right = datetime.fromisoformat(text), datetime.fromisoformat(expected)
            if (left.tzinfo is None) == (right.tzinfo is None):
                return left, right
        except ValueError:
            pass
    return text.lower(), expected.lower()
