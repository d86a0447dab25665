"""Progress is a pure function of state: bands from the table, chunk interpolation, ETA from history."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.progress import progress
from pipeline.states import RERUNNABLE, STAGES, TERMINAL, Status, stage_after, stage_of

TIMES = {"ingest": 1.0, "chunk": 2.0, "extract": 3.0, "dedup": 1.0, "storyboard": 1.0, "report": 1.0}


def test_extracting_interpolates_by_chunks():
    """Halfway through the chunks is halfway through the extract band."""
    start, end = next(s for s in STAGES if s.name == "extract").progress

    assert (start + end) / 2 == progress(Status.EXTRACTING, chunks_done=5, chunks_total=10).percent


def test_no_history_no_eta():
    """Without recent stage durations there is no ETA."""
    assert None is progress(Status.CHUNKING).eta_s


def test_eta_sums_remaining_stages():
    """Waiting for dedup: the ETA is dedup + storyboard + report."""
    assert 3.0 == progress(Status.EXTRACTED, chunks_total=4, chunks_done=4, times=TIMES).eta_s


def test_eta_counts_remaining_chunks():
    """While extracting, the ETA scales with the chunks still to do."""
    eta = progress(Status.EXTRACTING, chunks_done=1, chunks_total=5, times=TIMES).eta_s

    assert 4 * 3.0 + 3.0 == eta


def test_failed_keeps_the_percent_it_reached():
    """A job failing mid-extract shows the percent it had, not less."""
    before = progress(Status.EXTRACTING, chunks_done=3, chunks_total=4).percent
    after = progress(Status.FAILED, chunks_done=3, chunks_total=4, failed_stage="extract").percent

    assert before == after


def _stage_name(status: Status) -> str | None:
    spec = stage_of(status) or stage_after(status)
    return spec.name if spec else None


@st.composite
def runs(draw: st.DrawFn) -> list[tuple[Status, int, int, str | None]]:
    """Random legal walks within one run (no re-run edges), with chunk counters as the system moves them."""
    total = draw(st.integers(min_value=0, max_value=8))
    status, done, failed_stage = Status.PENDING, 0, None
    walk = [(status, done, total, failed_stage)]
    while status not in TERMINAL:
        options = sorted(to for (f, to) in STAGES.transitions if f == status and f not in RERUNNABLE)
        to = draw(st.sampled_from(options))
        if to in (Status.FAILED, Status.CANCELLED):
            failed_stage = _stage_name(status)
        if status == Status.EXTRACTING and to == Status.EXTRACTING and done < total:
            done = draw(st.integers(min_value=done, max_value=total))
        if to == Status.EXTRACTED:
            done = total
        status = to
        walk.append((status, done, total, failed_stage))
        if len(walk) > 60:
            break
    return walk


@given(runs())
def test_progress_never_goes_backwards_and_ends_at_100_only_when_completed(walk):
    """Along any legal path within a run, percent never falls; 100 only at COMPLETED; always in [0, 100]."""
    seen = [
        progress(status, chunks_done=done, chunks_total=total, failed_stage=fs, times=TIMES).percent
        for status, done, total, fs in walk
    ]

    assert seen == sorted(seen)
    assert all(0 <= p <= 100 for p in seen)
    for (status, *_), percent in zip(walk, seen, strict=True):
        assert (percent == 100) == (status == Status.COMPLETED)


@pytest.mark.parametrize("stopped", [Status.CANCELLED, Status.FAILED])
def test_a_job_stopped_mid_extract_keeps_the_percent_it_showed(stopped):
    """Found by the property test: 2 of 3 chunks showed 56.7 % running and 56.666… % once stopped."""
    running = progress(Status.EXTRACTING, chunks_done=2, chunks_total=3).percent
    after = progress(stopped, chunks_done=2, chunks_total=3, failed_stage="extract").percent

    assert running == after == 56.7
