"""Plan a scene's shot list from its text: an establishing shot, then one shot per beat."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import dramatiq
from sqlalchemy import Table, and_, join

from models import Asset, ExtractionRecord, Scene, ScriptContent, Shot, ShotAsset
from pipeline.broker import actor_options
from pipeline.runner import run_stage
from pipeline.settings import Settings, get_settings
from pipeline.stageio import Children, Insert, Rows, StageIO, Value
from pipeline.states import STAGES
from pipeline.transitions import ClaimedJob
from stages.drafts import ShotDraft
from stages.storyboard.beats import Beat, split_beats, split_heading
from stages.storyboard.mentions import AssetMatcher
from stages.storyboard.shot_fit import MAX_DESCRIPTION_CHARS, Planned, action_type, cap, clip, first_sentence

__all__ = ["DEFAULT_MAX_SHOTS", "MAX_DESCRIPTION_CHARS", "plan_shots"]

#: Most shots planned for one scene, the establishing shot included; longer scenes get merged shots.
DEFAULT_MAX_SHOTS = 60


def plan_shots(
    scene_text: str,
    *,
    heading: str,
    location: str | None,
    characters: Mapping[str, Sequence[str]],
    props: Mapping[str, Sequence[str]],
    language: str,
    max_shots: int = DEFAULT_MAX_SHOTS,
) -> list[ShotDraft]:
    """Plan the shots of one scene, in order, numbered from 1.

    Shot 1 establishes the location (unless there is neither location nor heading); then each
    action paragraph becomes a wide, medium or insert shot and each speech a close-up, or an
    over-the-shoulder shot (``characters`` = speaker, listener) when two characters alternate.
    A voice heard off screen (V.O., O.S., 画外音, a narrator) gets a medium or wide shot of the
    characters already on screen instead of a close-up of its speaker.

    Args:
        scene_text: The scene as written, heading and header lines included or not.
        heading: The scene's heading line as written (may be empty).
        location: The scene's location, if known.
        characters: Canonical character name → surface forms that may appear in the text.
        props: Canonical prop name → surface forms that may appear in the text.
        language: The script's language (``"zh"``, ``"zh-CN"``, ``"en"`` …); picks the wording.
        max_shots: Most shots to return; consecutive action shots are merged first to fit.

    Returns:
        The shots; their ``characters``/``props`` are canonical names in order of first appearance
        (a speaker that is no known character appears as written).

    Raises:
        ValueError: If ``max_shots`` is less than 1.
    """
    if max_shots < 1:
        raise ValueError(f"max_shots must be at least 1, got {max_shots}")
    zh = language.lower().replace("_", "-").split("-")[0] in {"zh", "cmn", "yue", "chinese"}
    matcher = AssetMatcher.build(characters, props)
    beats = split_beats(scene_text, heading=heading, known_speakers=matcher.speakers)
    planned = _plan_beats(beats, matcher, zh)
    shots: list[ShotDraft] = []
    establishing = _establishing(heading, location, zh)
    if establishing is not None:
        shots.append(ShotDraft(number=1, type="establishing", description=establishing))
    planned = cap(planned, max_shots - len(shots))
    shots.extend(p.shot for p in planned)
    return [replace(shot, number=number) for number, shot in enumerate(shots, start=1)]


def _plan_beats(beats: Sequence[Beat], matcher: AssetMatcher, zh: bool) -> list[Planned]:
    planned: list[Planned] = []
    exchange: list[Beat] = []
    seen: dict[str, None] = {}  # characters on screen so far, in order of appearance
    for beat in [*beats, Beat("action", "")]:
        if beat.kind == "dialogue" and beat.voice:
            planned.extend(_plan_exchange(exchange, matcher, zh))
            exchange = []
            planned.append(_plan_voice(beat, tuple(seen), matcher, zh))
            continue
        if beat.kind == "dialogue":
            seen.setdefault(matcher.speaker(beat.speaker or ""), None)
            if exchange and exchange[-1].speaker == beat.speaker:
                # One speaker twice in a row is one speech that a parenthetical interrupted.
                last = exchange.pop()
                text, aside = f"{last.text} {beat.text}".strip(), f"{last.aside} {beat.aside}".strip()
                exchange.append(Beat("dialogue", text, beat.speaker, aside))
            else:
                exchange.append(beat)
            continue
        planned.extend(_plan_exchange(exchange, matcher, zh))
        exchange = []
        if beat.text:
            chars, props = matcher.find(beat.text)
            seen.update(dict.fromkeys(chars))
            shot = ShotDraft(0, action_type(chars, props), first_sentence(beat.text), chars, props)
            planned.append(Planned(shot, action=True))
    return planned


def _plan_exchange(speeches: Sequence[Beat], matcher: AssetMatcher, zh: bool) -> list[Planned]:
    """Close-ups for lone speeches; over-the-shoulder shots while two speakers alternate."""
    who = [matcher.speaker(s.speaker or "") for s in speeches]
    planned: list[Planned] = []
    start = 0
    while start < len(speeches):
        end = start + 1
        # A run goes on while the speaker changes back and forth between the same two people.
        while (
            end < len(speeches)
            and who[end] != who[end - 1]
            and (end == start + 1 or who[end] == who[end - 2])
        ):
            end += 1
        for i in range(start, end):
            _, props = matcher.find(f"{speeches[i].text} {speeches[i].aside}")
            colon = "：" if zh else ": "
            prefix = f"{speeches[i].speaker}{colon}"
            words = first_sentence(speeches[i].text, MAX_DESCRIPTION_CHARS - len(prefix))
            if end - start == 1:
                shot = ShotDraft(0, "close-up", (prefix + words).strip(), (who[i],), props)
            else:
                listener = who[start + 1] if who[i] == who[start] else who[start]
                shot = ShotDraft(0, "over-the-shoulder", (prefix + words).strip(), (who[i], listener), props)
            planned.append(Planned(shot, action=False))
        start = end
    return planned


def _plan_voice(speech: Beat, seen: Sequence[str], matcher: AssetMatcher, zh: bool) -> Planned:
    """A voice heard off screen: no close-up of its speaker, but a shot of who is there to hear it.

    The shot is medium on the one or two characters already seen in the scene, wide on more
    or on none (the scene itself); the description keeps the mark (``MARY (V.O.): …``).
    """
    speaker = speech.speaker or ""
    listeners = tuple(name for name in seen if name != matcher.speaker(speaker))
    _, props = matcher.find(f"{speech.text} {speech.aside}")
    mark = ""
    if speech.voice.casefold() != speaker.strip().casefold():
        mark = f"（{speech.voice}）" if zh else f" ({speech.voice})"
    prefix = f"{speaker}{mark}{'：' if zh else ': '}"
    words = first_sentence(speech.text, MAX_DESCRIPTION_CHARS - len(prefix))
    kind = "medium" if 0 < len(listeners) <= 2 else "wide"
    return Planned(ShotDraft(0, kind, (prefix + words).strip(), listeners, props), action=False)


def _establishing(heading: str, location: str | None, zh: bool) -> str | None:
    """The establishing shot's description, e.g. ``Establishing: KITCHEN, NIGHT`` / ``全景：客厅（夜）``."""
    if not (location and location.strip()) and not heading.strip():
        return None
    place, time = split_heading(heading)
    place = (location or "").strip() or place or heading.strip()
    if zh:
        text = f"全景：{place}（{time}）" if time else f"全景：{place}"
    else:
        text = f"Establishing: {place}, {time}" if time else f"Establishing: {place}"
    return clip(" ".join(text.split()), MAX_DESCRIPTION_CHARS)


# --- actor shell: claim → plan shots per scene → replace shots and references → advance -----------

STORYBOARD = "storyboard"


@dataclass(frozen=True)
class SceneToPlan:
    episode: int
    number: int
    heading: str
    location: str | None
    text: str
    characters: dict[str, list[str]]
    props: dict[str, list[str]]


@dataclass(frozen=True)
class Plan:
    scenes: list[tuple[SceneToPlan, list[ShotDraft]]]
    asset_ids: dict[tuple[str, str], int]
    #: LLM calls, tokens and cache hits (``None`` with the rules planner).
    llm: dict[str, int] | None = None


@dataclass(frozen=True)
class Inputs:
    scenes: list[SceneToPlan]
    asset_ids: dict[tuple[str, str], int]
    language: str
    options: dict[str, Any]
    #: "rules", or an LLM provider planning with ``settings``' endpoint.
    provider: str = "rules"
    settings: Settings | None = None


_SHOTS = cast(Table, Shot.__table__)
_SHOT_ASSETS = cast(Table, ShotAsset.__table__)
_SHOT_COLUMNS = ("episode", "scene_number", "number", "type", "description")

#: Reads the script's text, the characters and props each scene names (their assets) and the
#: scenes; writes the shots and, per shot, the assets it shows (matched to it by scene and number).
IO = StageIO(
    reads={
        "text": Value(ScriptContent.text, where=lambda job: ScriptContent.job_id == job.id),
        "names": Rows(
            ExtractionRecord.scene_number, Asset.id, Asset.type, Asset.name, Asset.aliases,
            where=lambda job: and_(
                ExtractionRecord.job_id == job.id, Asset.type.in_(("character", "prop"))
            ),
            order_by=(ExtractionRecord.scene_number, ExtractionRecord.id),
            select_from=join(ExtractionRecord, Asset, Asset.id == ExtractionRecord.asset_id),
        ),
        "scenes": Rows(
            Scene.episode, Scene.number, Scene.heading, Scene.location, Scene.start, Scene.end,
            where=lambda job: Scene.job_id == job.id,
            order_by=(Scene.number,),
        ),
    },
    writes=(
        Insert(
            _SHOTS,
            _SHOT_COLUMNS,
            children=(
                Children(_SHOT_ASSETS, parent="shot_id", on=("scene_number", "number"), columns=("asset_id", "position")),
            ),
        ),
    ),
)  # fmt: skip

RowList = Sequence[Sequence[Any]]


def _load(job: ClaimedJob, inputs: dict[str, Any]) -> Inputs:
    return _inputs(job, inputs["text"] or "", inputs["names"], inputs["scenes"])


def _inputs(job: ClaimedJob, text: str, name_rows: RowList, scene_rows: RowList) -> Inputs:
    """The scenes to plan, each with its text and the names found in it (character and prop rows)."""
    names: dict[int, dict[str, dict[str, list[str]]]] = {}
    asset_ids: dict[tuple[str, str], int] = {}
    for scene_number, asset_id, kind, name, aliases in name_rows:
        by_kind = names.setdefault(scene_number, {"character": {}, "prop": {}})
        by_kind[kind].setdefault(name, [name, *(aliases or [])])
        asset_ids[(kind, name)] = asset_id
    scenes = []
    for episode, number, heading, location, start, end in scene_rows:
        found = names.get(number, {"character": {}, "prop": {}})
        scenes.append(
            SceneToPlan(
                episode, number, heading, location, text[start:end], found["character"], found["prop"]
            )
        )
    options = dict(job.options or {})
    settings = get_settings()
    provider = options.get("storyboard_provider") or settings.storyboard.provider
    return Inputs(scenes, asset_ids, job.language or "en", options, provider, settings)


def _compute(inputs: Inputs) -> Plan:
    scenes, asset_ids, language = inputs.scenes, inputs.asset_ids, inputs.language
    if inputs.provider != "rules":
        return _compute_llm(inputs)
    planned = [
        (
            scene,
            plan_shots(
                scene.text,
                heading=scene.heading,
                location=scene.location,
                characters=scene.characters,
                props=scene.props,
                language=language,
            ),
        )
        for scene in scenes
    ]
    return Plan(planned, asset_ids)


def _compute_llm(inputs: Inputs) -> Plan:
    from pipeline.llm import ChatClient, Endpoint, llm_services
    from stages.storyboard.llm import SceneBrief, plan_scenes_llm

    settings = inputs.settings
    assert settings is not None, "an LLM storyboard is given its settings by the load"
    services = llm_services(settings)
    client = ChatClient(Endpoint.from_settings(settings.extract, inputs.options), limiter=services.limiter)
    briefs = [SceneBrief(s.number, s.heading, s.text, s.characters, s.props) for s in inputs.scenes]
    plans, spent = plan_scenes_llm(
        briefs,
        language=inputs.language,
        client=client,
        cache=services.cache if services.cache_ttl_s > 0 else None,
        cache_ttl_s=services.cache_ttl_s,
        in_flight=settings.storyboard.scenes_in_flight,
        use_cache=not inputs.options.get("no_cache"),
    )
    return Plan(list(zip(inputs.scenes, plans, strict=True)), inputs.asset_ids, spent.as_dict())


_SHOT_COLUMNS = ("episode", "scene_number", "number", "type", "description")
def _rows(job: ClaimedJob, plan: Plan) -> dict[str, RowList]:
    """The shots (``_SHOT_COLUMNS``) and their references (scene, shot number, asset id, position):
    each shot's assets once, in order."""
    shots = [
        (scene.episode, scene.number, shot.number, shot.type, shot.description)
        for scene, planned in plan.scenes
        for shot in planned
    ]
    refs = []
    for scene, planned in plan.scenes:
        for shot in planned:
            seen: set[int] = set()
            for kind, names in (("character", shot.characters), ("prop", shot.props)):
                for name in names:
                    asset_id = plan.asset_ids.get((kind, name))
                    if asset_id is not None and asset_id not in seen:
                        seen.add(asset_id)
                        refs.append((scene.number, shot.number, asset_id, len(seen)))
    return {"shots": shots, "shot_assets": refs}


def _job_values(job: ClaimedJob, plan: Plan) -> dict[str, Any]:
    """An LLM storyboard's usage in ``meta``, set by the ``STORYBOARDING → STORYBOARDED`` statement."""
    meta = {k: v for k, v in (job.meta or {}).items() if k != "storyboard_llm"}
    if plan.llm is not None:
        meta["storyboard_llm"] = plan.llm
    return {"meta": meta}


@dramatiq.actor(actor_name="storyboard", queue_name=STAGES.by_name[STORYBOARD].queue, **actor_options("storyboard"))
def storyboard(job_id: str) -> None:
    """Plan one job's shots."""
    run_stage(
        STORYBOARD,
        job_id,
        io=IO,
        load=_load,
        compute=_compute,
        rows=_rows,
        job_values=_job_values,
    )
