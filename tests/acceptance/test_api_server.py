"""`python api.py` as a user runs it: a uvicorn server in a subprocess, in server mode (refusing an
oversized upload before its body is sent, two worker processes) and embedded (its own database,
worker and local key); the exit codes of a server that cannot start."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api_support import free_port
from tests.conftest import EXAMPLES, REDIS_URL, ROOT


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUBEN_")}
    env.update(JUBEN_BROKER__URL=REDIS_URL, JUBEN_LOGGING__LEVEL="WARNING", PYTHONPATH=str(ROOT), **extra)
    return env


@contextlib.contextmanager
def api(
    env: dict[str, str], *args: str, cwd: Path = ROOT, timeout_s: float = 60
) -> Iterator[tuple[str, list[str]]]:
    """Run `python api.py ARGS` until it answers /healthz; yield its base URL and its first lines."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "api.py"), "--port", str(port), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"api.py exited {process.returncode}: {process.stdout.read() if process.stdout else ''}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise AssertionError("api.py did not answer /healthz")
            time.sleep(0.1)
        lines: list[str] = []
        yield base, lines
    finally:
        process.terminate()
        try:
            out, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        lines.extend(out.splitlines())


def _answer(sock: socket.socket) -> str:
    """An HTTP answer read off a raw socket: its head and its Content-Length of body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
    )
    while len(body) < length:
        body += sock.recv(65536)
    return (head + b"\r\n\r\n" + body).decode("utf-8")


def _key(env: dict[str, str], role: str = "operator") -> str:
    made = subprocess.run(
        [
            sys.executable,
            str(ROOT / "enqueue.py"),
            "keys",
            "create",
            "--tenant",
            "acme",
            "--role",
            role,
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return str(json.loads(made.stdout)["key"])


def test_a_database_that_cannot_be_used_is_exit_4_with_one_line(pg_database):
    unmigrated = pg_database.rsplit("/", 1)[0] + "/juben_no_such_db"
    result = subprocess.run(
        [sys.executable, str(ROOT / "api.py"), "--port", str(free_port())],
        env=_env(JUBEN_DATABASE__URL=unmigrated),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert 4 == result.returncode
    assert result.stderr.startswith("juben api: ") and 1 == len(result.stderr.strip().splitlines())
    bad = subprocess.run(
        [sys.executable, str(ROOT / "api.py")],
        env=_env(JUBEN_API__PORT="0"),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert 2 == bad.returncode and "api.port" in bad.stderr


def test_server_mode_refuses_an_oversized_upload_before_its_body_is_sent(pg_database, redis_namespace):
    env = _env(JUBEN_DATABASE__URL=pg_database, JUBEN_BROKER__NAMESPACE=redis_namespace)
    key = _key(env)
    with api(env, "--workers", "2") as (base, _):
        assert {"status": "ready"} == httpx.get(f"{base}/readyz").json()
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                (
                    "POST /v1/jobs HTTP/1.1\r\nHost: x\r\n"
                    f"Authorization: Bearer {key}\r\n"
                    "Content-Type: multipart/form-data; boundary=b\r\n"
                    "Content-Length: 5000000000\r\n\r\n"
                ).encode()
            )  # and not one byte of the 5 GB body
            head = _answer(sock)
        assert head.startswith("HTTP/1.1 413 ")
        assert "application/problem+json" in head and "over the limit" in head

        accepted = httpx.post(
            f"{base}/v1/jobs",
            headers={"Authorization": f"Bearer {key}"},
            files={"file": ("the-heist.fountain", (EXAMPLES / "the-heist.fountain").read_bytes())},
        )
        assert 202 == accepted.status_code
        metrics = httpx.get(f"{base}/metrics").text  # both processes' requests, summed
        assert 'route="/v1/jobs",status="202"' in metrics


@pytest.mark.slow
def test_the_embedded_api_prints_its_key_and_breaks_a_script_down(tmp_path):
    env = _env(JUBEN_EMBEDDED__PG_DIR=str(tmp_path / "pg"))
    with api(env, "--embedded", cwd=tmp_path, timeout_s=120) as (base, lines):
        key = (tmp_path / ".juben" / "api-key").read_text().strip()
        assert oct((tmp_path / ".juben" / "api-key").stat().st_mode)[-3:] == "600"
        auth = {"Authorization": f"Bearer {key}"}
        job = httpx.post(
            f"{base}/v1/jobs",
            headers=auth,
            files={"file": ("heist.fountain", (EXAMPLES / "the-heist.fountain").read_bytes())},
        ).json()
        deadline = time.monotonic() + 60
        while (view := httpx.get(f"{base}/v1/jobs/{job['id']}", headers=auth).json())[
            "status"
        ] != "COMPLETED":
            assert view["status"] not in ("FAILED", "CANCELLED") and time.monotonic() < deadline, view
            time.sleep(0.2)
        report = httpx.get(f"{base}/v1/jobs/{job['id']}/report", headers=auth).json()
        assert report["scenes"]
    assert any(key in line for line in lines) and any("/docs" in line for line in lines)
