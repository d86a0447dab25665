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
import difflib
import json
import sys
import tempfile
from collections.abc import Sequence
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


def _unmatched(a: Sequence[object], b: Sequence[object]) -> tuple[int, int]:
    """How many scenes of each path the other lacks (aligned, so one missing scene is one)."""
    matched = sum(
        block.size for block in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks()
    )
    return len(a) - matched, len(b) - matched


@dataclass(frozen=True)
class Comparison:
    """One script's row: counts of each path, the names and scenes only one path found."""

    file: str
    scenes: int
    pdf_scenes: int
    characters: int
    pdf_characters: int
    scenes_only_fountain: int
    scenes_only_pdf: int
    only_fountain: list[str]
    only_pdf: list[str]

    @property
    def scenes_agree(self) -> bool:
        return not (self.scenes_only_fountain or self.scenes_only_pdf)

    @property
    def characters_agree(self) -> bool:
        return not (self.only_fountain or self.only_pdf)


def compare(fountain: Path, folder: Path) -> Comparison:
    """Render one Fountain script to PDF in ``folder``, read it back and compare the breakdowns."""
    pdf = folder / (fountain.stem + ".pdf")
    render_pdf(fountain, pdf)
    direct = breakdown(fountain.read_text(encoding="utf-8-sig"))
    via_pdf = breakdown(pdf_to_text(pdf.read_bytes(), name=pdf.name, max_bytes=MAX_BYTES))
    only_fountain, only_pdf = _unmatched(direct.scenes, via_pdf.scenes)
    return Comparison(
        fountain.name,
        len(direct.scenes),
        len(via_pdf.scenes),
        len(direct.characters),
        len(via_pdf.characters),
        only_fountain,
        only_pdf,
        sorted(direct.characters - via_pdf.characters),
        sorted(via_pdf.characters - direct.characters),
    )


def _print_table(rows: list[Comparison]) -> None:
    print(f"{'script':44} {'scenes':>7} {'pdf':>5} {'chars':>6} {'pdf':>5}  agree")
    for row in rows:
        agree = "yes" if row.scenes_agree and row.characters_agree else "NO"
        print(
            f"{row.file[:44]:44} {row.scenes:>7} {row.pdf_scenes:>5} "
            f"{row.characters:>6} {row.pdf_characters:>5}  {agree}"
        )
        if row.only_fountain or row.only_pdf:
            print(f"    characters only in Fountain: {row.only_fountain}, only in PDF: {row.only_pdf}")
        if not row.scenes_agree:
            print(
                f"    scenes only in Fountain: {row.scenes_only_fountain}, only in PDF: {row.scenes_only_pdf}"
            )


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
        print(json.dumps([asdict(row) for row in rows], ensure_ascii=False, indent=2))
    else:
        _print_table(rows)
    agree = sum(row.scenes_agree and row.characters_agree for row in rows)
    scenes = sum(row.scenes_agree for row in rows)
    characters = sum(row.characters_agree for row in rows)
    print(
        f"summary: {agree}/{len(rows)} scripts agree "
        f"(scenes {scenes}/{len(rows)}, characters {characters}/{len(rows)})"
    )
    return 0


__all__ = ["Breakdown", "Comparison", "breakdown", "compare", "main", "render_pdf"]

if __name__ == "__main__":
    sys.exit(main())
