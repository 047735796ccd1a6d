"""People act as themselves (SPEC "Identity"): who asks is known from Procore, never from a typed id.

- **Airflow users** connect their Procore account once, through Procore's authorization-code flow
  (the ERP Sync page of the Airflow UI). The product keeps, per Airflow user and Procore connection,
  the Procore user that ``GET /me`` answered with that person's own token, and the newest refresh
  token, sealed with Airflow's Fernet key. Whenever the person acts (the unlink form, an on-demand
  payment sync), Procore is asked again: the refresh token is spent for a new one (Procore rotates
  them) and ``/me`` must still answer the same user. A person without a working connection is told
  how to connect.
- **Rows typed into ``unlink_requests`` and ``export_decisions``**: on PostgreSQL the database writes the inserting role
  (``session_user``) into ``filed_by_role``; an administrator maps roles to Procore users in
  ``role_procore_users``, which only the pipeline's own role may change. A row whose requester is not
  its filer's Procore user is refused. Rows the pipeline's own role wrote come from the form, whose
  requester was verified as above. On SQLite there are no roles: access to the file is the boundary.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from erp_connectors.base import VendorApiError
from erp_connectors.procore import ProcoreHook
from erp_sync.credentials import seal, unseal
from erp_sync.store import Store, Transaction, audit, utcnow

log = logging.getLogger(__name__)
CONNECT_PAGE = "/erp-sync/identity/"


class NotConnected(Exception):
    """The person has no working Procore connection; the message says how to make one."""


@dataclass(frozen=True)
class Requester:
    """A person as Procore confirmed them."""

    airflow_user: str
    procore_user_id: int
    name: str


def how_to_connect(airflow_user: str, procore_conn_id: str) -> str:
    return (f"Connect your Procore account first: in the Airflow UI open Procore account in the nav bar "
            f"({CONNECT_PAGE}), connect it for {procore_conn_id} as {airflow_user}, then try again.")


class ProcoreAccounts:
    """The Procore account each Airflow user connected, per Procore connection."""

    def __init__(self, store: Store):
        self.store = store

    def connect(self, airflow_user: str, procore_conn_id: str, code: str, redirect_uri: str) -> Requester:
        """Finish the sign-in: spend the authorization code, ask Procore who signed in, keep that."""
        with ProcoreHook(procore_conn_id) as procore:
            grant = procore.grant_from_code(code, redirect_uri)
            person = procore.signed_in_user(grant.access_token)
        with self.store.transaction() as tx:
            tx.execute("save_procore_account", airflow_user=airflow_user, procore_conn_id=procore_conn_id,
                       procore_user_id=person["id"], procore_login=person.get("login"),
                       procore_name=person.get("name"), refresh_token_sealed=seal(grant.refresh_token), now=utcnow())
            _audit(tx, airflow_user, procore_conn_id, "connected", person)
        log.info("Airflow user %s connected Procore user %s on %s", airflow_user, person["id"], procore_conn_id)
        return Requester(airflow_user, int(person["id"]), person.get("name") or str(person["id"]))

    def disconnect(self, airflow_user: str, procore_conn_id: str) -> bool:
        with self.store.transaction() as tx:
            row = tx.one("delete_procore_account", airflow_user=airflow_user, procore_conn_id=procore_conn_id)
            if row is not None:
                _audit(tx, airflow_user, procore_conn_id, "disconnected", {"id": row["procore_user_id"]})
        return row is not None

    def of_user(self, airflow_user: str) -> list[dict]:
        return self.store.rows("procore_accounts_of_user", airflow_user=airflow_user)

    def verified(self, airflow_user: str | None, procore_conn_id: str) -> Requester:
        """The person's Procore user, confirmed by Procore now; NotConnected says why not and what to do."""
        if not airflow_user:
            raise NotConnected("This run was not started by a signed-in Airflow user, so there is no one to act as: "
                               "trigger it from the Airflow UI or API as yourself.")
        with self.store.transaction() as tx:  # the row stays locked until the rotated token is saved
            row = tx.one("lock_procore_account", airflow_user=airflow_user, procore_conn_id=procore_conn_id)
            if row is None:
                raise NotConnected(f"Airflow user {airflow_user} has no Procore account connected. "
                                   + how_to_connect(airflow_user, procore_conn_id))
            person, refresh_token = self._ask_procore(row)
            tx.execute("rotate_procore_account", airflow_user=airflow_user, procore_conn_id=procore_conn_id,
                       refresh_token_sealed=seal(refresh_token), procore_name=person.get("name"),
                       procore_login=person.get("login"), now=utcnow())
        log.info("Procore confirmed Airflow user %s as Procore user %s", airflow_user, person["id"])
        return Requester(airflow_user, int(person["id"]), person.get("name") or str(person["id"]))

    def _ask_procore(self, row: dict) -> tuple[dict, str]:
        airflow_user, procore_conn_id = row["airflow_user"], row["procore_conn_id"]
        with ProcoreHook(procore_conn_id) as procore:
            try:
                grant = procore.grant_from_refresh(unseal(row["refresh_token_sealed"]))
            except VendorApiError as error:
                if error.status != 400:  # 400 is Procore's invalid_grant: revoked, expired or already spent
                    raise
                raise NotConnected(f"Procore no longer accepts the connection of Airflow user {airflow_user} "
                                   f"({error.message}). " + how_to_connect(airflow_user, procore_conn_id)) from error
            person = procore.signed_in_user(grant.access_token)
        if int(person["id"]) != row["procore_user_id"]:
            raise NotConnected(f"Procore now answers for user {person['id']}, not the connected user "
                               f"{row['procore_user_id']}. " + how_to_connect(airflow_user, procore_conn_id))
        return person, grant.refresh_token


def _audit(tx: Transaction, airflow_user: str, procore_conn_id: str, action: str, person: dict) -> None:
    audit(tx, "procore_account", f"{airflow_user}@{procore_conn_id}", action, actor=airflow_user,
          detail={"procore_user_id": person["id"], "procore_name": person.get("name")})


# Rows typed into unlink_requests and export_decisions -----------------------------------------

def map_role(store: Store, role_name: str, procore_user_id: int, actor: str) -> None:
    """An administrator says which Procore user a database role is (the role's owner, as Procore knows them)."""
    with store.transaction() as tx:
        tx.execute("map_role", role_name=role_name, procore_user_id=procore_user_id, mapped_by=actor, now=utcnow())
        audit(tx, "role_procore_user", role_name, "mapped", actor=actor, detail={"procore_user_id": procore_user_id})


def filer_refusal(store: Store, request: dict, person_column: str = "requested_by") -> str | None:
    """Why a typed row may not ask as the Procore user in ``person_column``, or None. Rows without a role
    (SQLite) and rows the pipeline's own role wrote (the forms, whose person Procore confirmed) pass."""
    role = request.get("filed_by_role")
    if role is None or role == store.session_role:
        return None
    mapped = store.one("procore_user_of_role", role_name=role)
    if mapped is None:
        return (f"The request was typed in by database role '{role}', which is not mapped to a Procore user, so "
                "who asks is unknown: an administrator maps it with `python -m erp_sync map-role`.")
    if mapped["procore_user_id"] != request.get(person_column):
        return (f"The request names Procore user {request.get(person_column)} as requester, but it was typed in by "
                f"database role '{role}', which is Procore user {mapped['procore_user_id']}: people file "
                "requests as themselves.")
    return None
