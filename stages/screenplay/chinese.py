"""Read Chinese scene lines: speakers, 人物 lists, sketches, names in action and handled props.

``ChineseContext.build`` learns a chunk's speakers, its 人物小传 sketches and which full names
the cues shorten (``陈默然`` → ``陈默``, ``许国栋`` 人称 ``老许``); ``chinese_scene`` then tallies
one scene. Sketches are read only before a scene's first heading (front matter), where they
describe characters without making them speak.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from stages.drafts import SceneSlice
from stages.screenplay.bios import (
    CN_KIN,
    Bio,
    is_bio_header,
    is_front_matter,
    parse_bio,
    short_name,
    shortens,
)
from stages.screenplay.episodes import CN_EPISODE_START_RE
from stages.screenplay.headings import match_heading
from stages.screenplay.lines import (
    STRUCTURAL_RE,
    known_speakers,
    may_cut_at_cue,
    needs_split,
    physical_lines,
    quoted_speakers,
    run_on_speakers,
    split_spans,
    splitter,
)
from stages.screenplay.markup import mask_markup, strip_emphasis
from stages.screenplay.names import (
    ChineseCue,
    background_name,
    chinese_age,
    chinese_gender,
    is_group,
    parse_cast_line,
    parse_chinese_cue,
)
from stages.screenplay.props_zh import chinese_props
from stages.screenplay.tally import SceneTally
from stages.screenplay.words import word_set

#: A bracketed note inside a Chinese speech: ``林晚：（拿起照片）这是谁？``.
CN_BRACKET_RE = re.compile(r"[（(]([^）)]*)[）)]")
#: A Chinese intro with an age: ``吴婶（心直口快的家庭妇女，50岁）`` after a boundary.
CN_INTRO_RE = re.compile(r"(?:^|(?<=[\s，。、：；！？△▲]))([\u4e00-\u9fff]{2,4})[（(]([^）)]*岁[^）)]*)[）)]")
#: What shows a person without them being there: a photo, a screen, a poster.
CN_DEPICTED_RE = re.compile(r"照片|相片|合影|全家福|屏幕|监控|画面|视频|海报|电视|录像|照片上|遗像|画像")
CN_SENTENCE_END = "。！？；…;!?"
#: A bracketed label rather than bracketed action: a key and a colon (【字幕：…】) or a few
#: characters (【闪回】, 【近景】).
CN_LABEL_RE = re.compile(r"^[【\[]\s*(?:[\u4e00-\u9fff]{1,4}\s*[:：]|[^】\]]{1,4}[】\]])")
#: Action in 【】 inside a speech line (closed or running to the line's end).
CN_ACTION_BRACKET_RE = re.compile(r"【([^】]{2,})(?:】|$)")
#: Bracket notes that are voice or emotion marks, not descriptions.
CN_NOTES = word_set("画外音 旁白 内心独白 独白 OS VO 哭 笑 冷笑 怒 急 小声 低声 大声")


@dataclass
class ChineseContext:
    """What one chunk of a Chinese script says about its characters."""

    lines: list[list[ParsedLine]]
    speakers: frozenset[str]
    keys: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, list[str]] = field(default_factory=dict)
    bios: dict[str, Bio] = field(default_factory=dict)
    #: Cue or listed names that are a speaker's name with the text after it run on
    #: (``阿杰点头：``, ``人物：…李婶上午，…``): read as that speaker, never kept as aliases.
    glued: dict[str, str] = field(default_factory=dict)
    pattern: re.Pattern[str] | None = None
    names: frozenset[str] = frozenset()

    @classmethod
    def build(cls, slices: Sequence[SceneSlice], sketches: str = "") -> ChineseContext:
        """Learn the speakers, sketches and name forms of a chunk's slices.

        Args:
            slices: The chunk's scene slices.
            sketches: The script's 人物小传 lines (``find_sketches``), read as sketches.

        Returns:
            The context, with each slice's logical lines.
        """
        masked = [mask_markup(piece.text) for piece in slices]
        spans = [physical_lines(text) for text in masked]
        listed = {name for piece in slices for name in piece.listed_characters}
        if any(needs_split(text, scene_spans) for text, scene_spans in zip(masked, spans, strict=True)):
            names = set(listed)
            if any(
                may_cut_at_cue(text, scene_spans) for text, scene_spans in zip(masked, spans, strict=True)
            ):
                for text, scene_spans in zip(masked, spans, strict=True):
                    names |= known_speakers(text, scene_spans)
                whole = "\n".join(masked)  # a run-on speaker is told by how often it speaks in the chunk
                names |= run_on_speakers(whole, physical_lines(whole))
            pattern = splitter(frozenset(names))
        else:
            pattern = STRUCTURAL_RE  # no long line: only headings run into a short one are cut
        spans = [split_spans(text, scene_spans, pattern) for text, scene_spans in zip(masked, spans, strict=True)]
        lines = [
            _parse_lines(piece, text, scene_spans)
            for piece, text, scene_spans in zip(slices, masked, spans, strict=True)
        ]
        bios: dict[str, Bio] = {}
        for sketch_line in sketches.splitlines():
            if (sketch := parse_bio(sketch_line, in_block=True)) is not None:
                bios.setdefault(sketch.name, sketch)
        speakers: set[str] = set()
        for parsed in lines:
            for line in parsed:
                if line.bio is not None:
                    bios.setdefault(line.bio.name, line.bio)
                elif line.cue is not None:
                    speakers.update(name for name, _ in line.cue.speakers)
        speakers |= quoted_speakers("\n".join(masked))  # 船夫说：“…” in a literary screenplay
        glued = {name: key for name in speakers | listed if (key := run_on_name(name, speakers)) is not None}
        speakers -= glued.keys()
        context = cls(lines, frozenset(speakers), bios=bios, glued=glued)
        for name in sorted((listed | set(bios)) - glued.keys()):
            context.link(name, bios[name].nicknames if name in bios else ())
        every = (speakers | listed | set(bios) | set(context.keys)) - {""}
        every |= {nick for bio in bios.values() for nick in bio.nicknames}
        alternation = "|".join(re.escape(n) for n in sorted(every, key=len, reverse=True) if len(n) >= 2)
        context.pattern = re.compile(alternation) if alternation else None
        context.names = frozenset(context.keys) | context.speakers
        return context

    def link(self, name: str, nicknames: Sequence[str]) -> None:
        """Map a listed or sketched name to the speaker it is used as, keeping it as an alias."""
        key = short_name(name, nicknames, self.speakers)
        if key is None:
            longer = [speaker for speaker in self.speakers if shortens(speaker, name)]
            key = longer[0] if len(longer) == 1 else name
        self.keys[name] = key
        for nick in nicknames:
            self.keys.setdefault(nick, key)
        if key != name:
            self.aliases.setdefault(key, []).append(name)

    def add(self, scene: SceneTally, name: str, surface: str | None = None) -> str:
        """Record a character in ``scene`` under its key; return the key."""
        if name in self.glued:
            name, surface = self.glued[name], None
        key = self.keys.get(name, name)
        seen = scene.assets.get(("character", key))
        if seen is not None:
            if (surface or name) not in seen.aliases:
                seen.aliases.append(surface or name)
            return key
        scene.add("character", key, key, surface or name)
        for alias in self.aliases.get(key, ()):
            scene.add("character", key, key, alias)
        bio = self.bios.get(key) or next(
            (self.bios[a] for a in self.aliases.get(key, ()) if a in self.bios), None
        )
        if bio is not None:
            scene.describe(key, bio.description, bio.age, bio.gender)
        return key


def run_on_name(name: str, speakers: Collection[str]) -> str | None:
    """The speaker whose name ``name`` starts with, when what follows is run-on text, not a person.

    Scraped text glues a cue's or a list's name to the words after it. Two characters or more
    left over with no kinship word (妈, 哥, 儿…, which name a relative: ``小美妈妈``) are taken
    as run-on text; the longest speaker name wins.

    >>> run_on_name("阿杰点头", {"阿杰", "小美"}), run_on_name("小美妈妈", {"小美"}), run_on_name("陈默然", {"陈默"})
    ('阿杰', None, None)
    """
    found = [
        key
        for key in speakers
        if 2 <= len(key) < len(name) - 1
        and name.startswith(key)
        and not set(name[len(key) :]) & CN_KIN
    ]
    return max(found, key=len) if found else None


@dataclass(frozen=True)
class ParsedLine:
    """One logical line with what it is: a sketch (front matter only), a cue, or neither."""

    text: str
    cue: ChineseCue | None
    bio: Bio | None


def _parse_lines(piece: SceneSlice, text: str, spans: Sequence[tuple[int, int]]) -> list[ParsedLine]:
    """Parse each line once; sketches are read only before a heading (front matter)."""
    in_block = False
    out: list[ParsedLine] = []
    for span in spans:
        line = strip_emphasis(text[span[0] : span[1]])
        bio = None
        if not piece.heading:
            if is_bio_header(line):
                in_block = True
                continue
            bio = parse_bio(line, in_block=in_block)
        cue = parse_chinese_cue(line) if bio is None and ("：" in line or ":" in line) else None
        out.append(ParsedLine(line, cue, bio))
    return out


def chinese_scene(
    scene: SceneTally, piece: SceneSlice, lines: list[ParsedLine], context: ChineseContext
) -> None:
    """Tally one Chinese scene slice.

    Args:
        scene: Where the scene's assets are recorded.
        piece: The slice (its listed characters count as present).
        lines: Its logical lines, from ``context.lines``.
        context: The chunk's context.
    """
    for name in piece.listed_characters:
        if not is_group(name):
            context.add(scene, name)
    front = not piece.heading and any(line.bio is not None for line in lines)
    for parsed in lines:
        line, bio, cue = parsed.text, parsed.bio, parsed.cue
        stripped = line.strip()
        if not stripped or match_heading(line) or ("集" in line and CN_EPISODE_START_RE.match(line)):
            continue
        if not piece.heading and is_front_matter(line):
            continue
        if bio is not None:
            context.add(scene, bio.name)
            continue
        if front:
            continue  # synopsis and notes around the sketches are not story
        if stripped[0] in "人出登主角" and _cast(scene, line, context):
            continue
        if cue is not None:
            _speech(scene, cue, context)
            continue
        if stripped.startswith(("【", "[")) and "道具" not in stripped and CN_LABEL_RE.match(stripped):
            continue  # 【字幕：…】, 【闪回】: a label, not action (【他推门进来，…】 is action)
        _action(scene, stripped, context)


def _cast(scene: SceneTally, line: str, context: ChineseContext) -> bool:
    cast = parse_cast_line(line)
    for name, description in cast or ():
        if not is_group(name):
            key = context.add(scene, name)
            info = description or ""
            scene.describe(key, description, chinese_age(info), chinese_gender(info))
        elif (extras := background_name(name)) is not None:
            scene.add("background", extras, extras)
    return cast is not None


def _speech(scene: SceneTally, cue: ChineseCue, context: ChineseContext) -> None:
    for name, surface in cue.speakers:
        scene.assets[("character", context.add(scene, name, surface))].lines += 1
    for group in cue.groups:
        if (extras := background_name(group)) is not None:
            scene.add("background", extras, extras)
    notes = cue.notes + ("".join(CN_BRACKET_RE.findall(cue.speech)) if "（" in cue.speech else "")
    for name, surface in chinese_props(notes, context.names) if notes else ():
        scene.add("prop", name, name, surface)
    for action in CN_ACTION_BRACKET_RE.findall(cue.speech) if "【" in cue.speech else ():
        _action(scene, action, context)  # 名：好的！【关上窗户拿起伞】: action written into the speech


def _action(scene: SceneTally, line: str, context: ChineseContext) -> None:
    for match in CN_INTRO_RE.finditer(line) if "岁" in line else ():
        name, description = match.group(1), match.group(2)
        known = context.names
        if name in known or not any(name.startswith(other) for other in known):
            key = context.add(scene, name)
            scene.describe(key, description, chinese_age(description), chinese_gender(description))
    if context.pattern is not None:
        depicts = CN_DEPICTED_RE.search(line) is not None
        for match in context.pattern.finditer(line):
            if depicts:
                begin = max(line.rfind(end, 0, match.start()) for end in CN_SENTENCE_END) + 1
                if CN_DEPICTED_RE.search(line, begin, match.start()) is not None:
                    continue
            context.add(scene, match.group(0))
    for name, surface in chinese_props(line, context.names):
        scene.add("prop", name, name, surface)
