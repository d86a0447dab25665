"""A fake OpenAI-compatible chat-completions server for tests and benchmarks.

It answers ``POST /v1/chat/completions`` with valid structured output derived from the scenes
in the prompt (it runs the rules extractor on them), reports token usage, and can be told to
add latency, answer 429 with Retry-After, 500, hang past the client's timeout, send malformed
JSON at given rates, enforce its own requests-per-minute limit, or demand an API key.

    python -m tests.fakes.llm_server --port 8900 --latency 2      # a separate process
    with FakeLLM(latency_s=0.1) as fake: ... fake.url ...           # a thread in a test

Control while running: ``POST /_control`` with a JSON object of :class:`Behaviour` fields,
``GET /_stats`` (requests, statuses, in flight, arrival times), ``POST /_reset`` (stats only).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from pipeline.llm.client import estimate_tokens
from stages.extract.rules import extract_rules
from stages.extract.schema import from_mentions
from stages.prompting import parse_scenes
from stages.screenplay.language import detect_language


@dataclass
class Behaviour:
    latency_s: float = 0.0
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_hang: float = 0.0
    rate_malformed: float = 0.0
    #: Always answer a repair request (one that quotes an earlier answer) with valid JSON.
    repair_succeeds: bool = False
    retry_after_s: float = 1.0
    hang_s: float = 30.0
    #: Answer 429 once more than this many requests arrived in the last 60 s (0: no limit).
    limit_rpm: int = 0
    #: Demand ``Authorization: Bearer <api_key>`` (None: accept anything).
    api_key: str | None = None
    seed: int | None = None


class _Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.statuses: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.arrivals: list[float] = []
        self.window: deque[float] = deque()

    def view(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "statuses": dict(self.statuses),
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "arrivals": list(self.arrivals),
            }


_BOARD_RE = re.compile(
    r"<<<SCENE (\d+) \| (.*?)>>>\n(?:Characters|人物): (.*?)\n(?:Props|道具): (.*?)\n\n(.*)\n<<<END SCENE",
    re.S,
)
SHOT_TYPES = {"establishing", "wide", "medium", "close-up", "over-the-shoulder", "insert", "two-shot", "pov"}


def storyboard_answer(text: str) -> str:
    """A shot list for a storyboard prompt: the rules planner's, for the scene in the prompt."""
    from stages.storyboard.stage import plan_shots

    match = _BOARD_RE.search(text)
    if match is None:
        return json.dumps({"shots": []})
    _, heading, cast, props, scene = match.groups()
    split = re.compile(r", |、")
    names = [n for n in split.split(cast) if n and n != "-"]
    objects = [n for n in split.split(props) if n and n != "-"]
    shots = plan_shots(
        scene,
        heading=heading,
        location=None,
        characters={n: [n] for n in names},
        props={n: [n] for n in objects},
        language=detect_language(scene),
    )
    answer = [
        {
            "type": shot.type if shot.type in SHOT_TYPES else "medium",
            "description": shot.description,
            "characters": list(shot.characters),
            "props": list(shot.props),
        }
        for shot in shots
    ]
    return json.dumps({"shots": answer}, ensure_ascii=False)


def answer_for(messages: list[dict[str, Any]]) -> str:
    """The JSON a perfect model would give: the rules extractor's findings for the prompt's scenes
    (for a storyboard prompt, the rules planner's shots)."""
    system = next((m["content"] for m in messages if m.get("role") == "system"), "")
    text = next(
        (m["content"] for m in messages if m.get("role") == "user" and "<<<SCENE" in m["content"]), ""
    )
    if '"shots"' in system:
        return storyboard_answer(text)
    slices = parse_scenes(text)
    language = detect_language("\n".join(s.text for s in slices)) if slices else "en"
    out = from_mentions(extract_rules(slices, language=language))
    return out.model_dump_json(exclude_none=True)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    #: listen() backlog: hundreds of worker threads connect at once (the stdlib default is 5, and
    #: it is read when the socket starts listening, in the constructor).
    request_queue_size = 1024


class FakeLLM:
    """The server; ``with FakeLLM(...) as fake`` runs it on a loopback port in a thread."""

    def __init__(self, port: int = 0, **behaviour: Any) -> None:
        self.behaviour = Behaviour(**behaviour)
        self.stats = _Stats()
        self._random = random.Random(self.behaviour.seed)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                if self.path == "/_stats":
                    self._json(200, fake.stats.view())
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path == "/_control":
                    fake.configure(**body)
                    self._json(200, asdict(fake.behaviour))
                elif self.path == "/_reset":
                    fake.stats = _Stats()
                    self._json(200, {})
                elif self.path.rstrip("/").endswith("/chat/completions"):
                    fake.handle(self, body)
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def _json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
                send(self, status, value, headers)

        self._server = _Server(("127.0.0.1", port), Handler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL to put in ``[extract] base_url``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def configure(self, **changes: Any) -> None:
        known = {f.name for f in fields(Behaviour)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown behaviour: {sorted(unknown)}")
        for name, value in changes.items():
            setattr(self.behaviour, name, value)
        if "seed" in changes:
            self._random.seed(changes["seed"])

    def _draw(self) -> str:
        b = self.behaviour
        roll = self._random.random()
        for outcome, rate in (
            ("429", b.rate_429),
            ("500", b.rate_500),
            ("hang", b.rate_hang),
            ("malformed", b.rate_malformed),
        ):
            if roll < rate:
                return outcome
            roll -= rate
        return "ok"

    def handle(self, request: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        b, stats = self.behaviour, self.stats
        now = time.time()
        with stats.lock:
            stats.requests += 1
            stats.arrivals.append(now)
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
            while stats.window and stats.window[0] <= now - 60:
                stats.window.popleft()
            over_limit = bool(b.limit_rpm) and len(stats.window) >= b.limit_rpm
            if not over_limit:
                stats.window.append(now)
            outcome = self._draw()
        try:
            status, payload, headers = self._respond(request, body, over_limit, outcome)
            if status == 0:
                return  # hung up
            send(request, status, payload, headers)
        finally:
            with stats.lock:
                stats.in_flight -= 1

    def _count(self, kind: str) -> None:
        """Count an answer when it is decided (a hang is counted before it starts hanging)."""
        with self.stats.lock:
            self.stats.statuses[kind] += 1

    def _respond(
        self, request: BaseHTTPRequestHandler, body: dict[str, Any], over_limit: bool, outcome: str
    ) -> tuple[int, Any, dict[str, str]]:
        b = self.behaviour
        decided: tuple[int, Any, dict[str, str]] | None = None
        retry = {"Retry-After": f"{b.retry_after_s:g}"}
        if b.api_key is not None and request.headers.get("Authorization") != f"Bearer {b.api_key}":
            decided = (
                401,
                {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}},
                {},
            )
        elif over_limit:
            decided = 429, {"error": {"message": "Rate limit reached (requests per minute)"}}, retry
        elif outcome == "429":
            decided = 429, {"error": {"message": "Rate limit reached"}}, retry
        elif outcome == "500":
            decided = 500, {"error": {"message": "The server had an error"}}, {}
        if decided is not None:
            self._count(str(decided[0]))
            return decided
        messages = body.get("messages") or []
        if (
            outcome == "malformed"
            and b.repair_succeeds
            and any(m.get("role") == "assistant" for m in messages)
        ):
            outcome = "ok"
        if outcome == "hang":
            self._count("hang")
            time.sleep(b.hang_s)
            return 0, None, {}
        self._count("malformed" if outcome == "malformed" else "200")
        if b.latency_s:
            time.sleep(b.latency_s)
        content = answer_for(messages)
        if outcome == "malformed":
            content = content[: max(1, len(content) // 2)]  # cut off mid-object: not JSON
        prompt_tokens = estimate_tokens("".join(str(m.get("content", "")) for m in messages))
        return (
            200,
            {
                "id": f"chatcmpl-fake-{self.stats.requests}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": estimate_tokens(content),
                    "total_tokens": prompt_tokens + estimate_tokens(content),
                },
            },
            {},
        )

    def start(self) -> FakeLLM:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def send(
    request: BaseHTTPRequestHandler, status: int, value: Any, headers: dict[str, str] | None = None
) -> None:
    data = json.dumps(value, ensure_ascii=False).encode("utf-8")
    try:
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        for name, header in (headers or {}).items():
            request.send_header(name, header)
        request.end_headers()
        request.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up (a hang past its timeout)


class FakeControl:
    """Drive a fake running in another process."""

    def __init__(self, url: str) -> None:
        self.root = url.removesuffix("/v1")

    def configure(self, **changes: Any) -> dict[str, Any]:
        return dict(httpx.post(f"{self.root}/_control", json=changes, timeout=10).json())

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.root}/_stats", timeout=30).json())

    def reset(self) -> None:
        httpx.post(f"{self.root}/_reset", json={}, timeout=10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8900)
    for f in fields(Behaviour):
        kind = {"float": float, "int": int}.get(str(f.type).split(" ")[0], str)
        flags = [f"--{f.name.replace('_', '-')}"]
        if f.name.endswith("_s"):
            flags.append(f"--{f.name[:-2].replace('_', '-')}")  # --latency 2 as well as --latency-s 2
        parser.add_argument(*flags, dest=f.name, type=kind, default=f.default)
    args = vars(parser.parse_args(argv))
    port = args.pop("port")
    fake = FakeLLM(port, **args)
    print(f"fake LLM listening on {fake.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        fake._server.serve_forever()


if __name__ == "__main__":
    main()
