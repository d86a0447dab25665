"""Breakdown quality: run each example that has a truth file through the pipeline and score it.

    python -m bench.quality [--only NAME] [--json] [--details] [--examples DIR] [--out FILE]

For every script (file or folder) ``X`` in ``examples/`` with a hand-made ``X.truth.json`` beside
it, runs the embedded pipeline in-process on a temporary SQLite database (one project per
script, so dedup never mixes scripts), reads the JSON report and scores it with
``bench.metrics``: scenes, characters (after alias merge), character-in-scene membership and
props, as precision / recall / F1, plus a micro-averaged total row. Prints a table (or JSON with
``--json``) and writes ``bench/results/quality.json``, which also lists, per script and group,
the predicted items that matched nothing and the truth items nobody found (``--details`` prints
them under the table).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.breakdowns import break_down
from bench.metrics import GROUPS, Score, check_truth, explain_report, score_report

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
RESULTS = ROOT / "bench" / "results" / "quality.json"
#: Suffix of a truth file: ``the-heist.fountain`` → ``the-heist.fountain.truth.json``.
TRUTH_SUFFIX = ".truth.json"
#: Column labels of the metric groups in the table.
LABELS = {"scenes": "scn", "characters": "chr", "membership": "mem", "props": "prp"}


def find_cases(examples: Path, only: str | None = None) -> list[tuple[Path, Path]]:
    """(script, truth file) pairs in ``examples``, by name; ``only`` keeps names containing it."""
    cases = []
    for path in sorted(examples.iterdir()):
        if path.name.endswith(TRUTH_SUFFIX) or path.name.startswith("."):
            continue
        truth = path.with_name(path.name + TRUTH_SUFFIX)
        if truth.is_file() and (only is None or only.casefold() in path.name.casefold()):
            cases.append((path, truth))
    return cases


def run_cases(cases: Sequence[tuple[Path, Path]], workdir: Path) -> list[dict[str, Any]]:
    """Break each script down in one embedded runtime and score its report.

    Returns:
        One result dict per case: name, status, error, seconds, counts and scores per group.
    """
    results = []
    truths = {script: truth for script, truth in cases}
    for done in break_down([script for script, _ in cases], workdir, prefix="quality"):
        truth = json.loads(truths[done.path].read_text(encoding="utf-8"))
        report = done.report
        results.append(
            {
                "script": done.path.name,
                "status": done.status,
                "error": done.error if done.status != "COMPLETED" else None,
                "seconds": done.seconds,
                "truth_problems": check_truth(truth),
                "counts": {
                    "scenes": (len(report.get("scenes") or ()), len(truth["scenes"])),
                    "characters": (len(report.get("characters") or ()), len(truth["characters"])),
                    "props": (len(report.get("props") or ()), len(truth.get("props") or ())),
                },
                "scores": score_report(report, truth),
                "misses": explain_report(report, truth),
            }
        )
    return results


def total_scores(results: Sequence[dict[str, Any]]) -> dict[str, Score]:
    """Micro-average: the counts of every script added up per group."""
    return {group: sum((r["scores"][group] for r in results), Score()) for group in GROUPS}


def to_json(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The results as plain JSON data (scores as ratio + count dicts)."""
    return {
        "scripts": [{**r, "scores": {g: s.as_dict() for g, s in r["scores"].items()}} for r in results],
        "total": {
            "seconds": round(sum(r["seconds"] for r in results), 3),
            "scores": {g: s.as_dict() for g, s in total_scores(results).items()},
        },
    }


def render_table(results: Sequence[dict[str, Any]]) -> str:
    """A plain-text table: one row per script plus the micro-averaged total."""
    head = ["script", *(f"{LABELS[g]} {m}" for g in GROUPS for m in ("P", "R", "F1")), "wall s"]
    rows = []
    for name, scores, seconds in [
        *((r["script"], r["scores"], r["seconds"]) for r in results),
        ("TOTAL (micro)", total_scores(results), sum(r["seconds"] for r in results)),
    ]:
        cells = [f"{getattr(scores[g], m):.2f}" for g in GROUPS for m in ("precision", "recall", "f1")]
        rows.append([name, *cells, f"{seconds:.1f}"])
    widths = [max(_width(row[i]) for row in [head, *rows]) for i in range(len(head))]
    lines = []
    for n, row in enumerate([head, *rows]):
        if n == len(rows):  # a rule above the total
            lines.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
        cells = [_pad(row[0], widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))]
        lines.append("  ".join(cells))
    lines.insert(1, "-" * (sum(widths) + 2 * (len(widths) - 1)))
    notes = [
        f"  {r['script']}: {r['status']} {r['error'] or ''}" for r in results if r["status"] != "COMPLETED"
    ]
    notes += [f"  {r['script']} truth: {p}" for r in results for p in r["truth_problems"]]
    return "\n".join(lines + (["", "notes:", *notes] if notes else []))


def render_details(results: Sequence[dict[str, Any]]) -> str:
    """Per script and group, the extra (predicted, unmatched) and missed (truth, unfound) items."""
    lines = []
    for result in results:
        lines.append(f"\n== {result['script']}")
        for group, sides in result["misses"].items():
            for side, items in sides.items():
                if items:
                    lines.append(f"  {group} {side} ({len(items)}): {', '.join(items)}")
    return "\n".join(lines)


def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", help="score only scripts whose name contains this")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--details", action="store_true", help="list extra and missed items per script")
    parser.add_argument("--examples", type=Path, default=EXAMPLES, help="folder of scripts and truth files")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args(argv)

    cases = find_cases(args.examples, args.only)
    if not cases:
        print(f"no script with a {TRUTH_SUFFIX} file in {args.examples}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="juben-quality-") as tmp:
        results = run_cases(cases, Path(tmp))
    data = to_json(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(data, ensure_ascii=False, indent=2) if args.json else render_table(results))
    if args.details and not args.json:
        print(render_details(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
