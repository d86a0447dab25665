"""Packing scenes into extract chunks with split_into_chunks (pure core)."""

from __future__ import annotations

import doctest
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import stages.chunk
from stages.chunk import split_into_chunks
from stages.drafts import ChunkDraft, SceneDraft
from stages.screenplay import parse_structure

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _scenes(lengths: Sequence[int]) -> list[SceneDraft]:
    scenes, start = [], 0
    for number, length in enumerate(lengths, start=1):
        scenes.append(SceneDraft(number, 1, f"S{number}", None, None, None, start, start + length))
        start += length
    return scenes


def _spans(chunks: list[ChunkDraft]) -> list[tuple[int, int, int, int]]:
    return [(c.start, c.end, c.first_scene, c.last_scene) for c in chunks]


def test_no_scenes_no_chunks() -> None:
    """An empty scene list gives no chunks."""
    assert [] == split_into_chunks("anything", [], max_chars=100)


def test_whole_scenes_are_packed_greedily() -> None:
    """Consecutive whole scenes share a chunk while they fit in the budget."""
    scenes = _scenes([40, 40, 40, 90, 10])
    text = "x" * 220

    chunks = split_into_chunks(text, scenes, max_chars=100)

    assert [1, 2, 3] == [chunk.number for chunk in chunks]
    assert [(0, 80, 1, 2), (80, 120, 3, 3), (120, 220, 4, 5)] == _spans(chunks)


def test_scene_exactly_at_budget_fits() -> None:
    """A scene exactly max_chars long is one chunk, not cut."""
    assert [(0, 50, 1, 1)] == _spans(split_into_chunks("y" * 50, _scenes([50]), max_chars=50))


def test_long_scene_is_cut_at_paragraph_breaks() -> None:
    """A scene longer than the budget is cut after the last blank line that fits."""
    text = "INT. A - DAY\n\n" + "first paragraph.\n\n" + "second paragraph.\n\n" + "third.\n"
    scenes = _scenes([len(text)])

    chunks = split_into_chunks(text, scenes, max_chars=40)

    pieces = [text[c.start : c.end] for c in chunks]
    assert ["INT. A - DAY\n\nfirst paragraph.\n\n", "second paragraph.\n\nthird.\n"] == pieces
    assert [(1, 1), (1, 1)] == [(c.first_scene, c.last_scene) for c in chunks]


def test_long_paragraph_is_cut_at_line_breaks() -> None:
    """Without a blank line in reach, a long scene is cut after a line break."""
    text = "line one is here\nline two is here\nline three\n"

    chunks = split_into_chunks(text, _scenes([len(text)]), max_chars=36)

    assert ["line one is here\nline two is here\n", "line three\n"] == [text[c.start : c.end] for c in chunks]


def test_unbroken_text_is_cut_hard() -> None:
    """Text without any line break is cut hard at max_chars."""
    chunks = split_into_chunks("z" * 25, _scenes([25]), max_chars=10)

    assert [(0, 10), (10, 20), (20, 25)] == [(c.start, c.end) for c in chunks]


def test_tail_of_long_scene_joins_next_scenes() -> None:
    """The rest of a cut scene opens a chunk that following whole scenes may join."""
    text = "a" * 10 + "\n\n" + "b" * 10 + "\n" + "c" * 5
    scenes = _scenes([23, 5])

    chunks = split_into_chunks(text, scenes, max_chars=16)

    assert [(0, 12, 1, 1), (12, 28, 1, 2)] == _spans(chunks)


def test_budget_must_be_positive() -> None:
    """A budget below one character is refused."""
    with pytest.raises(ValueError, match="max_chars"):
        split_into_chunks("x", _scenes([1]), max_chars=0)


def test_doctest_example_holds() -> None:
    """The docstring example of split_into_chunks runs as written."""
    assert 0 == doctest.testmod(stages.chunk).failed


@pytest.mark.parametrize("name", ["the-heist.fountain", "逆袭总裁.txt"])
def test_examples_chunk_along_scenes(name: str) -> None:
    """Chunks of a sample script start at scene starts and cover every scene once."""
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    _, scenes = parse_structure(text)

    chunks = split_into_chunks(text, scenes, max_chars=600)

    starts = {scene.start for scene in scenes}
    assert all(chunk.start in starts for chunk in chunks)
    assert all(chunk.end - chunk.start <= 600 for chunk in chunks if chunk.first_scene != chunk.last_scene)
    assert scenes[0].start == chunks[0].start
    assert scenes[-1].end == chunks[-1].end


@settings(database=None, max_examples=200)
@given(
    st.lists(st.text(alphabet="ab \n", max_size=60), min_size=1, max_size=12),
    st.integers(min_value=1, max_value=80),
)
def test_chunks_cover_scenes_exactly_once(bodies: list[str], max_chars: int) -> None:
    """Chunks are numbered from 1, contiguous, within budget and cover all scene text once."""
    text = "".join(bodies)
    scenes = _scenes([len(body) for body in bodies])

    chunks = split_into_chunks(text, scenes, max_chars=max_chars)

    assert list(range(1, len(chunks) + 1)) == [chunk.number for chunk in chunks]
    assert (0, len(text)) == (chunks[0].start, chunks[-1].end)
    assert all(a.end == b.start for a, b in pairwise(chunks))
    assert all(0 < c.end - c.start <= max_chars or c.start == c.end for c in chunks)
    assert all(a.last_scene <= b.first_scene for a, b in pairwise(chunks))
