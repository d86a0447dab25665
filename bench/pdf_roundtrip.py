"""PDF import against the Fountain it came from: the same scenes and characters either way?

    python -m bench.pdf_roundtrip [--corpus DIR] [--only TEXT] [--json]

Every ``<corpus>/en/*.fountain`` (``../shared/corpus`` by default) and every ``examples/*.fountain``
is rendered to PDF with screenplain (as a screenwriting program would print it: scene numbers in
both margins, page numbers, indented cues and dialogue) in a temporary folder, read back with
``pipeline.pdf.pdf_to_text``, and both texts go through the parser cores (``parse_structure`` and
the rules extractor). Per script it prints the scene count and the character count of each path
and whether they agree (same headings' parts and scene numbers in order, same character names);
a summary line ends the table. Never prints the scripts' text: file names, counts and character
names only; nothing is written outside the temporary folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.pdf import pdf_to_text
from stages.drafts import SceneSlice
from stages.extract.rules import extract_rules
from stages.screenplay import detect_language, parse_structure, scene_number

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
#: The byte limit the PDF reader is given (the default ``ingest.max_bytes``).
MAX_BYTES = 20_000_000


@dataclass(frozen=True)
class Breakdown:
    """What the comparison looks at: each scene's parts and number, and the character names."""

    scenes: tuple[tuple[str | None, str | None, str | None, str | None], ...]
    characters: frozenset[str]


def _fold(text: str | None) -> str | None:
    return text.casefold() if text is not None else None


def breakdown(text: str) -> Breakdown:
    """Scenes (INT/EXT, location, time, the script's own number) and character names of a text."""
    _, scenes = parse_structure(text)
    slices = [SceneSlice(s.number, s.heading, s.location, text[s.start : s.end]) for s in scenes]
    mentions = extract_rules(slices, language=detect_language(text))
    return Breakdown(
        # Case-folded: a PDF prints a heading as written, the PDF reader upper-cases it.
        tuple(
            (s.int_ext, _fold(s.location), _fold(s.time), scene_number(s.heading))
            for s in scenes
            if s.heading
        ),
        frozenset(m.name for m in mentions if m.asset_type == "character"),
    )


def render_pdf(fountain: Path, out: Path) -> None:
    """Render a Fountain file to PDF the way screenplain's ``--format pdf`` does."""
    from screenplain.export.pdf import to_pdf
    from screenplain.parsers import fountain as fountain_parser

    with fountain.open(encoding="utf-8-sig") as stream:
        screenplay = fountain_parser.parse(stream)
    to_pdf(screenplay, str(out))


def compare(fountain: Path, folder: Path) -> dict[str, object]:
    """One script's row: counts of each path, agreement, and the names only one path found."""
    pdf = folder / (fountain.stem + ".pdf")
    render_pdf(fountain, pdf)
    direct = breakdown(fountain.read_text(encoding="utf-8-sig"))
    via_pdf = breakdown(pdf_to_text(pdf.read_bytes(), name=pdf.name, max_bytes=MAX_BYTES))
    return {
        "file": fountain.name,
        "scenes": len(direct.scenes),
        "pdf_scenes": len(via_pdf.scenes),
        "characters": len(direct.characters),
        "pdf_characters": len(via_pdf.characters),
        "scenes_agree": direct.scenes == via_pdf.scenes,
        "characters_agree": direct.characters == via_pdf.characters,
        "only_fountain": sorted(direct.characters - via_pdf.characters),
        "only_pdf": sorted(via_pdf.characters - direct.characters),
        "scene_diffs": sum(a != b for a, b in zip(direct.scenes, via_pdf.scenes, strict=False))
        + abs(len(direct.scenes) - len(via_pdf.scenes)),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the comparison over the corpus and the examples; print the table and a summary."""
    parser = argparse.ArgumentParser(prog="python -m bench.pdf_roundtrip", description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--only", help="only files whose name contains this")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    files = [
        *sorted((args.corpus / "en").glob("*.fountain")),
        *sorted((ROOT / "examples").glob("*.fountain")),
    ]
    files = [f for f in files if args.only is None or args.only.casefold() in f.name.casefold()]
    with tempfile.TemporaryDirectory(prefix="juben-pdf-") as tmp:
        rows = [compare(f, Path(tmp)) for f in files]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        print(f"{'script':44} {'scenes':>7} {'pdf':>5} {'chars':>6} {'pdf':>5}  agree")
        for row in rows:
            agree = "yes" if row["scenes_agree"] and row["characters_agree"] else "NO"
            print(
                f"{str(row['file'])[:44]:44} {row['scenes']:>7} {row['pdf_scenes']:>5} "
                f"{row['characters']:>6} {row['pdf_characters']:>5}  {agree}"
            )
            for key in ("only_fountain", "only_pdf"):
                if row[key]:
                    print(f"    {key}: {', '.join(map(str, row[key]))}")  # type: ignore[call-overload]
            if not row["scenes_agree"]:
                print(f"    scenes differing: {row['scene_diffs']}")
    agree = sum(bool(r["scenes_agree"] and r["characters_agree"]) for r in rows)
    scenes = sum(bool(r["scenes_agree"]) for r in rows)
    print(
        f"summary: {agree}/{len(rows)} scripts agree (scenes {scenes}/{len(rows)}, "
        f"characters {sum(bool(r['characters_agree']) for r in rows)}/{len(rows)})"
    )
    return 0


__all__ = ["Breakdown", "asdict", "breakdown", "compare", "main", "render_pdf"]

if __name__ == "__main__":
    sys.exit(main())
