"""API keys on real PostgreSQL: shown once, stored hashed, authenticated to a tenant and role,
refused at once when revoked; the `keys` commands."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select

from entrypoints.cli import entrypoint
from models import ApiKey, Tenant
from pipeline import keys
from pipeline.db import session_factory
from pipeline.errors import InputError, NotFound, Unauthorized


def test_a_key_is_shown_once_stored_hashed_and_authenticates_to_its_tenant_and_role(pg_settings):
    info, key = keys.create_key("acme", "submitter", label="ingest service")
    _, other_key = keys.create_key("globex", "viewer")

    with session_factory()() as s:
        rows = s.execute(select(ApiKey.prefix, ApiKey.key_hash, Tenant.name).join(Tenant)).all()
        stored = " ".join(str(v) for row in rows for v in row)
    assert key not in stored and key.split("_")[-1] not in stored  # no secret at rest
    assert hashlib.sha256(key.encode()).hexdigest() in stored
    assert key.startswith(f"jbn_{info.prefix}_")

    who = keys.authenticate(key)
    assert ("acme", keys.Role.submitter) == (who.tenant, who.role)
    assert who.may(keys.Role.viewer) and who.may(keys.Role.submitter) and not who.may(keys.Role.operator)
    assert "globex" == keys.authenticate(other_key).tenant
    assert ["acme", "globex"] == [k.tenant for k in keys.list_keys()]
    assert [info.prefix] == [k.prefix for k in keys.list_keys(tenant="acme")]


@pytest.mark.parametrize(
    "bad",
    [None, "", "Bearer x", "jbn_short_x", "jbn_ABCDEFGH_" + "A" * 43],
)
def test_missing_malformed_and_unknown_keys_are_refused_alike(pg_settings, bad):
    keys.create_key("acme", "viewer")
    with pytest.raises(Unauthorized, match="a valid API key is required"):
        keys.authenticate(bad)


def test_a_key_with_a_known_prefix_and_a_wrong_secret_is_refused(pg_settings):
    _, key = keys.create_key("acme", "operator")
    forged = key[:-1] + ("A" if key[-1] != "A" else "B")
    with pytest.raises(Unauthorized):
        keys.authenticate(forged)


def test_a_revoked_key_is_refused_at_once(pg_settings):
    info, key = keys.create_key("acme", "operator")
    assert keys.authenticate(key).may(keys.Role.operator)

    revoked = keys.revoke_key(info.prefix)

    assert revoked.revoked_at is not None
    with pytest.raises(Unauthorized):
        keys.authenticate(key)
    assert keys.revoke_key(key).revoked_at == revoked.revoked_at  # by the whole key, twice: no error
    with pytest.raises(NotFound):
        keys.revoke_key("nokey123")


@pytest.mark.parametrize(("tenant", "role"), [("acme", "admin"), ("two words", "viewer"), ("", "viewer")])
def test_a_bad_role_or_tenant_name_is_refused(pg_settings, tenant, role):
    with pytest.raises(InputError):
        keys.create_key(tenant, role)


def test_the_keys_commands(pg_settings, capsys, monkeypatch, unhook_logging):
    monkeypatch.setenv("JUBEN_DATABASE__URL", pg_settings.database.url)
    assert 0 == entrypoint(
        ["keys", "create", "--tenant", "acme", "--role", "operator", "--label", "ops", "--json"]
    )
    made = json.loads(capsys.readouterr().out)
    assert keys.authenticate(made["key"]).tenant == "acme"

    assert 0 == entrypoint(["keys", "list", "--json"])
    listed = capsys.readouterr().out
    assert made["prefix"] in listed and made["key"] not in listed

    assert 0 == entrypoint(["keys", "revoke", made["prefix"]])
    assert "revoked" in capsys.readouterr().err
    assert 3 == entrypoint(["keys", "revoke", "nokey123"])
    assert 2 == entrypoint(["keys", "create", "--tenant", "acme", "--role", "admin"])
    with pytest.raises(Unauthorized):
        keys.authenticate(made["key"])
