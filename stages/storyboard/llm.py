"""The LLM shot planner (``[storyboard] provider = "openai"``): one scene in, a shot list out.

Same endpoint, cache, rate limit and retry policy as the LLM extractor, with its own prompt
(``stages/prompts/storyboard-v<N>.<lang>.md``) and answer schema. Shots may only name the
scene's known characters and props; names the model invents are dropped, not stored.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.llm import AnswerCache, ChatClient, InvalidAnswer, cache_key, chat_json, parse_json
from pipeline.llm.client import close_thread_clients
from stages.drafts import ShotDraft
from stages.prompting import load_prompt
from stages.storyboard.shot_fit import MAX_DESCRIPTION_CHARS, clip

SCHEMA_VERSION = "1"
ShotType = Literal[
    "establishing", "wide", "medium", "close-up", "over-the-shoulder", "insert", "two-shot", "pov"
]


class ShotOut(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    type: ShotType
    description: str = Field(min_length=1)
    characters: list[str] = Field(default_factory=list)
    props: list[str] = Field(default_factory=list)


class ShotsOut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    shots: list[ShotOut] = Field(min_length=1, max_length=60)


@cache
def _schema() -> tuple[dict[str, Any], str]:
    schema = ShotsOut.model_json_schema()
    return schema, json.dumps(schema, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class SceneBrief:
    """What the model is told about one scene."""

    number: int
    heading: str
    text: str
    characters: Mapping[str, Sequence[str]]
    props: Mapping[str, Sequence[str]]


@dataclass
class Spent:
    """Calls, tokens and cache hits of one job's storyboard (added to from several threads)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, calls: int = 0, prompt: int = 0, completion: int = 0, hits: int = 0) -> None:
        with self._lock:
            self.calls += calls
            self.prompt_tokens += prompt
            self.completion_tokens += completion
            self.cache_hits += hits

    def as_dict(self) -> dict[str, int]:
        return {
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cache_hits": self.cache_hits,
        }


def scene_messages(scene: SceneBrief, language: str) -> tuple[list[dict[str, str]], str]:
    prompt = load_prompt("storyboard", language)
    zh = language.startswith("zh")
    cast = "、".join(scene.characters) if zh else ", ".join(scene.characters)
    props = "、".join(scene.props) if zh else ", ".join(scene.props)
    user = (
        f"<<<SCENE {scene.number} | {scene.heading}>>>\n"
        f"{'人物' if zh else 'Characters'}: {cast or '-'}\n"
        f"{'道具' if zh else 'Props'}: {props or '-'}\n\n{scene.text}\n<<<END SCENE {scene.number}>>>"
    )
    return [
        {"role": "system", "content": prompt.system(_schema()[1])},
        {"role": "user", "content": user},
    ], prompt.version


def _shots(out: ShotsOut, scene: SceneBrief) -> list[ShotDraft]:
    known_c, known_p = set(scene.characters), set(scene.props)
    return [
        ShotDraft(
            number,
            shot.type,
            clip(" ".join(shot.description.split()), MAX_DESCRIPTION_CHARS),
            tuple(dict.fromkeys(c for c in shot.characters if c in known_c)),
            tuple(dict.fromkeys(p for p in shot.props if p in known_p)),
        )
        for number, shot in enumerate(out.shots, start=1)
    ]


def plan_scene_llm(
    scene: SceneBrief,
    *,
    language: str,
    client: ChatClient,
    cache: AnswerCache | None,
    cache_ttl_s: int,
    spent: Spent,
    use_cache: bool = True,
) -> list[ShotDraft]:
    """Ask the model for one scene's shots (or take them from the cache); one repair on a bad answer."""
    messages, version = scene_messages(scene, language)
    key = cache_key(messages, client.endpoint.model, version, SCHEMA_VERSION)
    if cache is not None and use_cache and (hit := cache.get(key)) is not None:
        spent.add(hits=1)
        return _shots(ShotsOut.model_validate(hit), scene)
    try:
        out, answer = chat_json(
            client,
            messages,
            lambda text: ShotsOut.model_validate(parse_json(text)),
            schema=_schema()[0],
            schema_name="shots",
        )
    except InvalidAnswer as exc:
        raise InvalidAnswer(f"scene {scene.number}: {exc}"[:500], raw=exc.raw) from None
    spent.add(answer.calls, answer.prompt_tokens, answer.completion_tokens)
    if cache is not None:
        cache.put(key, out.model_dump(mode="json"), cache_ttl_s)
    return _shots(out, scene)


def plan_scenes_llm(
    scenes: Sequence[SceneBrief],
    *,
    language: str,
    client: ChatClient,
    cache: AnswerCache | None,
    cache_ttl_s: int,
    in_flight: int,
    use_cache: bool = True,
) -> tuple[list[list[ShotDraft]], Spent]:
    """Plan every scene, ``in_flight`` at a time; shot lists come back in scene order."""
    spent = Spent()

    def plan(scene: SceneBrief) -> list[ShotDraft]:
        try:
            return plan_scene_llm(
                scene,
                language=language,
                client=client,
                cache=cache,
                cache_ttl_s=cache_ttl_s,
                spent=spent,
                use_cache=use_cache,
            )
        finally:
            close_thread_clients()  # the pool's threads end with this call

    with ThreadPoolExecutor(max_workers=max(1, in_flight), thread_name_prefix="storyboard-llm") as pool:
        plans = list(pool.map(plan, scenes))
    return plans, spent
