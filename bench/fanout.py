"""Scenario 2, fan-out: scripts of 30 chunks each against a bare 30-way fan-out/fan-in.

    python -m bench --only fanout [--quick]

The script has 30 scenes of about 250-310 characters; ``extract.max_chunk_chars`` is set just above
the longest scene so that every chunk holds exactly one scene (checked in-process with
``stages.chunk.find_structure`` before the run). Each Juben job is 6 stage messages plus 30
``extract_chunk`` messages on the "ai" queue. The floor is ``bench.bare_chain`` with ``fanout=30``:
hop 3 sends 30 messages whose ``UPDATE … RETURNING`` counter lets the last one send hop 4.

Reports jobs/s and chunk messages/s of both, their ratio (reported, not targeted), Juben's CPU per
job and CPU per hop. Quick: 10 jobs, one round; full: 50 jobs, two rounds.
"""

from __future__ import annotations

from typing import Any

from bench import bare_chain
from bench.orchestration import compare
from bench.support import row, run_juben_jobs

NAME = "fanout"
FANOUT = 30
CAST = ["MARY", "JOHN", "DR. PIKE", "ELENA", "TOMMY", "RITA"]
PROPS = ["a revolver", "a torn map", "a SHOVEL", "a brass key", "a thermos", "a radio"]
PLACES = ["KITCHEN", "GARDEN", "GARAGE", "OFFICE", "ROOFTOP", "CELLAR", "HALLWAY", "DINER"]


def fanout_script(scenes: int = FANOUT) -> str:
    """A script of ``scenes`` scenes of about 250-310 characters each, two speakers per scene."""
    parts = []
    for n in range(1, scenes + 1):
        a, b = CAST[n % len(CAST)], CAST[(n + 2) % len(CAST)]
        place = PLACES[n % len(PLACES)]
        parts.append(
            f"{'INT' if n % 3 else 'EXT'}. {place} {n} - {'DAY' if n % 2 else 'NIGHT'}\n\n"
            f"{a.title()} crosses the {place.lower()} holding {PROPS[n % len(PROPS)]}. "
            f"{b.title()} watches from the doorway and does not move.\n\n"
            f"{a}\nWe said scene {n} would be the last time.\n\n"
            f"{b}\nIt was. This is the first time of something else.\n\n"
            f"{a} puts the thing down on the table and waits{'.' * (1 + n % 40)}\n\n"
        )
    return "".join(parts)


def chunk_chars(script: str) -> tuple[int, int]:
    """The ``max_chunk_chars`` that puts one scene in each chunk, and the chunk count it gives."""
    from pipeline.broker import setup_broker
    from pipeline.settings import load_settings

    setup_broker(load_settings(metrics={"enabled": False}, reconcile={"enabled": False}), stub=True)
    from stages.chunk import find_structure
    from stages.drafts import SourceSpan

    sources = [SourceSpan("fanout.fountain", 0, len(script))]
    structure = find_structure(script, sources, max_chars=len(script))
    longest = max(s.end - s.start for s in structure.scenes)
    max_chars = max(200, longest)
    chunks = len(find_structure(script, sources, max_chars=max_chars).chunks)
    return max_chars, chunks


def run(quick: bool) -> list[dict[str, Any]]:
    jobs, rounds = (10, 1) if quick else (50, 2)
    script = fanout_script()
    max_chars, chunks = chunk_chars(script)
    if chunks != FANOUT:
        raise RuntimeError(f"the fan-out script cuts into {chunks} chunks at {max_chars} chars, not {FANOUT}")
    settings = {"extract": {"max_chunk_chars": max_chars}}
    rows = compare(
        NAME,
        rounds,
        lambda: bare_chain.measure(jobs, fanout=FANOUT),
        lambda: run_juben_jobs(script, jobs, settings=settings),
        chunk_rates=True,
    )
    rows.append(row(NAME, "chunks per job", chunks, "chunks", note=f"max_chunk_chars={max_chars}"))
    return rows
