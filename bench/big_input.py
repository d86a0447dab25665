"""Scenario 4, big input: 100k- and 1M-character scripts, Chinese and English.

    python -m bench --only big_input [--quick]

The scripts are built from the examples: Chinese from ``examples/掌勺.txt`` (its front matter
once, then its 44 episodes again and again, episodes and scene numbers continued: 第45集, 45-1 …),
English from the bodies of ``the-heist``, ``night-shift`` and ``low-tide`` (``.fountain``) scene by
scene in turn, scene numbers (``#n#``) renumbered, under one title page. Whole episodes / scenes
are added until the target size is reached.

Measured per script:

- ingest + chunk in-process: ``stages.ingest.describe_script`` and ``stages.chunk.find_structure``
  (rules provider: no roster), median of 3 (target < 2 s at 1M);
- end to end through real workers (2 processes × 8 threads, rules provider, fresh workers per
  script): submit to COMPLETED (target < 30 s), with each stage's duration from the job's events;
- peak RSS of the worker processes, sampled every 0.2 s (target < 400 MB for the largest process).

Quick: 100k only; full: 100k and 1M.
"""

from __future__ import annotations

import hashlib
import re
import statistics
import time
from pathlib import Path
from typing import Any

from bench.support import ROOT, RssSampler, Sandbox, row, wait_job

NAME = "big_input"
EXAMPLES = ROOT / "examples"
MB = 1024 * 1024
TARGET_CORE_S = 2.0
TARGET_E2E_S = 30.0
TARGET_RSS_MB = 400
EPISODE_RE = re.compile(r"^第(\d+)集", re.M)
ZH_SCENE_RE = re.compile(r"^(\d+)-(\d+)", re.M)
EN_SCENE_RE = re.compile(r"^(?:INT|EXT|INT\./EXT|I/E)[. ]", re.M)
SCENE_NUMBER_RE = re.compile(r"#\d+#")


def chinese_script(chars: int) -> str:
    """掌勺's front matter, then its episodes renumbered copy after copy until ``chars`` is reached."""
    text = (EXAMPLES / "掌勺.txt").read_text(encoding="utf-8")
    starts = [m.start() for m in EPISODE_RE.finditer(text)]
    head, episodes = (
        text[: starts[0]],
        [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)],
    )
    episodes[-1] = episodes[-1].replace("（全剧终）", "")
    parts, size, copy = [head], len(head), 0
    while size < chars:
        offset = copy * len(episodes)
        for episode in episodes:
            renumbered = EPISODE_RE.sub(lambda m, o=offset: f"第{int(m.group(1)) + o}集", episode)
            renumbered = ZH_SCENE_RE.sub(
                lambda m, o=offset: f"{int(m.group(1)) + o}-{m.group(2)}", renumbered
            )
            parts.append(renumbered.rstrip("\n") + "\n\n")
            size += len(parts[-1])
            if size >= chars:
                break
        copy += 1
    return "".join(parts)


def english_script(chars: int) -> str:
    """Scenes of three Fountain examples in turn under one title page until ``chars`` is reached."""
    bodies = []
    for name in ("the-heist.fountain", "night-shift.fountain", "low-tide.fountain"):
        text = (EXAMPLES / name).read_text(encoding="utf-8")
        body = text.split("\n\n", 1)[1] if text.startswith("Title:") else text  # drop the title page
        starts = [m.start() for m in EN_SCENE_RE.finditer(body)]
        bodies.append([body[a:b] for a, b in zip(starts, [*starts[1:], len(body)], strict=True)])
    parts = ["Title: The Long Night\nAuthor: Juben bench\n\nFADE IN:\n\n"]
    size, number, turn = len(parts[0]), 0, 0
    while size < chars:
        for scene in bodies[turn % len(bodies)]:
            number += 1
            parts.append(SCENE_NUMBER_RE.sub(f"#{number}#", scene).rstrip("\n") + "\n\n")
            size += len(parts[-1])
            if size >= chars:
                break
        turn += 1
    return "".join(parts)


def core_seconds(text: str, repeats: int = 3) -> tuple[float, dict[str, Any]]:
    """Median seconds of ingest's and chunk's pure cores on ``text``, and what they found."""
    from stages.chunk import find_structure
    from stages.drafts import SourceSpan
    from stages.ingest import describe_script

    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    times = []
    found: dict[str, Any] = {}
    for _ in range(repeats):
        start = time.perf_counter()
        ingested = describe_script(text, sha256=sha, files=["big.txt"])
        structure = find_structure(
            text,
            [SourceSpan("big.txt", 0, len(text))],
            max_chars=6000,
            roster_size=0,
            language=ingested.language,
        )
        times.append(time.perf_counter() - start)
        found = {
            "language": ingested.language,
            "episodes": len(structure.episodes),
            "scenes": len(structure.scenes),
            "chunks": len(structure.chunks),
        }
    return statistics.median(times), {**found, "core_runs_s": [round(t, 3) for t in times]}


def end_to_end(box: Sandbox, text: str, timeout_s: float) -> dict[str, Any]:
    """One job of ``text`` through fresh workers: wall seconds, stage seconds, peak RSS."""
    from pipeline import jobs as api

    workers = box.workers(processes=2, threads=8, name="big")
    try:
        with RssSampler(workers) as rss:
            start = time.perf_counter()
            job_id = api.submit(text, project="big")
            status = wait_job(box.engine, job_id, timeout_s=timeout_s, workers=[workers])
            wall = time.perf_counter() - start
        view = api.get_status(job_id)
    finally:
        workers.stop()
    return {
        "status": status,
        "wall_s": round(wall, 2),
        "stages_s": {t.stage: round(t.duration_s or 0.0, 2) for t in view.timings},
        "chunks": view.chunks_total,
        "error": view.error,
        "peak_rss_process_mb": round(rss.peak_process / MB, 1),
        "peak_rss_total_mb": round(rss.peak_total / MB, 1),
        "rss_samples": rss.samples,
    }


def run(quick: bool) -> list[dict[str, Any]]:
    sizes = [100_000] if quick else [100_000, 1_000_000]
    rows = []
    with Sandbox() as box:
        box.activate()  # a Redis broker before the stages are imported (the jobs go to real workers)
        for size in sizes:
            for lang, make in (("zh", chinese_script), ("en", english_script)):
                text = make(size)
                label = f"{lang} {size // 1000:,}k" if size < 1_000_000 else f"{lang} {size // 1_000_000}M"
                core, found = core_seconds(text)
                big = size >= 1_000_000
                rows.append(
                    row(NAME, f"{label} ingest+chunk (in-process)", round(core, 3), "s",
                        target=f"< {TARGET_CORE_S:g} s" if big else None, ok=core < TARGET_CORE_S if big else None,
                        chars=len(text), **found)
                )  # fmt: skip
                e2e = end_to_end(box, text, timeout_s=900 if big else 300)
                done = e2e["status"] == "COMPLETED"
                slowest = max(e2e["stages_s"].items(), key=lambda kv: kv[1], default=("-", 0))
                rows.append(
                    row(NAME, f"{label} end to end (rules, workers)", e2e["wall_s"], "s",
                        target=f"< {TARGET_E2E_S:g} s" if big else None,
                        ok=(done and e2e["wall_s"] < TARGET_E2E_S) if big else (None if done else False),
                        note=None if done else f"{e2e['status']}: {e2e['error']}", **e2e,
                        slowest_stage=slowest[0])
                )  # fmt: skip
                peak = e2e["peak_rss_process_mb"]
                rows.append(
                    row(NAME, f"{label} worker peak RSS (largest process)", peak, "MB",
                        target=f"< {TARGET_RSS_MB} MB" if big else None, ok=peak < TARGET_RSS_MB if big else None,
                        total_mb=e2e["peak_rss_total_mb"])
                )  # fmt: skip
    return rows


def write_samples(folder: Path, size: int) -> list[Path]:
    """Write the generated scripts to ``folder`` (for profiling them by hand)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for lang, make in (("zh", chinese_script), ("en", english_script)):
        path = folder / f"big-{lang}-{size}.txt"
        path.write_text(make(size), encoding="utf-8")
        out.append(path)
    return out


if __name__ == "__main__":
    import sys

    for written in write_samples(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/juben-big"), 1_000_000):
        print(written)
