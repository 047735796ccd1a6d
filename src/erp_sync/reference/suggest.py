"""Suggestions: which ERP item a Procore item probably is, and why. Nothing is guessed.

- A project number, sub job, cost code or cost type code that is exactly the ERP's links by itself
  (Procore's ERP-integrated projects take their codes from the ERP's list), audited as matched by code.
- Codes equal once the delimiter is ignored (``01-100`` and ``01.100``), a project's ``origin_id`` equal to
  the ERP job, cost types of the same name where the ERP numbers them (Sage 100 Contractor), vendor names equal once case, punctuation and legal suffixes are ignored, or a vendor's
  ``origin_code`` equal to the ERP's vendor id: suggested, and wait for a person to confirm.
- Two candidates by the same rule: ambiguous, never taken; an inactive ERP item is never suggested.

Names are normalised with rapidfuzz's ``default_process`` (lower case, punctuation to spaces, trimmed); the
Link search ranks ERP items with rapidfuzz's ``WRatio``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process, utils

from erp_sync.reference.model import ErpItem, ProcoreRef, ReferenceKind

LEGAL_SUFFIXES = {"llc", "l l c", "inc", "incorporated", "corp", "corporation", "co", "company", "ltd", "limited",
                  "lp", "llp", "pllc", "pc", "plc", "gmbh"}
_DELIMITERS = re.compile(r"[\s\-._/:]+")
CODED_KINDS = {ReferenceKind.PROJECT, ReferenceKind.SUB_JOB, ReferenceKind.COST_CODE, ReferenceKind.COST_TYPE}


@dataclass(frozen=True)
class Suggestion:
    """What the Procore item could be linked to: ``item`` when one candidate, with the reason a person reads;
    ``automatic`` when the code is exactly the ERP's (it links by itself)."""

    ref: ProcoreRef
    item: ErpItem | None
    reason: str
    automatic: bool = False
    candidates: tuple[ErpItem, ...] = ()


def normal_code(code: str) -> str:
    return _DELIMITERS.sub("", code).casefold()


def normal_name(name: str) -> str:
    """Case, punctuation and legal suffixes ignored: "Star Framing, LLC" -> "star framing"."""
    words = utils.default_process(name).split()
    while suffix := next((size for size in (3, 1) if len(words) > size
                          and " ".join(words[-size:]) in LEGAL_SUFFIXES), 0):
        words = words[:-suffix]
    return " ".join(words)


@dataclass(frozen=True)
class Rule:
    reason: Callable[[ProcoreRef, ErpItem], str]
    matches: Callable[[ProcoreRef, ErpItem], bool]
    automatic: bool = False


def _rules(kind: ReferenceKind, origin: Callable[[ProcoreRef], str | None]) -> list[Rule]:
    label = kind.label
    if kind is ReferenceKind.VENDOR:
        return [
            Rule(lambda ref, item: f"origin_code {origin(ref)} is ERP vendor {item.erp_id}",
                 lambda ref, item: bool(origin(ref)) and origin(ref) == item.erp_id),
            Rule(lambda ref, item: f'"{ref.name}" and "{item.name}" are the same name once case, punctuation and '
                                   "legal suffixes are ignored",
                 lambda ref, item: bool(normal_name(ref.name)) and normal_name(ref.name) == normal_name(item.name)),
        ]
    rules = [Rule(lambda ref, item: f"{label} {ref.code} is exactly the ERP's {item.code}",
                  lambda ref, item: bool(ref.code) and ref.code == item.code, automatic=True)]
    if kind is ReferenceKind.PROJECT:
        rules.append(Rule(lambda ref, item: f"origin_id {origin(ref)} is ERP job {item.erp_id}",
                          lambda ref, item: bool(origin(ref)) and origin(ref) in (item.erp_id, item.code)))
    rules.append(Rule(lambda ref, item: f"{label} {ref.code} is the ERP's {item.code} once the delimiter is ignored",
                      lambda ref, item: bool(normal_code(ref.code)) and normal_code(ref.code) == normal_code(item.code)))
    if kind is ReferenceKind.COST_TYPE:  # an ERP that numbers its cost types (Sage 100 Contractor's 1-9)
        rules.append(Rule(lambda ref, item: f'{label} {ref.code} "{ref.name}" and the ERP\'s {item.code} '
                                            f'"{item.name}" have the same name',
                          lambda ref, item: bool(normal_name(ref.name)) and normal_name(ref.name) == normal_name(item.name)))
    return rules


def suggest(ref: ProcoreRef, items: Sequence[ErpItem], origin: str | None = None) -> Suggestion | None:
    """The suggestion for one Procore item among the ERP items still free to link (of its kind and scope);
    None when nothing matches. ``origin`` is Procore's ``origin_id`` (projects) or ``origin_code`` (vendors)."""
    for rule in _rules(ref.kind, lambda _ref: origin):
        matching = [item for item in items if item.kind is ref.kind and rule.matches(ref, item)]
        active = [item for item in matching if item.active]
        if len(active) == 1:
            return Suggestion(ref, active[0], rule.reason(ref, active[0]), rule.automatic)
        if len(active) > 1:
            names = " and ".join(f'{item.code} "{item.name}"' for item in active)
            return Suggestion(ref, None, f"ambiguous: {names} both match; choose one with Link", candidates=tuple(active))
        if matching:
            item = matching[0]
            return Suggestion(ref, None, f'ERP {ref.kind.label} {item.code} "{item.name}" matches but is inactive in '
                                         "the ERP; choose another with Link", candidates=tuple(matching))
    return None


def search(text: str, items: Iterable[ErpItem], limit: int = 20) -> list[ErpItem]:
    """ERP items for the Link search box, best first (code or name)."""
    items = [item for item in items if item.active]
    if not text.strip():
        return items[:limit]
    choices = {index: f"{item.code} {item.name}" for index, item in enumerate(items)}
    found = process.extract(text, choices, scorer=fuzz.WRatio, processor=utils.default_process, limit=limit,
                            score_cutoff=50)
    return [items[index] for _choice, _score, index in found]
