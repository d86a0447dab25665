"""The benchmark suite: ``python -m bench [--quick] [--only NAME ...]``.

Runs the scenarios of issue 6 against real PostgreSQL and Redis and real worker processes, prints
one table (scenario, metric, value, target, pass/miss) and writes the rows, the machine and the
run's settings to ``bench/results/<UTC timestamp>.json``.

Scenarios (``--only`` takes these names; ``--list`` prints them):

    orchestration  small scripts through Juben vs a bare 6-actor dramatiq chain (bench/orchestration.py)
    fanout         30-chunk scripts vs a bare 30-way fan-out/fan-in (bench/fanout.py)
    llm            LLM concurrency against the fake LLM server (bench/llm.py)
    big_input      100k / 1M-character scripts, Chinese and English (bench/big_input.py)
    status         status and `jobs --status FAILED` at 100k jobs / 3M chunks (bench/status_scale.py)
    dedup          dedup of 10k and 100k extraction records (bench/dedup_scale.py)
    rerun          re-run of an unchanged script from extract: LLM calls and wall time (bench/rerun.py)
    api            the HTTP API beside a floor ASGI app under wrk and hey (bench/api_http.py)
    console        the ops console's jobs page at 100k jobs, each filter (bench/console.py)

Each scenario runs in its own Python process (``python -m bench --child NAME``) so settings,
brokers and imported actors never leak between scenarios, and a scenario that crashes or times
out only costs its own rows; whatever databases, Redis namespaces and worker process groups it
left behind are removed from its ledger. Exit status: 0 when every scenario ran (missed targets
included), 1 when one failed to run, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.support import LEDGER_ENV, RESULTS, ROOT, ledger_resources, machine_info, row, sweep_ledger

#: name → module; every module has ``run(quick: bool) -> list[dict]``.
SCENARIOS = {
    "orchestration": "bench.orchestration",
    "fanout": "bench.fanout",
    "llm": "bench.llm",
    "big_input": "bench.big_input",
    "status": "bench.status_scale",
    "dedup": "bench.dedup_scale",
    "rerun": "bench.rerun",
    "api": "bench.api_http",
    "console": "bench.console",
}
#: Other spellings ``--only`` accepts.
ALIASES = {"status_scale": "status", "dedup_scale": "dedup", "big": "big_input", "orch": "orchestration"}
#: Wall-clock limit of one scenario's process.
TIMEOUT_S = {True: 300, False: 3600}


def _child(name: str, quick: bool, out: Path) -> int:
    """Run one scenario in this process and write its rows (or its error) to ``out`` as JSON."""
    started = time.perf_counter()
    module_name = SCENARIOS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        rows = [row(name, "skipped", None, note=f"{module_name} is not there yet")]
        out.write_text(json.dumps({"rows": rows, "seconds": 0.0, "skipped": True}), encoding="utf-8")
        return 0
    rows = module.run(quick)
    result = {"rows": rows, "seconds": round(time.perf_counter() - started, 1)}
    out.write_text(json.dumps(result, ensure_ascii=False, default=str), encoding="utf-8")
    return 0


def run_scenario(name: str, quick: bool) -> dict[str, Any]:
    """Run one scenario in a child process; sweep what it left behind.

    Returns:
        ``{"rows": [...], "seconds": s}`` plus ``"error"`` when it failed to run.
    """
    with tempfile.TemporaryDirectory(prefix="juben-bench-run-") as tmp:
        out, ledger, log = Path(tmp) / "rows.json", Path(tmp) / "ledger.jsonl", Path(tmp) / "child.log"
        env = {**os.environ, LEDGER_ENV: str(ledger), "PYTHONPATH": str(ROOT)}
        argv = [sys.executable, "-m", "bench", "--child", name, "--rows-out", str(out)]
        argv += ["--quick"] if quick else []
        started = time.perf_counter()
        error = None
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                code = proc.wait(timeout=TIMEOUT_S[quick])
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                code, error = -9, f"timed out after {TIMEOUT_S[quick]} s"
            except KeyboardInterrupt:
                os.killpg(proc.pid, signal.SIGINT)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                sweep_ledger(ledger)
                raise
        seconds = round(time.perf_counter() - started, 1)
        made = ledger_resources(ledger)
        swept = sweep_ledger(ledger)
        output = log.read_text(errors="replace")
        if code == 0 and out.is_file():
            result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
            result["seconds"] = seconds
        else:
            error = error or f"exited {code}"
            result = {"rows": [], "seconds": seconds, "error": error, "log": output[-4000:]}
        result["resources"] = made  # all removed by now (by the scenario, else by the sweep)
        if swept:
            result["swept"] = swept
        return result


def _fmt_value(r: dict[str, Any]) -> str:
    value = r.get("value")
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    return f"{text} {r.get('unit') or ''}".rstrip()


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def render_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a plain-text table: scenario, metric, value, target, result."""
    head = ["scenario", "metric", "value", "target", "result"]
    body = []
    for r in rows:
        ok = r.get("ok")
        verdict = "" if ok is None else ("pass" if ok else "MISS")
        body.append([r["scenario"], r["metric"], _fmt_value(r), r.get("target") or "", verdict])
    widths = [max(_width(line[i]) for line in [head, *body]) for i in range(len(head))]
    lines = []
    for n, line in enumerate([head, *body]):
        cells = [
            cell.rjust(w) if i == 2 else cell + " " * (w - _width(cell))
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  {r['scenario']} / {r['metric']}: {r['note']}" for r in rows if r.get("note")]
    return "\n".join(lines + (["", "notes:", *notes] if notes else []))


def _select(only: Sequence[str] | None) -> list[str]:
    if not only:
        return list(SCENARIOS)
    names = []
    for raw in only:
        for part in raw.split(","):
            name = ALIASES.get(part.strip(), part.strip())
            if name not in SCENARIOS:
                raise SystemExit(f"unknown scenario {part!r}; one of {', '.join(SCENARIOS)}")
            names.append(name)
    return names


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: each scenario in under a minute")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these scenarios")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--out", type=Path, help="JSON file to write (default bench/results/<UTC time>.json)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--rows-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(f"{name:14} {module}" for name, module in SCENARIOS.items()))
        return 0
    if args.child:
        return _child(args.child, args.quick, args.rows_out)

    names = _select(args.only)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    out = args.out or RESULTS / f"{stamp}.json"
    machine = machine_info()
    print(
        f"juben bench ({'quick' if args.quick else 'full'}): {', '.join(names)} on {machine.get('cpu')}, "
        f"{machine.get('cores')} cores, PostgreSQL {machine.get('postgresql')}, Redis {machine.get('redis')}",
        flush=True,
    )
    scenarios: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    failed = False
    for name in names:
        print(f"  {name} …", end=" ", flush=True)
        result = run_scenario(name, args.quick)
        scenarios[name] = result
        if "error" in result:
            failed = True
            rows.append(row(name, "error", None, ok=False, note=result["error"]))
            print(
                f"failed ({result['error']}, {result['seconds']} s)\n{result.get('log', '')[-1500:]}",
                flush=True,
            )
        else:
            rows.extend(result["rows"])
            print(f"{result['seconds']} s", flush=True)
    finished = datetime.now(UTC)
    data = {
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": finished.isoformat(timespec="seconds"),
        "quick": args.quick,
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine,
        "scenarios": scenarios,
        "rows": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    print()
    print(render_table(rows))
    print(f"\nwritten to {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
