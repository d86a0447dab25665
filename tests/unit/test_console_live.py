"""The console's live counts per status, without a server or a database: a page's event stream
counts again once its tenant's jobs change status (never for another tenant's), at most every
RECOUNT_S, and pages of one tenant open at once in a process count once between them."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from entrypoints.api import console
from pipeline.keys import Principal, Role
from pipeline.settings import load_settings


class _Hub:
    """What a page needs of the event hub: topics subscribed and left."""

    def __init__(self) -> None:
        self.topics: dict[str, set[Any]] = {}

    async def subscribe(self, topic: str, queue: Any) -> None:
        self.topics.setdefault(topic, set()).add(queue)

    def unsubscribe(self, topic: str, queue: Any) -> None:
        self.topics.get(topic, set()).discard(queue)


def _counts(message: bytes) -> dict[str, int] | None:
    if not message.startswith(b"event: counts"):
        return None
    return orjson.loads(message.split(b"data: ", 1)[1])


def test_pages_of_a_tenant_count_again_on_its_changes_once_between_them(monkeypatch):
    counted: list[int | None] = []

    def count_by_status(*, tenant_id: int | None, settings: Any) -> dict[str, int]:
        counted.append(tenant_id)
        return {"PENDING": len(counted)}

    monkeypatch.setattr(console.jobs, "count_by_status", count_by_status)
    monkeypatch.setattr(console, "RECOUNT_S", 0.01)
    settings = load_settings(api={"sse_keepalive_s": 0.05})
    who = Principal(key_id=1, prefix="p", tenant_id=7, tenant="acme", role=Role.viewer)

    async def scenario() -> list[Any]:
        hub, shared = _Hub(), {}
        pages = [console._LivePage(who, settings, hub, True, shared) for _ in range(2)]
        for page in pages:
            await page.follow([])
        assert all(page.queue in hub.topics["tenant:7"] for page in pages)
        streams = [page.events() for page in pages]
        seen: list[Any] = []
        for stream in streams:  # the rows (none), then the counts: one counting for both pages
            await anext(stream)
            seen.append(_counts(await anext(stream)))
        change = {"k": "e", "j": "a" * 32, "o": 7, "f": "PENDING", "t": "INGESTING"}
        for page in pages:
            page.queue.put_nowait(dict(change))
        # Both pages see the change at once, as they do from the hub: counted again, once.
        seen += [_counts(message) for message in await asyncio.gather(*(anext(s) for s in streams))]
        other = {"k": "e", "j": "b" * 32, "o": 8, "f": "PENDING", "t": "INGESTING"}
        note = {"k": "e", "j": "a" * 32, "o": 7, "f": "INGESTING", "t": "INGESTING"}  # a retry's note
        pages[0].queue.put_nowait(other)
        pages[0].queue.put_nowait(note)
        seen.append(await anext(streams[0]))  # neither changes the counts: a keep-alive comes
        for stream in streams:
            await stream.aclose()
        seen.append(hub.topics["tenant:7"])
        return seen

    seen = asyncio.run(scenario())

    assert [{"PENDING": 1}, {"PENDING": 1}, {"PENDING": 2}, {"PENDING": 2}] == seen[:4]
    assert b": keep-alive\n\n" == seen[4]
    assert [7, 7] == counted
    assert set() == seen[5]  # the streams left the hub when they closed


def test_a_page_without_counts_ends_with_its_rows(monkeypatch):
    monkeypatch.setattr(console.jobs, "count_by_status", lambda **_: pytest.fail("counted"))
    who = Principal(key_id=1, prefix="p", tenant_id=7, tenant="acme", role=Role.viewer)

    async def scenario() -> list[bytes]:
        page = console._LivePage(who, load_settings(), _Hub(), False, {})
        await page.follow([])
        return [message async for message in page.events()]

    assert [b"retry: 2000\n\n", b"event: end\ndata: {}\n\n"] == asyncio.run(scenario())


def test_a_live_rows_eta_counts_from_when_its_stage_began_and_moves_with_its_transitions():
    """A row's ETA (console pages pass the recent stage times): the running stage's typical time
    less what it has run, plus the stages after it; a transition's time starts the next stage.
    Without times (the API's streams) no ETA is shown."""
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    from entrypoints.api.events import JobState

    began = datetime.now(UTC) - timedelta(seconds=4)
    row = SimpleNamespace(
        status="DEDUPING", run=1, chunks_done=2, chunks_total=2, failed_stage=None, stage_started_at=began
    )
    times = {"dedup": 10.0, "storyboard": 5.0, "report": 2.0}
    state = JobState(row)

    assert 12.5 <= state.shown(times)["eta_s"] <= 13.0  # 10 - 4 + 5 + 2
    state.apply(
        {"k": "e", "j": "a" * 32, "r": 1, "f": "DEDUPING", "t": "DEDUPED", "a": datetime.now(UTC).isoformat()}
    )
    assert 7.0 == state.shown(times)["eta_s"]  # waiting for storyboard: 5 + 2
    state.apply(
        {"k": "e", "j": "a" * 32, "r": 1, "f": "DEDUPED", "t": "STORYBOARDING", "a": began.isoformat()}
    )
    assert 2.5 <= state.shown(times)["eta_s"] <= 3.0  # storyboarding for 4 s already: 5 - 4 + 2
    assert "eta_s" not in state.shown()
