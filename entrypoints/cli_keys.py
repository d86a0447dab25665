"""``enqueue.py keys``: API keys for the HTTP API (create, list, revoke); the CLI needs none."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer
from rich.table import Table

from entrypoints.cli_common import JsonOpt, app, emit_json, one_of, out, say
from pipeline import keys

keys_app = typer.Typer(no_args_is_help=True, help="API keys of the HTTP API, per tenant and role.")
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="The tenant the key acts for (created if new).")],
    role: Annotated[
        str, typer.Option(help=f"One of {', '.join(keys.ROLES)}.", callback=one_of(keys.ROLES))
    ] = "submitter",
    label: Annotated[str | None, typer.Option(help="What the key is for.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a key and print it once: only its hash is stored."""
    info, key = keys.create_key(tenant, role, label=label)
    if as_json:
        emit_json({**dataclasses.asdict(info), "key": key})
        return
    out.print(key, soft_wrap=True, highlight=False)
    say(f"key {info.prefix} for tenant {info.tenant} ({info.role}): shown once, store it now")


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The keys, revoked ones too; never their secrets."""
    found = keys.list_keys(tenant=tenant)
    if as_json:
        emit_json([dataclasses.asdict(k) for k in found])
        return
    table = Table("prefix", "tenant", "role", "label", "created", "revoked")
    for k in found:
        table.add_row(
            k.prefix, k.tenant, k.role, k.label or "", f"{k.created_at:%Y-%m-%d %H:%M}",
            f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "",
        )  # fmt: skip
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix (as `keys list` shows it) or the key.")],
    as_json: JsonOpt = False,
) -> None:
    """Refuse a key from now on (exit 3 if there is no such key)."""
    info = keys.revoke_key(prefix)
    if as_json:
        emit_json(dataclasses.asdict(info))
    else:
        say(f"key {info.prefix} of tenant {info.tenant} revoked")


@keys_app.command("webhook-secret")
def keys_webhook_secret(
    tenant: Annotated[str, typer.Option(help="The tenant whose webhooks it signs.")],
    rotate: Annotated[bool, typer.Option("--rotate", help="Make a new secret (the old one stops).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Print the secret that signs the tenant's webhooks (made on first use); exit 3 for an unknown tenant."""
    from pipeline.webhooks import tenant_secret

    secret = tenant_secret(tenant, rotate=rotate)
    if as_json:
        emit_json({"tenant": tenant, "webhook_secret": secret})
        return
    out.print(secret, soft_wrap=True, highlight=False)
