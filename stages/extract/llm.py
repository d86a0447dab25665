"""The LLM extractor: one chunk's scenes in, mentions out, through cache, client and one repair.

Pure but for the two collaborators it is handed (a :class:`~pipeline.llm.ChatClient` and an
answer cache), so it is tested against the fake OpenAI-compatible server without a database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.llm import AnswerCache, ChatClient, cache_key, chat_json, parse_json
from pipeline.llm.client import Message, OnRetry
from stages.drafts import Mention, SceneSlice
from stages.extract.schema import (
    SCHEMA_VERSION,
    AnswerError,
    ExtractionOut,
    json_schema,
    json_schema_text,
    to_mentions,
    validate_answer,
)
from stages.prompting import load_prompt, render_scenes


@dataclass(frozen=True)
class Usage:
    """What one chunk's extraction cost."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    latency_ms: int | None = None


@dataclass(frozen=True)
class LlmResult:
    mentions: list[Mention]
    usage: Usage
    prompt_version: str


def build_messages(
    slices: Sequence[SceneSlice], roster: Sequence[str], language: str
) -> tuple[list[Message], str]:
    """The chat messages for one chunk and the prompt version they come from."""
    prompt = load_prompt("extract", language)
    schema = json_schema_text()
    return (
        [
            {"role": "system", "content": prompt.system(schema)},
            {"role": "user", "content": render_scenes(slices, roster, language)},
        ],
        prompt.version,
    )


def chunk_cache_key(messages: Sequence[Message], model: str, prompt_version: str) -> str:
    """The cache key of one chunk's answer: sha256 of (messages, model, prompt and schema versions).

    The messages hold the chunk's text and the cast roster, so this is the issue's
    (chunk text, model, prompt version, schema version), plus the roster the prompt names.
    """
    return cache_key(messages, model, prompt_version, SCHEMA_VERSION)


def _validate(text: str, scenes: list[int]) -> ExtractionOut:
    try:
        value = parse_json(text)
    except ValueError as exc:
        raise AnswerError(f"not valid JSON ({exc})") from None
    return validate_answer(value, scenes)


def extract_llm(
    slices: Sequence[SceneSlice],
    *,
    language: str,
    roster: Sequence[str],
    client: ChatClient,
    cache: AnswerCache | None,
    cache_ttl_s: int,
    use_cache: bool = True,
    on_retry: OnRetry | None = None,
) -> LlmResult:
    """Extract one chunk with the model, or from the cache.

    The cache key is the sha256 of (the chunk's messages, model, prompt version, schema
    version). An answer that is not valid JSON for the schema gets one repair request quoting
    the error; a second bad answer raises :class:`InvalidAnswer` carrying the raw text.
    ``use_cache=False`` (``--no-cache``) skips the lookup but still stores the fresh answer.
    """
    messages, version = build_messages(slices, roster, language)
    if not slices:
        return LlmResult([], Usage(), version)
    key = chunk_cache_key(messages, client.endpoint.model, version)
    if cache is not None and use_cache:
        hit = cache.get(key)
        if hit is not None:
            return LlmResult(to_mentions(ExtractionOut.model_validate(hit)), Usage(cached=True), version)
    scenes = [s.scene_number for s in slices]
    out, answer = chat_json(
        client,
        messages,
        lambda text: _validate(text, scenes),
        schema=json_schema(),
        schema_name="breakdown",
        language=language,
        on_retry=on_retry,
    )
    if cache is not None:
        cache.put(key, out.model_dump(mode="json"), cache_ttl_s)
    usage = Usage(answer.calls, answer.prompt_tokens, answer.completion_tokens, False, answer.latency_ms)
    return LlmResult(to_mentions(out), usage, version)
