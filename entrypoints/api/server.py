"""``python api.py``: serve the HTTP API with uvicorn, in server mode or embedded.

Server mode checks first that the database answers and is migrated and that Redis answers
(else one line and exit 4; bad settings exit 2), then runs ``api.workers`` uvicorn processes.
``--embedded`` starts the private PostgreSQL and an in-process worker (as ``enqueue.py run``),
makes a local operator key for the tenant ``default`` on first use (kept in ``.juben/api-key``),
prints the URL and the key, and serves one process.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import JubenError, SettingsError, Unauthorized, Unavailable

if TYPE_CHECKING:
    from pipeline.settings import Settings

#: Where the embedded mode keeps its local key (readable by its owner only).
LOCAL_KEY_FILE = Path(".juben/api-key")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="api.py", description="Serve Juben's HTTP API (OpenAPI at /docs).")
    parser.add_argument("--host", help="address to listen on (api.host)")
    parser.add_argument("--port", type=int, help="port (api.port)")
    parser.add_argument("--workers", type=int, help="worker processes (api.workers; 1 when embedded)")
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="run on the embedded mode's private PostgreSQL with an in-process worker (no server needed)",
    )
    return parser


def local_key(settings: Settings) -> str:
    """The embedded mode's local operator key: the one in :data:`LOCAL_KEY_FILE` while it is
    valid, else a new one for the tenant ``default`` (written there, mode 600)."""
    from pipeline.keys import authenticate, create_key

    if LOCAL_KEY_FILE.exists():
        key = LOCAL_KEY_FILE.read_text(encoding="ascii").strip()
        try:
            authenticate(key, settings=settings)
            return key
        except Unauthorized:
            pass  # revoked, or the private database was deleted: make another
    _, key = create_key("default", "operator", label="embedded local key", settings=settings)
    LOCAL_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
    LOCAL_KEY_FILE.write_text(key + "\n", encoding="ascii")
    LOCAL_KEY_FILE.chmod(0o600)
    return key


def _serve_embedded(host: str, port: int) -> int:
    import uvicorn

    from entrypoints.api.app import create_app
    from entrypoints.embedded import EmbeddedRuntime
    from pipeline.settings import load_settings

    with EmbeddedRuntime(load_settings(mode="embedded")) as runtime:
        key = local_key(runtime.settings)
        print(  # noqa: T201 (what the user needs to start: the URL and the key)
            f"Juben API (embedded) on http://{host}:{port}/  docs: http://{host}:{port}/docs  console: http://{host}:{port}/ui/\n"
            f"local operator key (tenant default; kept in {LOCAL_KEY_FILE}):\n  {key}",
            flush=True,
        )
        config = uvicorn.Config(
            create_app(runtime.settings, connect=False), host=host, port=port, access_log=False
        )
        uvicorn.Server(config).run()
    return 0


def _multiprocess_metrics(settings: Settings, port: int) -> None:
    """Several worker processes share their metrics through a folder (prometheus_client's
    multiprocess mode), emptied at start; one process has no need of it."""
    folder = Path(settings.metrics.dir) / f"api-{port}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    # Flags become settings for this process and the worker processes uvicorn starts.
    for name in ("host", "port", "workers"):
        value = getattr(args, name)
        if value is not None:
            os.environ[f"JUBEN_API__{name.upper()}"] = str(value)
    try:
        from pipeline.settings import get_settings

        settings = get_settings()
        if args.embedded:
            return _serve_embedded(settings.api.host, settings.api.port)
        from pipeline.preflight import readiness

        found = readiness(settings)
        if found:
            raise Unavailable("; ".join(found))
    except (SettingsError, Unavailable) as exc:
        print(f"juben api: {exc}", file=sys.stderr)  # noqa: T201 (no logging is set up yet)
        return 2 if isinstance(exc, SettingsError) else 4
    except JubenError as exc:
        print(f"juben api: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    from pipeline.db import dispose_engines

    dispose_engines()  # uvicorn's worker processes open their own
    if settings.api.workers > 1:
        _multiprocess_metrics(settings, settings.api.port)
    import uvicorn

    uvicorn.run(
        "entrypoints.api.app:create_app",
        factory=True,
        host=settings.api.host,
        port=settings.api.port,
        workers=settings.api.workers,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.api.forwarded_allow_ips,
    )
    return 0
