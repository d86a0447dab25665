"""bench.peers and bench.peer_suites: the suites' formats are read right and units are aligned fairly."""

from __future__ import annotations

from pathlib import Path

import yaml

from bench.peer_suites import Unit, fountain_tools_cases, jouvence_unit, read_yaml_cases, screenplain_cases
from bench.peers import compare, normalise, ours

CASES_YAML = """# a comment before the first document
---
in: "FERRY\\nHorn.\\n\\n> BLACK"
out:
    - "@FERRY"
    - '=Horn''s'
---
in: |
    INT. CABIN

    Kettle.
      indented

title: {}
out: []
"""


def test_the_yaml_subset_reads_as_pyyaml_does() -> None:
    """Quoted scalars with escapes, ``|`` blocks with inner indentation, ``[]`` and skipped keys."""
    expected = [(d["in"], d["out"]) for d in yaml.safe_load_all(CASES_YAML) if d]

    assert expected == read_yaml_cases(CASES_YAML)


def test_jouvence_prefixes() -> None:
    """Prefix codes map to our kinds; an empty action has no unit."""
    assert [Unit("centered", "END"), Unit("section", "Act"), Unit("page_break", "")] == [
        *jouvence_unit("!><END"),
        *jouvence_unit("##Act"),
        *jouvence_unit("<pagebreak>"),
    ]
    assert [] == jouvence_unit("!\n")


def test_screenplain_html_and_fountain_tools_listings(tmp_path: Path) -> None:
    """HTML blocks, line breaks, dual speeches and scene numbers; TYPE:"text" entries with flags."""
    (tmp_path / "a.fountain").write_text("x", encoding="utf-8")
    (tmp_path / "a.html").write_text(
        '<h6><span class="scnuml">3</span>INT. CABIN<span class="scnumr">3</span></h6>\n'
        '<div class="action"><p>Kettle<br/>boils.</p></div>\n'
        '<div class="dual"><div class="left"><p class="character">ANA</p><p>Tea?</p></div>'
        '<div class="right"><p class="character">BO</p><p class="parenthetical">(nods)</p></div></div>\n'
        '<div class="action centered page-break"><p>END</p></div>\n',
        encoding="utf-8",
    )
    (tmp_path / "a.txt").write_text(
        'HEADING:"INT. CABIN"\nACTION:"two\nlines"\nACTION:"END" (centered)\nLYRIC:"la"', encoding="utf-8"
    )

    (html,) = screenplain_cases(tmp_path)
    (listing,) = fountain_tools_cases(tmp_path)

    assert [
        Unit("heading", "INT. CABIN"),
        Unit("action", "Kettle"),
        Unit("action", "boils."),
        Unit("character", "ANA", dual=True),
        Unit("dialogue", "Tea?", dual=True),
        Unit("character", "BO", dual=True),
        Unit("parenthetical", "(nods)", dual=True),
        Unit("page_break", ""),
        Unit("centered", "END"),
    ] == html.expected
    assert ["heading", "action", "action", "centered", "lyrics"] == [u.kind for u in listing.expected]


def test_alignment_counts_every_unpaired_unit() -> None:
    """Same text pairs up whatever the kind; text only one side has stays unpaired."""
    expected = [Unit("character", "BO"), Unit("dialogue", "Tea?"), Unit("action", "Gone.")]
    got = [Unit("action", "Extra."), Unit("action", "BO"), Unit("dialogue", "*Tea?*")]

    slots = compare(expected, got)

    assert [(None, got[0]), (expected[0], got[1]), (expected[1], got[2]), (expected[2], None)] == slots
    assert "tea?" == normalise("**Tea?**")
    assert [Unit("heading", "INT. CABIN"), Unit("action", "Kettle.")] == ours(
        "Title: T\n\nINT. CABIN\n\n[[note]]\nKettle.\n"
    )
