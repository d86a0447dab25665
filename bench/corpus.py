"""Robustness over the development corpus: every real script through the whole pipeline, no truth needed.

    python -m bench.corpus [--corpus DIR] [--only TEXT] [--json] [--out FILE]

The corpus (``../shared/corpus`` by default; its README says what it is and how it may be used)
is real scripts nobody here wrote. Each file (``zh/*.txt``, ``en/*.fountain``, ``fdx/*``) runs
through the embedded pipeline in-process with the rules extractor; its text is also read by the
parser's own rules to see how lines are classified (English as Fountain elements, Chinese by its
logical lines). Per script the table shows the job's status, scenes, episodes, characters, the
share of lines read as heading / cue / dialogue / action, and warnings, each a bug to fix or a
documented limit:

- ``status``: the job did not complete (the error is shown);
- ``one-scene``: a scene holds more than :data:`BIG_SCENE_CHARS` characters of a longer script
  (headings were missed);
- ``no-scenes``: an episode without scenes;
- ``sentence-name``: a character name that reads like a sentence or a direction (too long,
  punctuation inside, heading words such as 内景 / 日 / INT / DAY);
- ``few-cues``: a script of over 2,000 characters in which under 2% of lines are cues.

Never prints or logs the scripts' text: names of files, counts and character names only. Writes
``bench/results/corpus.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.breakdowns import align_columns, break_down

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
RESULTS = ROOT / "bench" / "results" / "corpus.json"
#: A scene longer than this, in a script with more than one scene's worth of text, is suspect.
BIG_SCENE_CHARS = 6000
#: Words that belong to headings, never to a character's name.
HEADING_WORDS_RE = re.compile(r"内景|外景|^日$|^夜$|[日夜]\s*[内外]|\b(?:INT|EXT|DAY|NIGHT|CONTINUOUS)\b")
#: Abbreviations whose dot belongs to a name (``MR. HUGHES``, ``DR. NO``).
HONORIFIC_RE = re.compile(r"\b(?:MRS?|MS|DR|ST|JR|SR|PROF|SGT|LT|CPT|CAPT|GEN|COL|REV)\.", re.IGNORECASE)
#: Punctuation that a name does not contain.
SENTENCE_PUNCT_RE = re.compile(r"[，。！？；：,.!?;:…「」“”\"]")


def corpus_files(corpus: Path, only: str | None = None) -> list[Path]:
    """The corpus's scripts: Chinese text, Fountain and Final Draft files, by folder and name."""
    found = [
        *sorted((corpus / "zh").glob("*.txt")),
        *sorted((corpus / "en").glob("*.fountain")),
        *sorted((corpus / "fdx").glob("*.fdx")),
        *sorted((corpus / "fdx").glob("*.fountain")),
    ]
    return [p for p in found if only is None or only.casefold() in p.name.casefold()]


#: How a Fountain element's lines count in the table: cue lines, speech lines, the rest action.
ELEMENT_COLUMNS = {
    "heading": "heading",
    "character": "cue",
    "dialogue": "dialogue",
    "parenthetical": "dialogue",
    "lyrics": "dialogue",
}
#: Elements that are no story line at all.
NOT_LINES = frozenset({"title_page", "note", "boneyard", "page_break", "section", "synopsis"})


def classify_lines(text: str, language: str) -> Counter[str]:
    """Count the script's lines by how the parser's own rules read them.

    English (Fountain and plain text) is read by ``stages.screenplay.elements``, one count per
    non-blank line of each element; Chinese by the logical lines, heading and cue rules.

    >>> dict(classify_lines("INT. BAR - NIGHT\\n\\nJoe drinks.\\n\\nJOE\\nHi.\\n", "en"))
    {'heading': 1, 'action': 1, 'cue': 1, 'dialogue': 1}
    """
    from stages.screenplay import match_heading
    from stages.screenplay.elements import fountain_elements
    from stages.screenplay.lines import logical_lines
    from stages.screenplay.names import parse_chinese_cue

    counts: Counter[str] = Counter()
    if language != "zh":
        for element in fountain_elements(text):
            if element.kind not in NOT_LINES:
                lines = sum(1 for line in element.text.splitlines() if line.strip())
                counts[ELEMENT_COLUMNS.get(element.kind, "action")] += lines
        return counts
    for start, end in logical_lines(text):
        line = text[start:end].strip()
        if not line:
            continue
        if match_heading(line) is not None:
            counts["heading"] += 1
        elif parse_chinese_cue(line) is not None:
            counts["cue"] += 1
        else:
            counts["action"] += 1
    return counts


def warnings_for(text: str, report: dict[str, Any], lines: Counter[str]) -> list[str]:
    """What looks wrong in one script's breakdown (see the module docstring)."""
    from stages.screenplay import parse_structure

    found = []
    _, scenes = parse_structure(text)
    if len(text) > BIG_SCENE_CHARS:
        big = [s for s in scenes if s.end - s.start > BIG_SCENE_CHARS]
        if big:
            longest = max(s.end - s.start for s in big)
            found.append(f"one-scene: {len(big)} scene(s) over {BIG_SCENE_CHARS} chars (longest {longest})")
    with_scenes = {s.get("episode") for s in report.get("scenes") or ()}
    empty = [e["number"] for e in report.get("episodes") or () if e["number"] not in with_scenes]
    if empty:
        found.append(f"no-scenes: episodes {empty}")
    for character in report.get("characters") or ():
        name = str(character["name"])
        long_name = len(name) > 8 if not name.isascii() else len(name.split()) > 4
        bare = HONORIFIC_RE.sub("", name)
        if long_name or SENTENCE_PUNCT_RE.search(bare) or HEADING_WORDS_RE.search(name):
            found.append(f"sentence-name: {name!r}")
    total = sum(lines.values())
    if len(text) > 2000 and total and lines["cue"] / total < 0.02:
        found.append(f"few-cues: {lines['cue']} of {total} lines")
    return found


def run_corpus(files: Sequence[Path], workdir: Path) -> list[dict[str, Any]]:
    """Break each file down in one embedded runtime and check its breakdown.

    Returns:
        One result per file: name, status, error, seconds, counts, line shares and warnings.
    """
    from pipeline.settings import load_settings
    from pipeline.sources import read_scripts

    max_bytes = load_settings().ingest.max_bytes
    results = []
    for done in break_down(files, workdir, prefix="corpus"):
        try:
            text = read_scripts([done.path], max_bytes=max_bytes).text
        except Exception:  # unreadable: the job said why
            text = ""
        report = done.report
        language = (report.get("job") or {}).get("language") or (
            "zh" if done.path.parent.name == "zh" else "en"
        )
        lines = classify_lines(text, language) if text else Counter()
        problems = warnings_for(text, report, lines) if text else []
        if done.status != "COMPLETED":
            problems.insert(0, f"status: {done.status}: {done.error}")
        results.append(
            {
                "script": f"{done.path.parent.name}/{done.path.name}",
                "status": done.status,
                "error": done.error,
                "seconds": done.seconds,
                "chars": len(text),
                "scenes": len(report.get("scenes") or ()),
                "episodes": len(report.get("episodes") or ()),
                "characters": len(report.get("characters") or ()),
                "lines": dict(lines),
                "warnings": problems,
            }
        )
    return results


def _share(lines: dict[str, int], kind: str) -> str:
    total = sum(lines.values())
    return f"{100 * lines.get(kind, 0) / total:.0f}" if total else "-"


def render_table(results: Sequence[dict[str, Any]]) -> str:
    """One row per script, then the warnings, then a summary."""
    head = ["script", "status", "chars", "scn", "eps", "chr", "head%", "cue%", "dlg%", "act%", "warn"]
    rows = [
        [
            r["script"],
            r["status"],
            str(r["chars"]),
            str(r["scenes"]),
            str(r["episodes"]),
            str(r["characters"]),
            *(_share(r["lines"], k) for k in ("heading", "cue", "dialogue", "action")),
            str(len(r["warnings"])),
        ]
        for r in results
    ]
    out = align_columns([head, *rows])
    for r in results:
        out.extend(f"  {r['script']}: {w}" for w in r["warnings"])
    kinds = Counter(w.split(":")[0] for r in results for w in r["warnings"])
    completed = sum(r["status"] == "COMPLETED" for r in results)
    out.append(
        f"{len(results)} scripts, {completed} completed, {sum(1 for r in results if r['warnings'])} with warnings: "
        + (", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none")
    )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.corpus", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="the corpus folder (../shared/corpus)")
    parser.add_argument("--only", help="only files whose name contains this")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args(argv)
    files = corpus_files(args.corpus, args.only)
    if not files:
        print(f"no corpus files under {args.corpus}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="juben-corpus-") as workdir:
        results = run_corpus(files, Path(workdir))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, ensure_ascii=False, indent=2) if args.json else render_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
