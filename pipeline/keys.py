"""API keys: create (shown once), list, revoke, and authenticate a bearer token to a tenant and role.

A key reads ``jbn_<prefix>_<secret>``: the prefix (8 characters) finds its row and names it in
listings and logs; only the SHA-256 of the whole key is stored. A key carries 256 bits of
randomness, so a fast hash is as safe as a slow one and costs the API microseconds per request;
the comparison is constant-time. Roles nest: a viewer reads, a submitter also submits, an
operator also cancels, re-runs and acts on dead letters.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from models import ApiKey, Tenant
from models.base import utcnow
from pipeline.db import read_session_factory, session_factory
from pipeline.errors import InputError, JubenError, NotFound, Unauthorized
from pipeline.settings import Settings


class Role(IntEnum):
    """What a key may do; each role may do all that the ones below it may."""

    viewer = 1
    submitter = 2
    operator = 3


ROLES = tuple(r.name for r in Role)
_KEY = re.compile(r"^jbn_([A-Za-z0-9]{8})_([A-Za-z0-9_-]{43})$")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class KeyInfo:
    """A key as listings show it: never its secret."""

    id: int
    prefix: str
    tenant: str
    role: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class Principal:
    """Who a request is: the key's tenant and role."""

    key_id: int
    prefix: str
    tenant_id: int
    tenant: str
    role: Role

    def may(self, role: Role) -> bool:
        """Whether this key's role includes ``role``."""
        return self.role >= role


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def create_key(
    tenant: str, role: str, *, label: str | None = None, settings: Settings | None = None
) -> tuple[KeyInfo, str]:
    """Make a key for ``tenant`` (created if new) with ``role``.

    Returns:
        The key's listing entry and the key itself, which is stored nowhere: show it once.

    Raises:
        InputError: an unknown role or a tenant name that is not a plain identifier.
    """
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if not _TENANT.match(tenant):
        raise InputError(f"tenant {tenant!r}: letters, digits, '.', '_' and '-', at most 100")
    for _ in range(5):  # a prefix collision (one in 2^47 per pair of keys) draws again
        prefix = "".join(
            secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789") for _ in range(8)
        )
        key = f"jbn_{prefix}_{secrets.token_urlsafe(32)}"
        try:
            with session_factory(settings).begin() as session:
                tenant_id = session.scalar(select(Tenant.id).where(Tenant.name == tenant))
                if tenant_id is None:
                    row = Tenant(name=tenant)
                    session.add(row)
                    session.flush()
                    tenant_id = row.id
                made = ApiKey(tenant_id=tenant_id, prefix=prefix, key_hash=_hash(key), role=role, label=label)
                session.add(made)
                session.flush()
                info = KeyInfo(made.id, prefix, tenant, role, label, made.created_at, None)
            return info, key
        except IntegrityError:  # the prefix, or a tenant another process created meanwhile
            continue
    raise JubenError("could not make a key: try again")


#: A key as listings show it (:class:`KeyInfo`'s fields, in order).
_LISTING = (
    select(
        ApiKey.id, ApiKey.prefix, Tenant.name, ApiKey.role, ApiKey.label, ApiKey.created_at, ApiKey.revoked_at
    )
    .join(Tenant, Tenant.id == ApiKey.tenant_id)
    .order_by(ApiKey.id)
)


def list_keys(*, tenant: str | None = None, settings: Settings | None = None) -> list[KeyInfo]:
    """Every key (revoked ones too), oldest first; only ``tenant``'s if given."""
    query = _LISTING if tenant is None else _LISTING.where(Tenant.name == tenant)
    with read_session_factory(settings)() as session:
        return [KeyInfo(*row) for row in session.execute(query)]


def revoke_key(prefix: str, *, settings: Settings | None = None) -> KeyInfo:
    """Refuse the key with this prefix (or the whole key) from now on; revoking twice is no error.

    Raises:
        NotFound: no key has this prefix.
    """
    found = _KEY.match(prefix)
    prefix = found.group(1) if found else prefix.removeprefix("jbn_")
    with session_factory(settings).begin() as session:
        session.execute(
            update(ApiKey)
            .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        row = session.execute(_LISTING.where(ApiKey.prefix == prefix)).one_or_none()
    if row is None:
        raise NotFound(f"no key {prefix}")
    return KeyInfo(*row)


def authenticate(key: str | None, *, settings: Settings | None = None) -> Principal:
    """The tenant and role of a bearer key.

    Raises:
        Unauthorized: no key, a malformed, unknown or revoked one (one message for all: a caller
            learns nothing about which keys exist).
    """
    found = _KEY.match(key or "")
    if found is None:
        raise Unauthorized("a valid API key is required (Authorization: Bearer jbn_…)")
    query = (
        select(ApiKey.id, ApiKey.key_hash, ApiKey.role, ApiKey.revoked_at, Tenant.id, Tenant.name)
        .join(Tenant, Tenant.id == ApiKey.tenant_id)
        .where(ApiKey.prefix == found.group(1))
    )
    with read_session_factory(settings)() as session:
        row = session.execute(query).one_or_none()
    if (
        row is None
        or row.revoked_at is not None
        or not hmac.compare_digest(row.key_hash, _hash(found.group(0)))
    ):
        raise Unauthorized("a valid API key is required (Authorization: Bearer jbn_…)")
    return Principal(row.id, found.group(1), row[4], row.name, Role[row.role])
