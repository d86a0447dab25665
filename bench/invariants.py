"""Metamorphic invariants over the development corpus: edits that change no scene or speaker.

    python -m bench.invariants [--corpus DIR] [--only TEXT] [--json]

A scraper, an editor or another platform changes a script's text in ways that mean nothing:
full-width punctuation becomes half-width (or the reverse), separators become tabs or
ideographic spaces, colons get spaces around them, line endings become CRLF with a BOM, a
multi-episode file becomes one file per episode, every line break is lost. Each transform here
is applied to every ``<corpus>/zh/*.txt`` and ``<corpus>/en/*.fountain`` (``../shared/corpus`` by
default) and both texts are broken down by the pure cores the pipeline runs (ingest's decoder and
``join_scripts``, ``parse_structure``, chunking, the rules extractor, dedup's ``merge_assets``; no
database). Per transform it prints how many scripts keep their scenes (INT/EXT, location, time,
in order), their characters, which scenes each character is in, and their episodes identical,
and names the scripts that do not with counts (and the character names that differ).

The tests in ``tests/unit/test_invariants.py`` apply the same transforms to ``examples/``.
Never prints the scripts' text: file names, counts and character names only; nothing is written
outside a temporary folder.
"""

from __future__ import annotations

import argparse
import codecs
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.errors import InputError
from pipeline.numerals import chinese_number
from pipeline.settings import Settings
from pipeline.sources import ScriptText, decode_script, join_scripts, read_scripts
from stages.chunk import split_into_chunks
from stages.dedup.stage import RecordIn, dedup_policy, merge_assets
from stages.drafts import SourceSpan
from stages.extract.rules import extract_rules
from stages.extract.stage import slice_scenes
from stages.screenplay import detect_language, find_sketches, parse_structure
from stages.screenplay.verdict import missing_script_parts

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
#: Large enough for any script here (the byte limit ``read_scripts`` is given).
MAX_BYTES = 50_000_000
#: The default settings: dedup thresholds as a job without options uses them.
SETTINGS = Settings()
#: Characters per extract chunk in a job without options (``--chunk-chars`` changes it).
CHUNK_CHARS = SETTINGS.extract.max_chunk_chars
#: A chunk size no script reaches: the whole script is one chunk.
ONE_CHUNK = 1 << 40
#: Full-width forms a Chinese script writes its punctuation in, and their half-width forms
#: (U+FF01–FF5E is ASCII shifted by 0xFEE0; NFKC maps one to the other).
FULL_PUNCT = "：（），；！？"
HALF_PUNCT = ":(),;!?"
_TO_HALF = {ord(f): h for f, h in zip(FULL_PUNCT, HALF_PUNCT, strict=True)}
_TO_FULL = {ord(h): f for f, h in zip(FULL_PUNCT, HALF_PUNCT, strict=True)}
IDEOGRAPHIC_SPACE = "\u3000"
_INNER_SPACES_RE = re.compile(r"(?<=\S)[ \u3000]+(?=\S)")
_COLON_RE = re.compile(r"[ \t]*([:：])[ \t]*")
#: An episode marker (``第3集 重逢``, ``【第十集】``) where a file is cut into episode files: at a
#: line's start or, in text whose line breaks were lost, after a sentence's end or a space.
EPISODE_RE = re.compile(
    r"(?:^|(?<=[\n。！？!?…」”』）)\]】 \t\u3000]))[ \t\u3000]*[【\[]?第[ \t]*"
    r"([0-9零〇一二三四五六七八九十百千两]+)[ \t]*集(?![完终])"
)


@dataclass(frozen=True)
class Breakdown:
    """What a user sees of a script: scenes, their episodes, characters and who is in which scene."""

    #: Per scene in order: (INT/EXT, location, time).
    scenes: tuple[tuple[str | None, str | None, str | None], ...]
    #: Per scene in order: its episode's number.
    episodes: tuple[int, ...]
    #: The character assets' names (speaking, listed and introduced characters).
    characters: frozenset[str]
    #: (character, scene number) for every scene a character is in.
    presence: frozenset[tuple[str, int]]
    #: Whether the pipeline refuses the text as not a script.
    refused: bool = False


def breakdown(script: ScriptText, *, chunk_chars: int = CHUNK_CHARS) -> Breakdown:
    """Break a script down as the pipeline does, without a database.

    Scenes and episodes come from ``parse_structure`` over the files' spans, characters from the
    rules extractor run per chunk of ``chunk_chars`` (with the script's sketches) and merged by
    dedup's core. The extractor learns who speaks per chunk, so a character only named in a chunk
    can be missed there: where chunks are cut can change a character's scenes.
    """
    text = script.text
    sources = [SourceSpan(s["name"], s["start"], s["end"]) for s in script.sources]
    _, scenes = parse_structure(text, sources)
    shown = tuple((s.int_ext, s.location, s.time) for s in scenes)
    in_episode = tuple(s.episode for s in scenes)
    if missing_script_parts(text, scenes, sources) is not None:
        return Breakdown(shown, in_episode, frozenset(), frozenset(), refused=True)
    language = detect_language(text)
    sketches = find_sketches(text)
    episode_of = {s.number: s.episode for s in scenes}
    records: list[RecordIn] = []
    for chunk in split_into_chunks(text, scenes, max_chars=chunk_chars):
        inside = scenes[chunk.first_scene - 1 : chunk.last_scene]
        slices = slice_scenes(text[chunk.start : chunk.end], chunk.start, inside)
        for m in extract_rules(slices, language=language, sketches=sketches):
            if m.asset_type == "character":
                number = len(records) + 1
                episode = episode_of[m.scene_number]
                records.append(RecordIn(number, m.asset_type, m.name, m.scene_number, episode, m.attributes))
    assets, decisions = merge_assets(records, [], dedup_policy(SETTINGS))
    scene_of = {r.id: r.scene_number for r in records}
    presence = frozenset((assets[d.asset].name, scene_of[d.record_id]) for d in decisions)
    return Breakdown(shown, in_episode, frozenset(a.name for a in assets), presence)


def from_text(text: str) -> ScriptText:
    """One file's text as ingest stores it (decoded from its UTF-8 bytes, one source span)."""
    data = text.encode("utf-8")
    decoded, _ = decode_script(data)
    return join_scripts([("script.txt", decoded)], encoding="utf-8", byte_count=len(data))


def from_files(parts: Sequence[tuple[str, str]], folder: Path) -> ScriptText:
    """Files (name, text) written to ``folder`` and read back as one job: one episode per file."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in parts:
        (folder / name).write_text(text, encoding="utf-8")
    return read_scripts([folder], max_bytes=MAX_BYTES)


# --- transforms: text in, text out; ``lines`` (indices) limits one to some lines -----------------


def _per_line(text: str, change: Callable[[str], str], lines: set[int] | None) -> str:
    return "\n".join(
        change(line) if lines is None or index in lines else line
        for index, line in enumerate(text.split("\n"))
    )


def crlf_bom(text: str) -> str:
    """The text saved on Windows with a UTF-8 BOM, read back by ingest's decoder."""
    return decode_script(codecs.BOM_UTF8 + text.replace("\n", "\r\n").encode("utf-8"))[0]


def trailing_whitespace(text: str, lines: set[int] | None = None) -> str:
    """A space and a tab left at the end of (some) non-blank lines."""
    return _per_line(text, lambda line: line + " \t" if line else line, lines)


def half_width(text: str, chars: str = FULL_PUNCT) -> str:
    """Full-width punctuation (the ``chars`` of :data:`FULL_PUNCT`) as its half-width form."""
    return text.translate({k: v for k, v in _TO_HALF.items() if chr(k) in chars})


def full_width(text: str, chars: str = HALF_PUNCT) -> str:
    """Half-width punctuation (the ``chars`` of :data:`HALF_PUNCT`) as its full-width form."""
    return text.translate({k: v for k, v in _TO_FULL.items() if chr(k) in chars})


def tabs(text: str, lines: set[int] | None = None, by: str = "\t") -> str:
    """Spaces (ASCII or ideographic) between words of (some) lines become ``by``: a tab."""
    return _per_line(text, lambda line: _INNER_SPACES_RE.sub(by, line), lines)


def ideographic_spaces(text: str, lines: set[int] | None = None) -> str:
    """Spaces between words of (some) lines swap ASCII for ideographic (U+3000) and back."""
    swap = str.maketrans({" ": IDEOGRAPHIC_SPACE, IDEOGRAPHIC_SPACE: " "})
    return _per_line(
        text, lambda line: _INNER_SPACES_RE.sub(lambda m: m.group().translate(swap), line), lines
    )


def indent(text: str, lines: set[int] | None = None, by: str = IDEOGRAPHIC_SPACE * 2) -> str:
    """(Some) non-blank lines indented, as web pages and word processors indent paragraphs."""
    return _per_line(text, lambda line: by + line if line.strip() else line, lines)


def colon_spaces(text: str, lines: set[int] | None = None) -> str:
    """One space on both sides of every colon of (some) lines: ``林晚 ： 走吧``."""
    return _per_line(text, lambda line: _COLON_RE.sub(r" \1 ", line), lines)


def join_lines(text: str) -> str:
    """Every line break dropped, as a scraper does: the whole script one line."""
    return "".join(text.split("\n"))


def rename(text: str, old: str, new: str) -> str:
    """A character renamed everywhere: English names in their upper- and title-case forms,
    Chinese names also where spaces pad them to line up (``青 莲``)."""
    if old.isascii():
        for a, b in ((old.upper(), new.upper()), (old.title(), new.title())):
            text = re.sub(rf"\b{re.escape(a)}\b", b, text)
        return text
    return re.sub("[ \t\u3000]*".join(map(re.escape, old)), new, text)


def renamed(names: frozenset[str], old: str, new: str) -> frozenset[str]:
    """Character names as :func:`rename` leaves them."""
    return frozenset(rename(name, old, new) for name in names)


def split_episodes(text: str) -> list[tuple[str, str]]:
    """A multi-episode file as one file per episode (``ep01.txt``, …), cut before each marker of a
    new episode number (:data:`EPISODE_RE`); what precedes the first (title, sketches) goes with it.

    Fewer than two episodes give ``[]``.
    """
    cuts: list[int] = []
    numbers: list[int | None] = []
    for m in EPISODE_RE.finditer(text):
        number = int(m.group(1)) if m.group(1).isdigit() else chinese_number(m.group(1))
        if numbers and number is not None and number == numbers[-1]:
            continue  # ``第1集`` then ``第1集 重逢``: the same episode
        cuts.append(m.start())
        numbers.append(number)
    if len(cuts) < 2:
        return []
    bounds = [0, *cuts[1:], len(text)]
    width = max(2, len(str(len(cuts))))
    return [
        (f"ep{index + 1:0{width}d}.txt", text[bounds[index] : bounds[index + 1]])
        for index in range(len(cuts))
    ]


def join_episodes(parts: Sequence[tuple[str, str]]) -> str:
    """Episode files as one file: each file's text in order, a ``第N集`` line before any that
    does not open with one."""
    texts = []
    for number, (_, text) in enumerate(parts, start=1):
        body = text.strip("\n")
        texts.append(body if EPISODE_RE.match(body) else f"第{number}集\n{body}")
    return "\n\n".join(texts) + "\n"


# --- the corpus run -------------------------------------------------------------------------------

#: Stand-in names for :func:`rename`, by the old name's length (Chinese) or for English.
NEW_NAMES = {
    2: ("翠花", "菊香"),
    3: ("何翠花", "叶菊香"),
    4: ("欧阳翠花", "司徒菊香"),
    0: ("Zebedee", "Quillon"),
}


@dataclass
class Outcome:
    """One transform of one script: which parts of the breakdown stayed the same."""

    script: str
    transform: str
    scenes: bool
    episodes: bool
    characters: bool
    presence: bool
    detail: str = ""

    @property
    def same(self) -> bool:
        """Scenes and characters unchanged (what the summary counts)."""
        return self.scenes and self.characters

    @property
    def identical(self) -> bool:
        """Nothing the comparison looks at changed."""
        return self.same and self.presence and self.episodes


@dataclass
class Case:
    """A transformed script and the breakdown it should have."""

    script: ScriptText
    expected: Breakdown


def rename_target(text: str, base: Breakdown, language: str) -> str | None:
    """The character :func:`cases` renames: the one in most scenes whose name is a word of its
    own (renaming ``韩伟国`` would leave the ``伟国`` the script also calls him untouched)."""
    counts = Counter(name for name, _ in base.presence)
    for name, _ in counts.most_common():
        if language == "en" and re.fullmatch(r"[A-Z][A-Za-z]{2,}", name):
            return name
        if language == "zh" and re.fullmatch(r"[\u4e00-\u9fff]{2,4}", name):
            rest = text.replace(name, "\n")
            parts = {name[i:j] for i in range(len(name)) for j in range(i + 2, len(name) + 1)} - {name}
            if not any(part in rest for part in parts):
                return name
    return None


def new_name(text: str, old: str) -> str:
    """A name of :data:`NEW_NAMES` for ``old`` (as long, if Chinese) that ``text`` does not contain."""
    return next(n for n in NEW_NAMES[0 if old.isascii() else len(old)] if n not in text)


def _some_lines(text: str, rng: random.Random) -> set[int]:
    count = text.count("\n") + 1
    return {i for i in range(count) if rng.random() < 0.5}


def cases(text: str, language: str, base: Breakdown, seed: str, workdir: Path) -> dict[str, Case]:
    """Every transform that applies to a script, with the breakdown each should give."""
    rng = random.Random(seed)
    found: dict[str, Case] = {
        "crlf+bom": Case(from_text(crlf_bom(text)), base),
        "trailing whitespace": Case(from_text(trailing_whitespace(text)), base),
    }
    if language == "zh":
        found["half-width punctuation"] = Case(from_text(half_width(text)), base)
        some = "".join(c for c in FULL_PUNCT if rng.random() < 0.5) or "："
        found["some half-width punctuation"] = Case(from_text(half_width(text, some)), base)
        found["full-width punctuation"] = Case(from_text(full_width(text)), base)
        found["tabs for spaces"] = Case(from_text(tabs(text)), base)
        found["ideographic spaces"] = Case(from_text(ideographic_spaces(text)), base)
        found["indented lines"] = Case(from_text(indent(text, _some_lines(text, rng))), base)
        found["spaces around colons"] = Case(from_text(colon_spaces(text)), base)
        found["one line"] = Case(from_text(join_lines(text)), base)
        if parts := split_episodes(text):
            found["file per episode"] = Case(from_files(parts, workdir / "episodes"), base)
    if (old := rename_target(text, base, language)) is not None:
        new = new_name(text, old)
        expected = Breakdown(
            tuple((ie, loc and rename(loc, old, new), t) for ie, loc, t in base.scenes),
            base.episodes,
            renamed(base.characters, old, new),
            frozenset((rename(n, old, new), s) for n, s in base.presence),
            base.refused,
        )
        found[f"rename {old}"] = Case(from_text(rename(text, old, new)), expected)
    return found


def compare(script: str, transform: str, case: Case, *, chunk_chars: int = CHUNK_CHARS) -> Outcome:
    """How a transformed script's breakdown differs from the one expected."""
    got, want = breakdown(case.script, chunk_chars=chunk_chars), case.expected
    lost, gained = sorted(want.characters - got.characters), sorted(got.characters - want.characters)
    scenes = got.scenes == want.scenes
    notes = []
    if not scenes:
        notes.append(f"scenes {len(want.scenes)}→{len(got.scenes)}")
        if len(got.scenes) == len(want.scenes):
            notes.append(f"{sum(a != b for a, b in zip(want.scenes, got.scenes, strict=True))} differ")
    if got.refused != want.refused:
        notes.append("refused as not a script" if got.refused else "no longer refused")
    if lost:
        notes.append(f"lost {', '.join(lost[:8])}{' …' if len(lost) > 8 else ''}")
    if gained:
        notes.append(f"gained {', '.join(gained[:8])}{' …' if len(gained) > 8 else ''}")
    if moved := got.presence ^ want.presence:
        who = sorted({name for name, _ in moved})
        notes.append(
            f"{len(moved)} character-scenes differ ({', '.join(who[:6])}{' …' if len(who) > 6 else ''})"
        )
    if len(set(got.episodes)) != len(set(want.episodes)):
        notes.append(f"episodes {len(set(want.episodes))}→{len(set(got.episodes))}")
    return Outcome(
        script,
        transform,
        scenes,
        got.episodes == want.episodes,
        not lost and not gained and got.refused == want.refused,
        got.presence == want.presence,
        "; ".join(notes),
    )


def corpus_files(corpus: Path, only: str | None = None) -> list[Path]:
    """The corpus's Chinese text and Fountain scripts, by folder and name."""
    found = [*sorted((corpus / "zh").glob("*.txt")), *sorted((corpus / "en").glob("*.fountain"))]
    return [p for p in found if only is None or only.casefold() in p.name.casefold()]


def run(files: Sequence[Path], *, chunk_chars: int = CHUNK_CHARS) -> list[Outcome]:
    """Every transform of every script; a script ingest refuses is skipped (``bench.corpus`` says why)."""
    outcomes = []
    for path in files:
        name = f"{path.parent.name}/{path.name}"
        try:
            original = read_scripts([path], max_bytes=MAX_BYTES)
        except InputError:
            continue
        text = original.text
        language = detect_language(text)
        base = breakdown(original, chunk_chars=chunk_chars)
        with tempfile.TemporaryDirectory(prefix="juben-invariants-") as tmp:
            for transform, case in cases(text, language, base, path.name, Path(tmp)).items():
                outcomes.append(compare(name, transform, case, chunk_chars=chunk_chars))
    return outcomes


def _kind(transform: str) -> str:
    return "rename top character" if transform.startswith("rename ") else transform


def render(outcomes: Sequence[Outcome]) -> str:
    """Per transform: scripts, how many keep each part, then the scripts that do not."""
    kinds = list(dict.fromkeys(_kind(o.transform) for o in outcomes))
    head = ["transform", "scripts", "same", "scenes", "chars", "presence", "episodes"]
    rows = []
    for kind in kinds:
        mine = [o for o in outcomes if _kind(o.transform) == kind]
        rows.append(
            [
                kind,
                str(len(mine)),
                *(
                    str(sum(getattr(o, part) for o in mine))
                    for part in ("same", "scenes", "characters", "presence", "episodes")
                ),
            ]
        )
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    out = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [head, *rows]
    ]
    differing = [o for o in outcomes if not o.identical]
    if differing:
        out.append("")
        out.append("what differs:")
        out.extend(f"  {o.transform}: {o.script}: {o.detail}" for o in differing)
    same = sum(o.same for o in outcomes)
    out.append("")
    out.append(
        f"{same}/{len(outcomes)} transformed scripts keep scenes and characters; "
        f"{sum(o.presence for o in outcomes)}/{len(outcomes)} keep every character's scenes"
    )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the invariants over the corpus and print the table (or JSON)."""
    parser = argparse.ArgumentParser(prog="python -m bench.invariants", description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="the corpus folder (zh/, en/)")
    parser.add_argument("--only", help="only scripts whose file name contains this")
    parser.add_argument(
        "--chunk-chars",
        type=int,
        default=CHUNK_CHARS,
        help=f"characters per extract chunk (default {CHUNK_CHARS}, a job's; 0: the whole script is one)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per transform and script")
    args = parser.parse_args(argv)
    files = corpus_files(args.corpus, args.only)
    if not files:
        print(f"no scripts under {args.corpus}", file=sys.stderr)
        return 1
    started = time.perf_counter()
    outcomes = run(files, chunk_chars=args.chunk_chars or ONE_CHUNK)
    if args.json:
        print(json.dumps([asdict(o) for o in outcomes], ensure_ascii=False, indent=1))
    else:
        print(render(outcomes))
        print(f"{len(files)} scripts in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
