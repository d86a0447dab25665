"""The LLM path's pure parts: answer schema and checks, prompt markup, rate-limit arithmetic,
the client's error kinds and retries (against the fake server in a thread), the DB cache."""

from __future__ import annotations

import pytest

from pipeline.llm import (
    ChatClient,
    Endpoint,
    InvalidAnswer,
    ProviderRejected,
    ProviderUnavailable,
    parse_json,
)
from pipeline.llm.cache import DbAnswerCache, cache_key
from pipeline.llm.ratelimit import HEADROOM, Limits, LocalRateLimiter, RateLimitBacklog
from pipeline.settings import load_settings
from stages.drafts import Mention, SceneSlice
from stages.extract.llm import extract_llm
from stages.extract.schema import AnswerError, from_mentions, to_mentions, validate_answer
from stages.prompting import load_prompt, parse_scenes, render_scenes
from tests.fakes.llm_server import FakeLLM


def test_answers_round_trip_through_the_schema_to_the_same_mentions():
    mentions = [
        Mention("character", "MARY", 1, {"aliases": ["Mare"], "dialogue_lines": 2, "gender": "female"}),
        Mention("location", "KITCHEN", 1, {}),
        Mention("prop", "REVOLVER", 1, {"aliases": []}),
        Mention("character", "MARY", 2, {"aliases": ["Mare"], "dialogue_lines": 0, "gender": "female"}),
    ]
    out = from_mentions(mentions)
    again = to_mentions(validate_answer(out.model_dump(mode="json"), [1, 2]))
    assert sorted((m.asset_type, m.name, m.scene_number) for m in mentions) == sorted(
        (m.asset_type, m.name, m.scene_number) for m in again
    )
    mary = next(m for m in again if m.name == "MARY" and m.scene_number == 1)
    assert {"aliases": ["Mare"], "dialogue_lines": 2, "gender": "female"} == mary.attributes


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({"characters": [{"name": "", "scenes": [{"scene": 1}]}]}, "characters.0.name"),
        ({"characters": [{"name": "A", "scenes": []}]}, "characters.0.scenes"),
        ({"props": [{"name": "GUN", "scenes": [7]}]}, "scenes [7] are not in this chunk"),
        ([1, 2], "answer"),
    ],
)
def test_invalid_answers_are_explained_for_the_repair_request(answer, problem):
    with pytest.raises(AnswerError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        validate_answer(answer, [1, 2])


def test_json_is_read_through_a_markdown_fence():
    assert {"a": 1} == parse_json('```json\n{"a": 1}\n```')


def test_scene_markup_round_trips_and_prompts_are_versioned_by_language():
    slices = [
        SceneSlice(4, "1-2 夜 外 街道", "街道", "老王：明天见。\n", ("老王",)),
        SceneSlice(5, "", None, "x"),
    ]
    assert slices == parse_scenes(render_scenes(slices, ["老王（王叔）"], "zh"))
    assert "已知人物: 老王（王叔）" in render_scenes(slices, ["老王（王叔）"], "zh")
    assert ("extract-v1.zh", "extract-v1.en") == (
        load_prompt("extract", "zh").version,
        load_prompt("extract", "en").version,
    )


def test_local_rate_limiter_spaces_requests_and_refuses_a_long_backlog():
    now = [100.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)

    limiter = LocalRateLimiter(Limits(rpm=60, max_wait_s=2.5), sleep=sleep, clock=lambda: now[0])
    waits = [limiter.acquire("k", 10) for _ in range(3)]
    step = 1 / HEADROOM  # 60 rpm: a second apart, plus the headroom
    assert [0.0, pytest.approx(step), pytest.approx(2 * step)] == waits
    with pytest.raises(RateLimitBacklog):
        limiter.acquire("k", 10)  # the next slot is 3 s away
    now[0] += 10
    assert 0.0 == limiter.acquire("k", 10)
    assert waits[1:] == slept


def test_token_limit_allows_a_burst_then_charges_the_real_usage():
    now = [0.0]
    limiter = LocalRateLimiter(Limits(tpm=600), sleep=lambda s: None, clock=lambda: now[0])  # 10 tokens/s
    assert 0.0 == limiter.acquire("k", 100)  # ten seconds' worth may burst
    assert 0.0 == limiter.acquire("k", 1)  # books from 10.0 s, within the burst
    limiter.settle("k", 1, 201)  # the call really used 200 more
    assert pytest.approx(30.1 - 10.0) == limiter.acquire("k", 1)


def _endpoint(fake: FakeLLM, **kw: object) -> Endpoint:
    values: dict[str, object] = {"base_url": fake.url, "model": "m", "api_key": "k", "max_retry_wait_s": 0.05}
    values.update(kw)
    return Endpoint(**values)  # type: ignore[arg-type]


def test_the_client_retries_transient_faults_and_reports_each_retry():
    with FakeLLM(rate_500=1.0) as fake:
        retries: list[str] = []
        client = ChatClient(_endpoint(fake, call_attempts=3))
        with pytest.raises(ProviderUnavailable, match="after 3 attempts"):
            client.chat([{"role": "user", "content": "hi"}], on_retry=lambda e, s: retries.append(str(e)))
        assert 2 == len(retries)
        assert {"500": 3} == fake.stats.view()["statuses"]


def test_the_client_fails_at_once_on_a_bad_key_and_never_shows_it():
    with FakeLLM(api_key="right") as fake:
        client = ChatClient(_endpoint(fake, api_key="wrong-secret"))
        with pytest.raises(ProviderRejected) as caught:
            client.chat([{"role": "user", "content": "hi"}])
        assert "wrong-secret" not in str(caught.value)
        assert "wrong-secret" not in repr(client.endpoint)
        assert 1 == fake.stats.view()["requests"]


def test_the_api_key_comes_from_the_named_environment_variable(monkeypatch):
    monkeypatch.setenv("SOME_KEY_VAR", "sk-123")
    settings = load_settings(extract={"api_key_env": "SOME_KEY_VAR", "model": "a"})
    endpoint = Endpoint.from_settings(settings.extract, {"model": "b", "unrelated": 1})
    assert ("sk-123", "b") == (endpoint.api_key, endpoint.model)


def test_a_timeout_is_retried_then_reported_unavailable():
    with FakeLLM(rate_hang=1.0, hang_s=1.0) as fake:
        client = ChatClient(_endpoint(fake, timeout_s=0.2, call_attempts=2))
        with pytest.raises(ProviderUnavailable, match="timed out"):
            client.chat([{"role": "user", "content": "hi"}])


def test_an_unusable_answer_is_repaired_once_then_kept_raw():
    slices = [SceneSlice(1, "INT. BAR", "BAR", "JOE\nHi.\n")]
    with FakeLLM(rate_malformed=1.0) as fake:
        client = ChatClient(_endpoint(fake))
        with pytest.raises(InvalidAnswer) as caught:
            extract_llm(slices, language="en", roster=[], client=client, cache=None, cache_ttl_s=0)
        assert 2 == fake.stats.view()["requests"]
        assert caught.value.raw.startswith('{"characters"')


def test_db_cache_expires_entries(pg_settings):
    cache = DbAnswerCache(pg_settings)
    key = cache_key("messages", "model", "v1", "1")
    assert cache.get(key) is None
    cache.put(key, {"characters": []}, ttl_s=60)
    cache.put(key, {"characters": [], "props": []}, ttl_s=60)  # a second answer replaces the first
    assert {"characters": [], "props": []} == cache.get(key)
    cache.put("expired", {"x": 1}, ttl_s=1)
    from datetime import timedelta

    from sqlalchemy import update

    from models import LlmCacheEntry
    from models.base import utcnow
    from pipeline.uow import UnitOfWork

    with UnitOfWork(cache._factory) as uow:
        uow.session.execute(
            update(LlmCacheEntry)
            .where(LlmCacheEntry.key == "expired")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert cache.get("expired") is None
    assert 1 == cache.purge_expired()
