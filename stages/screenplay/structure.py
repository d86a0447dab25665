"""Split a script's text into episodes and contiguous scenes (the ``parse_structure`` core)."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field

from stages.drafts import EpisodeDraft, SceneDraft, SourceSpan
from stages.screenplay.bios import is_front_header, is_front_matter, parse_bio
from stages.screenplay.episodes import clean_title, find_episode_markers
from stages.screenplay.headings import Heading, match_heading
from stages.screenplay.lines import logical_lines
from stages.screenplay.markup import is_shot_line, mask_markup, strip_emphasis
from stages.screenplay.names import CAST_TAIL_RE, EN_TRANSITION_RE, is_group, parse_cast_line
from stages.screenplay.sequence import fill_numbered_gaps
from stages.screenplay.titlepage import parse_title_page

#: Lines that carry no story before a first heading: transitions, centred titles, 《title》,
#: page breaks, Fountain sections/synopses/notes and closing marks such as ``（第一集完）``.
IGNORABLE_RE = re.compile(
    r"^\s*(?:FADE IN:?|FADE OUT\.?|THE END\.?|淡入[：:]?|淡出[：:]?|黑场|黑屏|剧终|全剧终|[（(]?完[）)]?"
    r"|>.*<|《[^》]*》|={3,}|#.*|=.*|\[\[.*\]\]|[（(]?第\S{1,4}集\s*[完终][）)]?)\s*$",
    re.IGNORECASE,
)
#: A lone short line before the first heading is a title (``逆袭总裁``), not a scene.
TITLE_LIKE_RE = re.compile(r"^\s*[^\s:：。！？!?.…][^:：。！？!?…]{0,29}(?<![.,，、])\s*$")
PATH_SEP_RE = re.compile(r"[\\/]")
#: Non-blank lines after a heading within which a ``人物：`` line still belongs to it.
DEFAULT_CAST_WINDOW = 3


@dataclass
class _Found:
    """A heading found while scanning, with the cast list that follows it."""

    start: int
    text: str
    heading: Heading
    cast: list[str] = field(default_factory=list)


@dataclass
class _Scan:
    """Everything one pass over the lines learns."""

    markers: list[tuple[int, int | None, str | None]] = field(default_factory=list)
    headings: list[_Found] = field(default_factory=list)
    content: list[int] = field(default_factory=list)
    content_ends: list[int] = field(default_factory=list)
    since_heading: int = DEFAULT_CAST_WINDOW + 1
    #: Whether no heading has come since the text, a file or an episode began; only then can
    #: a line start a heading-less scene, so only then is it recorded.
    preamble: bool = True
    #: Whether a preamble has turned out to be front matter (sketches, synopsis), which runs
    #: to the next heading or episode marker and is never a scene.
    front: bool = False

    def segment(self, text: str, start: int) -> None:
        """Classify one logical line (``text`` begins at offset ``start``)."""
        stripped = text.strip()
        if not stripped:
            return
        heading = match_heading(strip_emphasis(text))
        if heading is not None:
            lead = len(text) - len(text.lstrip())
            # A forced Fountain heading (.SNIPER'S NEST) is shown without its forcing dot.
            shown = (
                stripped[1:].lstrip()
                if stripped.startswith(".") and not stripped.startswith("..")
                else stripped
            )
            found = _Found(start + lead, shown, heading)
            tail = CAST_TAIL_RE.search(stripped)
            if tail and (cast := parse_cast_line(stripped[tail.start() :].strip())) is not None:
                found.cast.extend(name for name, _ in cast if not is_group(name))
            self.open_scene(found)
            return
        self.since_heading += 1
        if self.headings and self.since_heading <= DEFAULT_CAST_WINDOW:
            cast = parse_cast_line(text)
            if cast is not None:
                self.headings[-1].cast.extend(name for name, _ in cast if not is_group(name))
                return
        if self.preamble and not self.front:
            if is_front_header(stripped) or parse_bio(stripped, in_block=False) is not None:
                self.front = True
                return
            if is_front_matter(stripped) or IGNORABLE_RE.match(text):
                return
            self.content.append(start)
            self.content_ends.append(start + len(text))

    def open_scene(self, found: _Found) -> None:
        """Record a heading: what follows is its scene, no longer a preamble."""
        self.headings.append(found)
        self.since_heading = 0
        self.preamble = self.front = False

    def line(self, line: str, start: int) -> None:
        """Classify one physical line, cutting it at episode markers."""
        if not line or line.isspace():
            return
        has_marker = "集" in line or "pisode" in line or "PISODE" in line
        markers = find_episode_markers(line) if has_marker else []
        if not markers:
            self.segment(line, start)
            return
        if markers[0].start > 0:
            self.segment(line[: markers[0].start], start)
        for marker in markers:
            rest = line[marker.rest_start : marker.rest_end]
            title = None if match_heading(rest) else clean_title(rest)
            self.markers.append((start + marker.start, marker.number, title))
            self.preamble, self.front = True, False
            if title is None:
                self.segment(rest, start + marker.rest_start)


#: A place named alone after a transition: upper case, up to five words, no sentence mark.
BARE_PLACE_RE = re.compile(r"^[A-Z][A-Z0-9 '’&/-]{1,40}$")


def bare_place(line: str) -> str | None:
    """The place a line names when, right after ``CUT TO:`` and alone, it opens a new scene.

    Some scripts write a new scene as its bare place after a transition (``CUT TO:``, a blank
    line, ``GARAGE``, a blank line); a transition word or a shot is not a place.

    >>> bare_place("GARAGE"), bare_place("BLACK"), bare_place("Later that day")
    ('GARAGE', None, None)
    """
    text = line.strip()
    if not BARE_PLACE_RE.match(text) or len(text.split()) > 5:
        return None
    if EN_TRANSITION_RE.match(text) or is_shot_line(text) or match_heading(text) is not None:
        return None
    return text


def _skipped_ranges(text: str, spans: Sequence[SourceSpan]) -> list[tuple[int, int]]:
    starts = [span.start for span in spans] or [0]
    ends = [span.end for span in spans] or [len(text)]
    ranges = []
    for start, end in zip(starts, ends, strict=True):
        meta, body = parse_title_page(text[start:end] if spans else text)
        if meta:
            ranges.append((start, start + body))
    return ranges


def _scan(text: str, spans: Sequence[SourceSpan]) -> _Scan:
    scan = _Scan()
    skipped = _skipped_ranges(text, spans)
    span_starts = sorted(span.start for span in spans)
    masked = mask_markup(text)
    next_skip = next_span = 0
    lines = logical_lines(masked, frozenset())  # cues need no cut to find scenes
    previous = ""
    for index, (start, end) in enumerate(lines):
        following = masked[slice(*lines[index + 1])] if index + 1 < len(lines) else ""
        stripped = masked[start:end].strip()
        if stripped and previous.endswith("TO:") and not following.strip() and (place := bare_place(stripped)):
            scan.open_scene(_Found(start, place, Heading(None, None, place)))
            previous = place
            continue
        if stripped:
            previous = stripped
        while next_span < len(span_starts) and span_starts[next_span] <= start:
            next_span += 1
            scan.preamble = True
        while next_skip < len(skipped) and skipped[next_skip][1] <= start:
            next_skip += 1
        if next_skip < len(skipped) and skipped[next_skip][0] <= start:
            continue
        scan.line(masked[start:end], start)
    return scan


def _stem(name: str) -> str:
    base = PATH_SEP_RE.split(name)[-1]
    return base.rsplit(".", 1)[0] if "." in base.strip(".") else base


def _episodes(text: str, spans: Sequence[SourceSpan], scan: _Scan) -> list[EpisodeDraft]:
    if spans:
        episodes = []
        for number, span in enumerate(spans, start=1):
            inside = [title for at, _, title in scan.markers if span.start <= at < span.end and title]
            episodes.append(
                EpisodeDraft(number, inside[0] if inside else _stem(span.name), span.start, span.end)
            )
        return episodes
    kept: list[tuple[int, int | None, str | None]] = []
    for marker in scan.markers:
        if kept and marker[1] is not None and marker[1] == kept[-1][1]:
            continue  # a repeated marker (``第1集`` then ``第1集 重逢``) is the same episode
        kept.append(marker)
    if not kept:
        return [EpisodeDraft(1, None, 0, len(text))]
    if scan.headings and scan.headings[0].start < kept[0][0]:
        kept.insert(0, (0, None, None))  # scenes before the first marker are an unmarked episode
    bounds = [0] + [at for at, _, _ in kept[1:]] + [len(text)]
    return [
        EpisodeDraft(index + 1, title, bounds[index], bounds[index + 1])
        for index, (_, _, title) in enumerate(kept)
    ]


def parse_structure(
    text: str, sources: Sequence[SourceSpan] = ()
) -> tuple[list[EpisodeDraft], list[SceneDraft]]:
    """Find the episodes and scenes of a script.

    Args:
        text: The whole script (all submitted files joined).
        sources: Where each submitted file lies in ``text``; with more than one, each file is
            one episode, titled by its ``第X集``/``Episode`` heading or else its file name.

    Returns:
        ``(episodes, scenes)``. Episodes count from 1; without markers there is one episode
        (title ``None``) over the whole text. Scenes are contiguous and ordered, numbered from
        1 across the script; text before an episode's first heading becomes a scene with
        heading ``""`` unless it is only blank lines, a title page or episode/title lines.

    >>> episodes, scenes = parse_structure("INT. BAR - NIGHT\\nJoe drinks.\\n")
    >>> [(s.number, s.int_ext, s.location, s.time, s.start, s.end) for s in scenes]
    [(1, 'INT', 'BAR', 'NIGHT', 0, 29)]
    """
    spans = list(sources) if len(sources) > 1 else []
    scan = _scan(text, spans)
    if implied := fill_numbered_gaps(text, [(found.start, found.text) for found in scan.headings]):
        scan.headings.extend(_Found(n.start, n.text, Heading(None, None, n.place)) for n in implied)
        scan.headings.sort(key=lambda found: found.start)
    heading_starts = [found.start for found in scan.headings]
    scenes: list[SceneDraft] = []
    episodes = _episodes(text, spans, scan)
    for episode in episodes:
        first = bisect_left(heading_starts, episode.start)
        last = bisect_left(heading_starts, episode.end)
        body_end = heading_starts[first] if first < last else episode.end
        content = bisect_left(scan.content, episode.start)
        lines = bisect_left(scan.content, body_end) - content
        lone = text[scan.content[content] : scan.content_ends[content]] if lines == 1 else ""
        has_content = lines > 1 or (lines == 1 and not TITLE_LIKE_RE.match(lone))
        if has_content or first == last:
            start = scan.content[content] if has_content else episode.start
            scenes.append(SceneDraft(len(scenes) + 1, episode.number, "", None, None, None, start, body_end))
        for index in range(first, last):
            found = scan.headings[index]
            end = heading_starts[index + 1] if index + 1 < last else episode.end
            scenes.append(
                SceneDraft(
                    number=len(scenes) + 1,
                    episode=episode.number,
                    heading=found.text,
                    int_ext=found.heading.int_ext,
                    time=found.heading.time,
                    location=found.heading.location,
                    start=found.start,
                    end=end,
                    listed_characters=tuple(found.cast),
                )
            )
    return episodes, scenes
