"""The state machine table: legal and illegal transitions, derived edges, the diagram."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from pipeline.states import STAGES, TERMINAL, Status, is_legal, mermaid

ROOT = Path(__file__).resolve().parents[2]

HAPPY_PATH = [
    Status.PENDING,
    Status.INGESTING,
    Status.INGESTED,
    Status.CHUNKING,
    Status.CHUNKED,
    Status.EXTRACTING,
    Status.EXTRACTED,
    Status.DEDUPING,
    Status.DEDUPED,
    Status.STORYBOARDING,
    Status.STORYBOARDED,
    Status.REPORTING,
    Status.COMPLETED,
]


def _expected_edges() -> set[tuple[Status, Status]]:
    """The edges DESIGN.md §2 names, written out independently of the derivation."""
    edges = set(itertools.pairwise(HAPPY_PATH))
    edges |= {(s.running, s.running) for s in STAGES}
    edges |= {(s, t) for s in Status if s not in TERMINAL for t in (Status.FAILED, Status.CANCELLED)}
    edges |= {(t, s.ready) for t in TERMINAL for s in STAGES}
    return edges


def test_happy_path_is_the_stage_table():
    """Walking the stages ready → running → done gives DESIGN.md's happy path."""
    walked = [STAGES[0].ready]
    for stage in STAGES:
        walked += [stage.running, stage.done]

    assert HAPPY_PATH == walked


@pytest.mark.parametrize(("from_", "to"), sorted(_expected_edges()))
def test_every_legal_transition_is_allowed(from_, to):
    """Each edge of the design is in the derived table."""
    assert is_legal(from_, to)


def test_nothing_else_is_legal():
    """Every pair outside the design's edges is refused."""
    illegal = {(a, b) for a in Status for b in Status} - _expected_edges()

    assert [] == [pair for pair in illegal if is_legal(*pair)]
    assert _expected_edges() == set(STAGES.transitions)


def test_terminal_states_do_not_advance():
    """COMPLETED, FAILED and CANCELLED only leave by a re-run to a ready state."""
    ready = {s.ready for s in STAGES}
    for status in TERMINAL:
        assert {to for (f, to) in STAGES.transitions if f == status} == ready


def test_progress_bands_tile_zero_to_hundred():
    """Stage bands are contiguous from 0 to 100."""
    bands = [s.progress for s in STAGES]

    assert 0 == bands[0][0]
    assert 100 == bands[-1][1]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bands))


def test_architecture_diagram_matches_the_table():
    """docs/ARCHITECTURE.md carries the diagram mermaid() renders from the table."""
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")

    assert mermaid() in doc


def test_only_transitions_writes_job_status():
    """No module but pipeline/transitions.py updates jobs.status (grep guard, STYLE.md §3)."""
    update_job = re.compile(r"update\(Job\)(?:(?!update\().){0,400}?\.values\(([^)]*)\)", re.DOTALL)
    assign = re.compile(r"\bjob\.status\s*=(?!=)")
    writers = set()
    for path in [*ROOT.glob("pipeline/**/*.py"), *ROOT.glob("stages/**/*.py")]:
        text = path.read_text(encoding="utf-8")
        if any(re.search(r"\bstatus\s*=", m.group(1)) for m in update_job.finditer(text)) or assign.search(
            text
        ):
            writers.add(str(path.relative_to(ROOT)))

    assert {"pipeline/transitions.py"} == writers
