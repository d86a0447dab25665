"""Who may call the HTTP API: tenants and their API keys (stored hashed, never in clear)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow


class Tenant(IdMixin, Base):
    """A customer of the service: its keys see only its own projects, jobs and dead letters."""

    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The key that signs this tenant's webhooks (``whsec_<base64>``, as Standard Webhooks);
    #: made on first use (``keys webhook-secret``).
    webhook_secret: Mapped[str | None] = mapped_column(String(100))


class ApiKey(IdMixin, Base):
    """One API key: its public prefix (how it is found and named) and the SHA-256 of the whole key."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_tenant_id", "tenant_id"),)

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    #: The key's first characters after ``jbn_``, shown in listings and logs; unique.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    #: Hex SHA-256 of the whole key (the key has 256 bits of entropy: no slow hash needed).
    key_hash: Mapped[str] = mapped_column(String(64))
    #: viewer, submitter or operator.
    role: Mapped[str] = mapped_column(String(20))
    #: What it is for, in the operator's words.
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Set by ``keys revoke``: the key is refused from then on.
    revoked_at: Mapped[datetime | None] = mapped_column()
