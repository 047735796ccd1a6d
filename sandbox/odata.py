"""The part of OData ``$filter`` that Acumatica's contract-based REST API accepts and clients use.

Comparisons (``eq ne gt ge lt le``) of a field with a literal (``'text'``, numbers, ``true``,
``false``, ``null``, ``datetimeoffset'...'``, ``datetime'...'``), ``substringof('x', Field)``,
``startswith(Field, 'x')``, joined with ``and``/``or``/``not`` and parentheses.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<typed>(?:datetimeoffset|datetime|guid)'[^']*')
    | (?P<string>'(?:[^']|'')*')
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<punct>[(),])
    | (?P<word>[A-Za-z_][A-Za-z0-9_/.]*)
    )""", re.VERBOSE)
_COMPARISONS = {"eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "ge": operator.ge,
                "lt": operator.lt, "le": operator.le}


class FilterError(ValueError):
    pass


def parse_filter(text: str) -> Predicate:
    tokens = _tokenize(text)
    parser = _Parser(tokens)
    predicate = parser.expression()
    if parser.position != len(tokens):
        raise FilterError(f"unexpected {tokens[parser.position][1]!r} in $filter")
    return predicate


def _tokenize(text: str) -> list[tuple[str, Any]]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if not match:
            raise FilterError(f"cannot read $filter at {text[position:position + 20]!r}")
        kind = match.lastgroup
        tokens.append((kind, _literal(kind, match.group(kind))))
        position = match.end()
    return tokens


def _literal(kind: str, raw: str) -> Any:
    if kind == "string":
        return raw[1:-1].replace("''", "'")
    if kind == "number":
        return Decimal(raw)
    if kind == "typed":
        prefix, _, value = raw[:-1].partition("'")
        if prefix == "guid":
            return value
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return raw


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]]):
        self.tokens, self.position = tokens, 0

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, Any]:
        token = self.peek()
        if token is None or (expected is not None and token[1] != expected):
            raise FilterError(f"$filter expected {expected or 'more'}, found {token[1] if token else 'the end'}")
        self.position += 1
        return token

    def expression(self) -> Predicate:
        left = self.conjunction()
        while self.peek() == ("word", "or"):
            self.take()
            right = self.conjunction()
            left = (lambda a, b: lambda row: a(row) or b(row))(left, right)
        return left

    def conjunction(self) -> Predicate:
        left = self.unary()
        while self.peek() == ("word", "and"):
            self.take()
            right = self.unary()
            left = (lambda a, b: lambda row: a(row) and b(row))(left, right)
        return left

    def unary(self) -> Predicate:
        if self.peek() == ("word", "not"):
            self.take()
            inner = self.unary()
            return lambda row: not inner(row)
        if self.peek() == ("punct", "("):
            self.take()
            inner = self.expression()
            self.take(")")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        kind, value = self.take()
        if kind == "word" and value in ("substringof", "startswith"):
            return self.function(value)
        if kind != "word":
            raise FilterError(f"$filter expected a field name, found {value!r}")
        field = value
        _, op = self.take()
        if op not in _COMPARISONS:
            raise FilterError(f"$filter does not know the operator {op!r}")
        literal = self.literal()
        compare = _COMPARISONS[op]
        return lambda row: _compare(compare, row.get(field), literal)

    def function(self, name: str) -> Predicate:
        self.take("(")
        first = self.take()
        self.take(",")
        second = self.take()
        self.take(")")
        if name == "substringof":  # substringof('needle', Field)
            needle, field = first[1], second[1]
            return lambda row: str(needle).lower() in str(row.get(field) or "").lower()
        field, prefix = first[1], second[1]
        return lambda row: str(row.get(field) or "").lower().startswith(str(prefix).lower())

    def literal(self) -> Any:
        kind, value = self.take()
        if kind == "word":
            constants = {"true": True, "false": False, "null": None}
            if value not in constants:
                raise FilterError(f"$filter expected a value, found {value!r}")
            return constants[value]
        return value


def _compare(compare: Callable[[Any, Any], bool], actual: Any, literal: Any) -> bool:
    if actual is None or literal is None:
        return compare(actual, literal) if compare in (operator.eq, operator.ne) else False
    if isinstance(literal, Decimal):
        actual = Decimal(str(actual))
    elif isinstance(literal, datetime) and isinstance(actual, str):
        actual = datetime.fromisoformat(actual)
    elif isinstance(literal, str):
        actual, literal = str(actual).lower(), literal.lower()
    return compare(actual, literal)
