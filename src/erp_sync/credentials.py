"""Credentials the product keeps in the status store (OAuth refresh tokens) are sealed with the Fernet
key Airflow already uses (``[core] fernet_key``), so reading the store does not hand out a usable secret.

A credential is opened only where it is used, and is then registered with Airflow's secrets masker,
so a log line that ever carried it would show ``***``.
"""

from __future__ import annotations

from cryptography.fernet import InvalidToken

NO_KEY = ("ERP Sync keeps OAuth refresh tokens encrypted with Airflow's Fernet key, and none is set: set "
          "[core] fernet_key (AIRFLOW__CORE__FERNET_KEY) for every Airflow component.")


def _fernet():
    from airflow.models.crypto import get_fernet

    fernet = get_fernet()
    if not fernet.is_encrypted:
        raise RuntimeError(NO_KEY)
    return fernet


def seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def unseal(sealed: str, ttl: int | None = None) -> str:
    """The secret; with ``ttl``, only if it was sealed at most that many seconds ago (InvalidToken otherwise)."""
    try:
        secret = _fernet().decrypt(sealed.encode(), ttl).decode()
    except InvalidToken as error:
        raise RuntimeError("A stored credential cannot be decrypted with the current [core] fernet_key (was the key "
                           "replaced instead of rotated? Keep the old key after the new one).") from error
    _mask(secret)
    return secret


def _mask(secret: str) -> None:
    from airflow.sdk.log import mask_secret

    mask_secret(secret)
