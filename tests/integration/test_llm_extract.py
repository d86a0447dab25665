"""The LLM extract path on real PostgreSQL and Redis, against the fake OpenAI-compatible server:
completion, token accounting, the cache, in-call retries, repairs, dead letters, bad keys."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from dramatiq import Worker
from sqlalchemy import func, select

from entrypoints.testing import bind_actors, drain
from models import Chunk, DeadLetter, ExtractionRecord, JobEvent
from pipeline import deadletters, jobs, reruns
from pipeline.broker import setup_broker
from pipeline.db import session_factory
from pipeline.settings import Settings, load_settings, set_settings
from tests.fakes.llm_server import FakeLLM
from tests.integration.test_pipeline import CHINESE, ENGLISH

KEY_ENV = "FAKE_LLM_API_KEY"
MORE = """
INT. GARAGE - NIGHT

JOHN opens the car door. MARY holds a FLASHLIGHT.

MARY
You kept it all these years.

JOHN
I kept everything.
"""


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM(seed=7, retry_after_s=0.05, api_key="sk-good") as server:
        yield server


def _settings(base: Settings, fake: FakeLLM, **extract: object) -> Settings:
    values = base.model_dump()
    values["extract"].update(
        provider="openai",
        base_url=fake.url,
        model="fake-model",
        api_key_env=KEY_ENV,
        timeout_s=5.0,
        call_attempts=4,
        max_retry_wait_s=0.2,
        max_chunk_chars=200,  # several chunks per script
        **extract,
    )
    return load_settings(**values)


@pytest.fixture
def llm_worker(pg_settings, fake, monkeypatch) -> Iterator[tuple[object, Worker, Settings]]:
    monkeypatch.setenv(KEY_ENV, "sk-good")
    settings = _settings(pg_settings, fake)
    set_settings(settings)
    broker = setup_broker(settings, stub=True)
    bind_actors(broker, settings=settings)
    broker.emit_after("process_boot")
    worker = Worker(broker, worker_threads=4, worker_timeout=50)
    worker.start()
    yield broker, worker, settings
    worker.stop()
    broker.close()


def _chunks(job_id: str) -> list[tuple[str, int, int, int, bool]]:
    with session_factory()() as s:
        return [
            tuple(r)
            for r in s.execute(
                select(Chunk.status, Chunk.calls, Chunk.prompt_tokens, Chunk.completion_tokens, Chunk.cached)
                .where(Chunk.job_id == job_id)
                .order_by(Chunk.number)
            )
        ]


def _notes(job_id: str) -> list[str]:
    with session_factory()() as s:
        return [
            d or ""
            for d in s.scalars(select(JobEvent.detail).where(JobEvent.job_id == job_id).order_by(JobEvent.id))
        ]


def test_jobs_complete_with_the_llm_and_account_for_every_token(llm_worker, fake):
    broker, worker, _ = llm_worker
    english = jobs.submit(ENGLISH + MORE, project="llm")
    chinese = jobs.submit(CHINESE, project="llm")

    drain(broker, worker)

    for job_id, version in ((english, "extract-v1.en"), (chinese, "extract-v1.zh")):
        view = jobs.get_status(job_id)
        assert "COMPLETED" == view.status
        chunks = _chunks(job_id)
        assert len(chunks) >= (2 if job_id == english else 1)
        assert all(c[0] == "done" and c[1] == 1 and c[2] > 0 and c[3] > 0 and not c[4] for c in chunks)
        assert view.llm is not None
        assert len(chunks) == view.llm["calls"]
        assert sum(c[2] for c in chunks) == view.llm["prompt_tokens"]
        assert 0 == view.llm["cache_hits"]
        with session_factory()() as s:
            versions = set(
                s.scalars(select(ExtractionRecord.prompt_version).where(ExtractionRecord.job_id == job_id))
            )
        assert {version} == versions
        report = json.loads(jobs.get_report(job_id, "json"))
        assert view.llm["calls"] == report["job"]["stats"]["llm"]["calls"]
    assert fake.stats.view()["requests"] == sum(len(_chunks(j)) for j in (english, chinese))
    report = json.loads(jobs.get_report(english, "json"))
    assert {"MARY", "JOHN"} <= {c["name"] for c in report["characters"]}
    zh = json.loads(jobs.get_report(chinese, "json"))
    assert {"小娟", "老王"} <= {c["name"] for c in zh["characters"]}
    assert "LLM usage" in jobs.get_report(english, "html")
    assert "大模型用量" in jobs.get_report(chinese, "html")


def test_priced_tokens_show_their_cost_in_the_view_the_rerun_preview_and_the_stats(llm_worker, fake):
    """With ``extract.price_per_million_*`` set, a job's LLM use carries its cost (its tokens at
    those prices) and the currency, a re-run's dry run its estimated cost, the stats the cost of
    all tokens; unpriced, none of them shows a cost."""
    from pipeline.settings import get_settings
    from pipeline.stats import collect_stats

    broker, worker, _ = llm_worker
    job = jobs.submit(ENGLISH, project="priced")
    drain(broker, worker)
    settings = get_settings()
    prices = {
        "price_per_million_prompt_tokens": 0.15,
        "price_per_million_completion_tokens": 0.6,
        "currency": "EUR",
    }
    priced = settings.model_copy(update={"extract": settings.extract.model_copy(update=prices)})

    def cost(prompt: int, completion: int) -> float:
        return round((prompt * 0.15 + completion * 0.6) / 1_000_000, 6)

    unpriced = jobs.get_status(job).llm
    used = jobs.get_status(job, settings=priced).llm
    assert unpriced is not None and used is not None and "cost" not in unpriced
    assert (cost(used["prompt_tokens"], used["completion_tokens"]), "EUR") == (used["cost"], used["currency"])
    assert used["cost"] > 0

    plan = reruns.preview([job], "extract", use_cache=False, settings=priced).totals()
    assert (cost(plan["est_prompt_tokens"], plan["est_completion_tokens"]), "EUR") == (
        plan["est_cost"],
        plan["currency"],
    )
    assert plan["est_cost"] > 0
    assert "est_cost" not in reruns.preview([job], "extract", use_cache=False).totals()

    llm = collect_stats(priced)["llm"]
    assert cost(llm["prompt_tokens"], llm["completion_tokens"]) == llm["cost"] > 0
    assert "cost" not in collect_stats()["llm"]


def test_rerun_of_an_unchanged_script_makes_no_calls_unless_told_not_to_cache(llm_worker, fake):
    broker, worker, _ = llm_worker
    first = jobs.submit(ENGLISH, project="cache")
    drain(broker, worker)
    calls_before = fake.stats.view()["requests"]

    second = jobs.submit(ENGLISH, project="cache")  # another job, same text: the cache is shared
    reruns.rerun(first, "extract")
    drain(broker, worker)

    assert calls_before == fake.stats.view()["requests"]
    for job_id in (first, second):
        view = jobs.get_status(job_id)
        assert "COMPLETED" == view.status
        assert (0, view.llm["chunks"]) == (view.llm["calls"], view.llm["cache_hits"])

    reruns.rerun(first, "extract", options={"no_cache": True})
    drain(broker, worker)

    chunks = _chunks(first)
    assert calls_before + len(chunks) == fake.stats.view()["requests"]
    assert all(c[1] == 1 and not c[4] for c in chunks)


def test_injected_429s_500s_and_timeouts_are_retried_and_show_in_job_events(llm_worker, fake):
    broker, worker, _ = llm_worker
    fake.configure(rate_429=0.1, rate_500=0.05, rate_hang=0.05, hang_s=6.0)  # 20% of calls fail
    ids = [
        jobs.submit(ENGLISH + f"\n\nINT. ROOM {n} - DAY\n\nMARY\nTake {n}.\n", project="flaky")
        for n in range(6)
    ]

    drain(broker, worker)

    assert {"COMPLETED"} == {jobs.get_status(j).status for j in ids}
    statuses = fake.stats.view()["statuses"]
    assert statuses.get("429", 0) + statuses.get("500", 0) + statuses.get("hang", 0) > 0
    # In-call retries ("retrying in …") and, past call_attempts, dramatiq's ("will be retried").
    notes = [n for j in ids for n in _notes(j) if "retrying in" in n or "will be retried" in n]
    assert statuses.get("429", 0) + statuses.get("500", 0) + statuses.get("hang", 0) == len(notes)
    assert any("429" in n for n in notes)
    with session_factory()() as s:
        assert 0 == s.scalar(select(func.count()).select_from(DeadLetter))


def test_a_malformed_answer_is_repaired_with_one_more_call(llm_worker, fake):
    broker, worker, _ = llm_worker
    fake.configure(rate_malformed=0.5, repair_succeeds=True)
    ids = [
        jobs.submit(ENGLISH + f"\n\nINT. HALL {n} - DAY\n\nJOHN\nHi {n}.\n", project="repair")
        for n in range(4)
    ]

    drain(broker, worker)

    assert {"COMPLETED"} == {jobs.get_status(j).status for j in ids}
    malformed = fake.stats.view()["statuses"]["malformed"]
    assert malformed > 0
    chunks = [c for j in ids for c in _chunks(j)]
    calls = sum(c[1] for c in chunks)
    assert fake.stats.view()["requests"] == calls
    assert sum(1 for c in chunks if not c[4]) + malformed == calls  # one repair call per bad answer


def test_an_answer_that_stays_malformed_dead_letters_the_job_with_the_raw_answer(llm_worker, fake):
    broker, worker, _ = llm_worker
    fake.configure(rate_malformed=1.0)
    job_id = jobs.submit(ENGLISH, project="bad-json")

    drain(broker, worker)

    view = jobs.get_status(job_id)
    assert ("FAILED", "extract") == (view.status, view.failed_stage)
    with session_factory()() as s:
        letters = s.execute(select(DeadLetter.id, DeadLetter.error_type, DeadLetter.attempts)).all()
        raw = s.scalars(
            select(Chunk.raw_answer).where(Chunk.job_id == job_id, Chunk.status == "failed")
        ).all()
    assert 1 == len(letters)
    assert ("InvalidAnswer", 1) == (letters[0].error_type, letters[0].attempts)  # permanent: no retries
    assert raw and raw[0].startswith('{"characters"')
    shown = deadletters.show_dead_letter(letters[0].id)
    assert [raw[0]] == [c["raw_answer"] for c in shown.failed_chunks]

    fake.configure(rate_malformed=0.0)  # the cause is fixed: re-drive it
    deadletters.retry_dead_letters([letters[0].id])
    drain(broker, worker)
    assert "COMPLETED" == jobs.get_status(job_id).status


def test_a_bad_api_key_fails_fast_without_a_retry_storm(llm_worker, fake, monkeypatch):
    broker, worker, _ = llm_worker
    monkeypatch.setenv(KEY_ENV, "sk-wrong")
    job_id = jobs.submit(ENGLISH, project="bad-key")

    drain(broker, worker)

    view = jobs.get_status(job_id)
    assert ("FAILED", "extract") == (view.status, view.failed_stage)
    assert "refused the API key" in (view.error or "")
    assert "sk-wrong" not in (view.error or "")
    chunks = len(_chunks(job_id))
    assert fake.stats.view()["statuses"] == {"401": fake.stats.view()["requests"]}
    assert fake.stats.view()["requests"] <= chunks  # at most one call per chunk, none retried
    with session_factory()() as s:
        assert ["ProviderRejected"] == s.scalars(select(DeadLetter.error_type)).all()


def test_embedded_mode_caches_answers_in_its_database(embedded_settings, fake, monkeypatch, tmp_path):
    """Embedded mode (its private PostgreSQL, an in-process worker) uses the LLM too; a second run
    of the same file is answered from the llm_cache table, and --no-cache asks again."""
    from entrypoints import embedded

    monkeypatch.setenv(KEY_ENV, "sk-good")
    monkeypatch.chdir(tmp_path)  # the embedded log goes to ./.juben/
    settings = _settings(embedded_settings, fake)
    script = tmp_path / "script.txt"
    script.write_text(ENGLISH + MORE, encoding="utf-8")

    first, _ = embedded.run([script], settings=settings, project="embedded-llm")
    calls = fake.stats.view()["requests"]
    second, files = embedded.run([script], settings=settings, project="embedded-llm")
    third, _ = embedded.run([script], settings=settings, project="embedded-llm", options={"no_cache": True})

    assert ["COMPLETED"] * 3 == [v.status for v in (first, second, third)]
    assert calls == first.llm["calls"] > 0
    assert (0, second.llm["chunks"]) == (second.llm["calls"], second.llm["cache_hits"])
    assert calls * 2 == fake.stats.view()["requests"]
    assert "json" in files


def test_the_storyboard_can_use_the_llm_too(llm_worker, fake):
    broker, worker, _ = llm_worker
    job_id = jobs.submit(ENGLISH + MORE, project="board", options={"storyboard_provider": "openai"})

    drain(broker, worker)

    view = jobs.get_status(job_id)
    assert "COMPLETED" == view.status
    report = json.loads(jobs.get_report(job_id, "json"))
    shots = report["shots"]
    assert shots and all(shot["description"] for shot in shots)
    scenes = len(report["scenes"])
    assert {"calls": scenes, "cache_hits": 0} == {
        k: view.llm["storyboard"][k] for k in ("calls", "cache_hits")
    }
    assert len(_chunks(job_id)) + scenes == view.llm["calls"] == fake.stats.view()["requests"]
    assert any("MARY" in shot["characters"] for shot in shots)


def test_an_answer_arriving_for_a_cancelled_job_is_discarded(llm_worker, fake):
    broker, worker, _ = llm_worker
    fake.configure(latency_s=1.0)
    job_id = jobs.submit(ENGLISH + MORE, project="cancel-llm")
    deadline = time.monotonic() + 30
    while fake.stats.view()["in_flight"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)  # a call is in flight

    assert jobs.cancel(job_id)
    drain(broker, worker)

    assert "CANCELLED" == jobs.get_status(job_id).status
    assert fake.stats.view()["requests"] > 0
    with session_factory()() as s:
        assert 0 == s.scalar(
            select(func.count()).select_from(ExtractionRecord).where(ExtractionRecord.job_id == job_id)
        )
