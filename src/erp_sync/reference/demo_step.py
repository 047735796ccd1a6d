"""The demo's accountant on the Reference data tab, through the page as her browser would use it: the first sync
left records waiting for links; on each kind's tab she presses Confirm all shown, and links the vendor that two
ERP vendors look like (never suggested) to the one she means, found by searching the ERP's vendors. Each press is
the page's own form, its form token included, posted as the signed-in session. What the ERP must set up first (a
cost code it lacks, a job for a new project) keeps waiting with its sentence."""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser

import requests

from erp_sync.reference.check import REASON_CODE
from erp_sync.reference.model import ReferenceKind
from erp_sync.store import Store
from erp_sync.sync.links import LinkState

# Where a record that waited for links stands now, by its link's state
STANDING = {LinkState.READY: "wait for accounting acceptance", LinkState.ACCEPTED: "are accepted, being exported",
            LinkState.EXPORTING: "are sent to the ERP, its answer awaited (Sage: queued for import)",
            LinkState.EXPORTED: "are in the ERP", LinkState.SYNCED: "are in the ERP",
            LinkState.RETURNED: "were sent back by accounting", LinkState.FAILED: "failed (the page says why)",
            LinkState.REJECTED: "were rejected in the ERP"}
NOTICE = re.compile(r'class="notice" role="status">([^<]*)<')
KIND_LINK = re.compile(r"[?&]kind=(\w+)$")  # a tab of the page
CHOICE_SEPARATOR = " · "  # an ERP choice reads "<code> · <name>"


@dataclass
class PageForm:
    """A form of the page that changes something: the hidden fields pressing its button sends."""

    id: str | None
    fields: list[tuple[str, str]] = field(default_factory=list)
    choice_for: str | None = None  # a row's form: the Procore item its ERP box is for ("ERP vendor for ...")


class TabPage(HTMLParser):
    """The tab as a browser reads it: the kinds it offers (Sub jobs only where the ERP has them), its forms and
    the ERP choices of its search (erp id by name)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.kinds: list[ReferenceKind] = []
        self.forms: list[PageForm] = []
        self.choices: dict[str, str] = {}
        self._form: PageForm | None = None
        self._option: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and attributes.get("method") == "post":
            self._form = PageForm(attributes.get("id"))
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None:
            if attributes.get("type") == "hidden":
                self._form.fields.append((attributes["name"], attributes.get("value", "")))
            elif attributes.get("name") == "erp_id":
                self._form.choice_for = attributes.get("aria-label")
        elif tag == "option":
            self._option = attributes.get("value")
        elif tag == "a" and (kind := KIND_LINK.search(attributes.get("href", ""))):
            self.kinds.append(ReferenceKind(kind.group(1)))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None

    def handle_data(self, data: str) -> None:
        if self._option is not None:
            self.choices[data.split(CHOICE_SEPARATOR, 1)[-1].strip()] = self._option
            self._option = None

    def form(self, form_id: str) -> PageForm | None:
        return next((form for form in self.forms if form.id == form_id), None)

    def row_form(self, kind: ReferenceKind, procore_name: str) -> PageForm | None:
        """The form of the row of a Procore item that is not linked yet."""
        return next((form for form in self.forms if form.choice_for == f"ERP {kind.label} for {procore_name}"), None)


class ReferenceTab:
    """One integration's Reference data tab, used as the signed-in ``session``."""

    def __init__(self, session: requests.Session, airflow_url: str, integration: str) -> None:
        self.session, self.integration = session, integration
        self.url = f"{airflow_url}/erp-sync/integrations/{integration}/reference"

    def page(self, kind: ReferenceKind, search: str = "") -> TabPage:
        answer = self.session.get(self.url, params={"kind": kind.value, "search": search}, timeout=60)
        answer.raise_for_status()
        return TabPage(answer.text)

    def press(self, fields: list[tuple[str, str]]) -> str:
        """Send a form as its button does; the notice of the page it leads to."""
        answer = self.session.post(self.url, data=fields, timeout=60)
        notice = NOTICE.search(answer.text)
        if answer.status_code != 200 or notice is None:
            raise RuntimeError(f"The Reference data tab of {self.integration} refused: {answer.status_code} "
                               f"{answer.text[:2000]}")
        return html.unescape(notice.group(1))

    def confirm_all_shown(self, kind: ReferenceKind) -> str | None:
        """Press Confirm all shown, if the tab shows a suggestion to confirm."""
        form = self.page(kind).form("confirm-all")
        return None if form is None else self.press(form.fields)

    def link_by_search(self, kind: ReferenceKind, procore_name: str, erp_name: str) -> str | None:
        """Search the ERP's items for the Procore item's name, choose ``erp_name`` and press Link on its row; the
        sentence saying so, or None when the item is linked already or not on the tab."""
        page = self.page(kind, search=procore_name)
        form, erp_id = page.row_form(kind, procore_name), page.choices.get(erp_name)
        if form is None or erp_id is None:
            return None
        notice = self.press([*form.fields, ("erp_id", erp_id), ("action", "link")])
        return (f'{self.integration}: nothing is suggested for {kind.label} "{procore_name}" (two ERP {kind.label}s '
                f'look like it); the accountant searched the ERP\'s {kind.label}s for "{procore_name}" and linked it to '
                f'{erp_id} "{erp_name}". {notice}')


def waiting_for_links(store: Store) -> dict[str, list[dict]]:
    """Each integration's records held back until their reference data is linked, with their sentences."""
    return {integration["name"]: [row for row in store.rows("active_links", integration_id=integration["id"])
                                  if row["reason_code"] == REASON_CODE]
            for integration in store.integrations()}


def link_on_the_tab(session: requests.Session, airflow_url: str, store: Store,
                    vendor_meant: Mapping[str, str]) -> dict[str, list[dict]]:
    """The accountant's round of every integration's Reference data tab; what waited for links before it.
    ``vendor_meant``: the ERP vendor she means by a Procore vendor's name where two ERP vendors look like it."""
    waited = waiting_for_links(store)
    for name, rows in waited.items():
        example = f'; for example {rows[0]["record_type"]} {rows[0]["procore_number"]}: {rows[0]["message"]}' \
            if rows else ""
        print(f"{name}: after the first sync, {len(rows)} record(s) wait for reference data links{example}")
        tab = ReferenceTab(session, airflow_url, name)
        for kind in tab.page(ReferenceKind.VENDOR).kinds:
            if notice := tab.confirm_all_shown(kind):
                print(f"{name}: on the {kind.label} tab the accountant pressed Confirm all shown. {notice}")
        for procore_name, erp_name in vendor_meant.items():
            if said := tab.link_by_search(ReferenceKind.VENDOR, procore_name, erp_name):
                print(said)
    return waited


def what_became_of(store: Store, waited: Mapping[str, list[dict]], when: str) -> list[str]:
    """Sentences on the records that waited for links: where each stands now, and the sentence of each that
    still waits (nothing in the ERP to link it to yet)."""
    said = []
    for integration in store.integrations():
        before = {(row["record_type"], row["procore_id"]) for row in waited.get(integration["name"], [])}
        now = [row for row in store.rows("active_links", integration_id=integration["id"])
               if (row["record_type"], row["procore_id"]) in before]
        if not now:
            continue
        standing = Counter(_standing(row) for row in now)
        said.append(f"{integration['name']}, {when}: of the {len(before)} record(s) that waited for links, "
                    + ", ".join(f"{count} {where}" for where, count in standing.items()) + ".")
        said += [f"  still waiting: {row['record_type']} {row['procore_number']}: {row['message']}"
                 for row in now if row["reason_code"] == REASON_CODE]
    return said


def _standing(row: Mapping) -> str:
    if row["reason_code"] == REASON_CODE:
        return "still wait for links the ERP must set up first"
    return STANDING.get(row["state"], f"are {row['state']}")
