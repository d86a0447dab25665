"""The floor the HTTP API is measured against: the least an ASGI app can do per request on the same
server (uvicorn), driver (psycopg2 in a thread pool, as Juben's routes run) and database.

``POST /items`` stores its body with one INSERT; ``GET /items/{id}`` reads one row by primary key.
No framework, no validation, no auth. ``POST /jobs`` does the durable work of a Juben submit and
nothing else: a job, its script and its first event in one statement (the columns Juben writes,
in the project ``FLOOR_PROJECT``), then one message pushed to Redis (``FLOOR_REDIS_URL``,
``FLOOR_REDIS_KEY``): the floor the issue's proposed restatement of the submit target names. Run by ``bench.api_http`` as
``uvicorn bench.floor_app:app`` with ``FLOOR_DSN`` naming the database. ``bench.floor_app:framework``
is the same in FastAPI: the framework's own share of a request, measured beside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
import psycopg2

# At module level: with ``from __future__ import annotations`` FastAPI resolves a route's
# annotations in the module's globals (imported in the function, ``Request`` was read as a
# query parameter and every POST was a 422).
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

#: Threads per process for the statements, as Juben's API has (``api.threads``): with anyio's
#: 40 and a connection kept per thread, the floors alone could hold 160 of PostgreSQL's 100.
THREADS = 8

#: Idle connections, kept: made on demand (at most one per thread), never closed. psycopg2's ``ThreadedConnectionPool(1, 40)`` closed every connection returned while
#: another sat idle, so under load the floor reconnected on most requests (measured 400-3,800
#: req/s by luck of timing) and understated what one SELECT per request costs.
_idle: queue.SimpleQueue[Any] = queue.SimpleQueue()


def _connection() -> Any:
    try:
        return _idle.get_nowait()
    except queue.Empty:
        conn = psycopg2.connect(os.environ["FLOOR_DSN"])
        conn.autocommit = True  # one statement, its own transaction: no BEGIN/COMMIT round trips
        return conn


def _query(sql: str, params: Any) -> Any:
    conn = _connection()
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone() if cursor.description else None
    finally:
        _idle.put(conn)


#: A Juben submit's rows in one statement, as ``pipeline.jobs._INSERT_JOB`` writes them.
_INSERT_JOB = """
WITH new_job AS (
  INSERT INTO jobs (id, project_id, tenant_id, title, options, meta, stats, created_at, updated_at,
                    status, run, chunks_total, chunks_done, deliveries)
  SELECT %(id)s, p.id, p.tenant_id, %(title)s, '{}'::jsonb, %(meta)s::jsonb, '{}'::jsonb, now(), now(),
         'PENDING', 1, 0, 0, 0
  FROM projects p WHERE p.name = %(project)s LIMIT 1
), new_script AS (
  INSERT INTO script_contents (job_id, text, sha256, char_count, byte_count, encoding, sources)
  VALUES (%(id)s, %(text)s, %(sha256)s, %(chars)s, %(bytes)s, 'utf-8', %(sources)s::jsonb)
)
INSERT INTO job_events (job_id, run, from_status, to_status, at) VALUES (%(id)s, 1, 'NEW', 'PENDING', now())
"""

_redis: list[Any] = []


def _store_job(text: str) -> str:
    import hashlib
    import uuid

    import redis

    job_id = uuid.uuid4().hex
    data = text.encode()
    sha256 = hashlib.sha256(data).hexdigest()
    params = {
        "id": job_id,
        "project": os.environ["FLOOR_PROJECT"],
        "title": "script",
        "meta": json.dumps({"files": ["script.txt"], "request_sha256": sha256}),
        "text": text,
        "sha256": sha256,
        "chars": len(text),
        "bytes": len(data),
        "sources": json.dumps([{"name": "script.txt", "start": 0, "end": len(text)}]),
    }
    _query(_INSERT_JOB, params)  # one statement: one transaction
    if not _redis:
        _redis.append(redis.Redis.from_url(os.environ["FLOOR_REDIS_URL"]))
    message = {"queue_name": "ingest", "actor_name": "ingest", "args": [job_id], "kwargs": {}, "options": {}}
    _redis[0].rpush(os.environ["FLOOR_REDIS_KEY"], json.dumps(message))
    return job_id


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send_json(send: Any, status: int, value: Any) -> None:
    body = json.dumps(value).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path, method = scope["path"], scope["method"]
    if method == "POST" and path == "/items":
        body = (await _body(receive)).decode("utf-8", "replace")
        row = await anyio.to_thread.run_sync(
            _query, "INSERT INTO floor_items (body) VALUES (%s) RETURNING id", (body,)
        )
        await _send_json(send, 201, {"id": row[0]})
    elif method == "POST" and path == "/jobs":
        text = json.loads(await _body(receive))["text"]
        await _send_json(send, 202, {"id": await anyio.to_thread.run_sync(_store_job, text)})
    elif method == "GET" and path.startswith("/items/"):
        row = await anyio.to_thread.run_sync(
            _query, "SELECT id, body FROM floor_items WHERE id = %s", (int(path.rsplit("/", 1)[1]),)
        )
        await _send_json(send, 200 if row else 404, {"id": row[0], "body": row[1]} if row else {})
    else:
        await _send_json(send, 404, {})


def _framework_app() -> Any:
    """The same two routes in FastAPI (``uvicorn bench.floor_app:framework``): what the framework
    Juben's API is written in costs by itself, with no auth, validation or service layer."""

    @contextlib.asynccontextmanager
    async def threads(_: Any) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
        yield

    framework = FastAPI(lifespan=threads)

    @framework.post("/items", status_code=201)
    async def store(request: Request) -> JSONResponse:
        body = (await request.body()).decode("utf-8", "replace")
        row = await anyio.to_thread.run_sync(
            _query, "INSERT INTO floor_items (body) VALUES (%s) RETURNING id", (body,)
        )
        return JSONResponse({"id": row[0]}, status_code=201)

    @framework.get("/items/{item_id}")
    def read(item_id: int) -> JSONResponse:
        row = _query("SELECT id, body FROM floor_items WHERE id = %s", (item_id,))
        return JSONResponse({"id": row[0], "body": row[1]} if row else {}, status_code=200 if row else 404)

    return framework


framework = _framework_app()
