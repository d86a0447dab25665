"""Scenario 1, orchestration overhead: small scripts end to end against the bare dramatiq floor.

    python -m bench --only orchestration [--quick]

In one run, alternating: N jobs of a two-scene script through Juben (``python worker.py``, rules
provider, 2 processes × 8 threads), and N jobs through ``bench.bare_chain`` (six dramatiq actors,
one PostgreSQL UPDATE per hop, same processes and threads). Each side gets a fresh database and
Redis namespace; its jobs are stored first and their first messages released at once to booted,
idle workers, so jobs/s is worker throughput (Juben's submit rate is reported apart).

Reports jobs/s of both and their ratio, Juben's CPU per job, worker CPU per stage hop (utime +
stime of every worker process / messages handled) and PostgreSQL backend CPU per hop. The whole
pipeline's ratio is reported, not targeted: the "≥ 0.6× the bare chain" target was retired (a small
job's whole stage work would have had to fit in less CPU than its claim). What is targeted is the
**protocol**: the bare chain running Juben's own claim and finish statements per hop in plain SQL
(``bench.bare_chain.protocol_stage``, no stage work) must keep ≥ 0.6× the bare chain (0.63× on
2026-12-02). Two more diagnostic sides run the finish statement alone (a protocol of one statement
per hop) and a plain read before that finish (a claim that writes nothing). Quick: 50 jobs, one
round; full: 300 jobs, two rounds (medians).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from bench import bare_chain
from bench.support import SMALL_SCRIPT, RunResult, median, row, run_juben_jobs

NAME = "orchestration"
#: The protocol (claim + finish per hop, no stage work) against the bare chain.
PROTOCOL_TARGET = 0.6
#: The side whose ratio to the bare chain is the protocol's.
PROTOCOL = "claim+finish"


def compare(
    scenario: str,
    rounds: int,
    bare: Callable[[], RunResult],
    juben: Callable[[], RunResult],
    *,
    chunk_rates: bool = False,
    protocols: dict[str, Callable[[], RunResult]] | None = None,
) -> list[dict[str, Any]]:
    """Alternate ``bare()`` and ``juben()`` for ``rounds`` rounds and report medians and the ratio.

    ``protocols``, when given, run once per round too: the bare chain with (some of) Juben's
    claim/finish statements per hop, each reported as a diagnostic (how much of the gap the
    protocol explains), by name.
    """
    runs: dict[str, list[RunResult]] = {"bare": [], "juben": []}
    diagnostics: dict[str, list[RunResult]] = {name: [] for name in protocols or {}}
    for _ in range(rounds):
        runs["bare"].append(bare())
        runs["juben"].append(juben())
        for name, protocol in (protocols or {}).items():
            diagnostics[name].append(protocol())
    ratios = [j.jobs_per_s / b.jobs_per_s for b, j in zip(runs["bare"], runs["juben"], strict=True)]
    ratio = median(ratios)
    jobs = runs["juben"][0].jobs
    rows = [
        row(scenario, "bare chain", round(median([r.jobs_per_s for r in runs["bare"]]), 1), "jobs/s",
            rounds=[r.as_dict() for r in runs["bare"]]),
        row(scenario, "juben", round(median([r.jobs_per_s for r in runs["juben"]]), 1), "jobs/s",
            rounds=[r.as_dict() for r in runs["juben"]]),
        row(scenario, "juben / bare", round(ratio, 3), "x", per_round=[round(x, 3) for x in ratios],
            note="the whole pipeline: reported, not targeted (the 0.6x target is retired)"),
    ]  # fmt: skip
    per_job = {side: median([1000 * r.total_cpu_s / r.jobs for r in runs[side]]) for side in runs}
    rows.append(
        row(scenario, "juben CPU per job", round(per_job["juben"], 2), "ms",
            note="workers + PostgreSQL backends + Redis, per job (the bare chain's: "
            f"{per_job['bare']:.2f} ms)")
    )  # fmt: skip
    rows.append(
        row(scenario, "juben / bare by CPU per job (noise-robust)", round(per_job["bare"] / per_job["juben"], 3), "x",
            note="workers + PostgreSQL backends + Redis CPU per job, bare over juben: the throughput ratio "
            "a CPU-bound host allows, unaffected by other load", cpu_ms_per_job={k: round(v, 2) for k, v in per_job.items()})
    )  # fmt: skip
    for name, diagnostic in diagnostics.items():
        rate = median([r.jobs_per_s for r in diagnostic])
        of_bare = [d.jobs_per_s / b.jobs_per_s for b, d in zip(runs["bare"], diagnostic, strict=True)]
        if name == PROTOCOL:
            rows.append(
                row(scenario, "protocol / bare (claim+finish, no stage work)", round(median(of_bare), 3), "x",
                    target=f">= {PROTOCOL_TARGET}", ok=median(of_bare) >= PROTOCOL_TARGET,
                    per_round=[round(x, 3) for x in of_bare],
                    note="the bare chain running Juben's claim and finish statements per hop; 0.63x on 2026-12-02")
            )  # fmt: skip
        rows.append(
            row(scenario, f"bare chain with Juben's {name} SQL (diagnostic)", round(rate, 1), "jobs/s",
                note=f"{bare_chain.MODES[name]} in plain SQL, no ORM, no stage I/O; x bare {median(of_bare):.3f}",
                rounds=[r.as_dict() for r in diagnostic], per_round=[round(x, 3) for x in of_bare],
                cpu_ms_per_hop=round(median([r.cpu_ms_per_hop for r in diagnostic]), 3),
                pg_cpu_ms_per_hop=round(median([r.pg_cpu_ms_per_hop for r in diagnostic]), 3))
        )  # fmt: skip
    if "claim+finish" in diagnostics:
        # Against the protocol the design requires (claim and finish per hop, no stage work): the
        # ratio a target restated against that floor would check.
        of_protocol = [
            j.jobs_per_s / p.jobs_per_s
            for j, p in zip(runs["juben"], diagnostics["claim+finish"], strict=True)
        ]
        rows.append(
            row(scenario, "juben / bare chain with Juben's claim+finish SQL (diagnostic)", round(median(of_protocol), 3),
                "x", note="Juben against the floor of its own protocol (the claim+finish diagnostic), same rounds",
                per_round=[round(x, 3) for x in of_protocol])
        )  # fmt: skip
    if chunk_rates:
        for side in ("bare", "juben"):
            rate = median([r.chunks / r.elapsed_s for r in runs[side]])
            rows.append(row(scenario, f"{side} chunk messages", round(rate, 1), "msg/s"))
    for side in ("bare", "juben"):
        rows.append(
            row(
                scenario,
                f"{side} worker CPU per hop",
                round(median([r.cpu_ms_per_hop for r in runs[side]]), 3),
                "ms",
            )
        )
    for side in ("bare", "juben"):
        rows.append(
            row(scenario, f"{side} PostgreSQL CPU per hop",
                round(median([r.pg_cpu_ms_per_hop for r in runs[side]]), 3), "ms")
        )  # fmt: skip
    for side in ("bare", "juben"):
        rows.append(
            row(scenario, f"{side} Redis CPU per hop",
                round(median([1000 * r.redis_cpu_s / r.hops for r in runs[side]]), 3), "ms")
        )  # fmt: skip
    rows.append(row(scenario, "juben submit (serial, API)", runs["juben"][0].extra["submit_per_s"], "jobs/s"))
    failed = sum(r.failed for side in runs.values() for r in side)
    rows.append(row(scenario, "jobs not COMPLETED", failed, "jobs", target="= 0", ok=failed == 0))
    steal = max(r.steal for side in runs.values() for r in side)
    other = max(r.other for side in runs.values() for r in side)
    rows.append(
        row(scenario, "host CPU stolen (worst run)", round(100 * steal, 1), "%",
            note=f"{jobs} jobs per side per round, {rounds} round(s)")
    )  # fmt: skip
    rows.append(
        row(scenario, "host CPU busy with other work (worst run)", round(100 * other, 1), "%",
            note="CPU the host spent outside these workers, their PostgreSQL backends and Redis "
            "(kernel, this process, other people's processes): high values make both figures noisy")
    )  # fmt: skip
    return rows


def run(quick: bool) -> list[dict[str, Any]]:
    jobs, rounds = (50, 1) if quick else (300, 2)
    return compare(
        NAME,
        rounds,
        lambda: bare_chain.measure(jobs),
        lambda: run_juben_jobs(SMALL_SCRIPT, jobs),
        protocols={mode: partial(bare_chain.measure, jobs, protocol=mode) for mode in bare_chain.MODES},
    )
