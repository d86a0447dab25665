"""Breakdown quality: run each script that has a hand-made truth file through the pipeline and score it.

    python -m bench.quality [--only NAME] [--json] [--details] [--examples DIR]
                            [--corpus DIR] [--truth DIR] [--out FILE]

Two sets of scripts, scored side by side:

- **examples**: every script (file or folder) ``X`` in ``examples/`` with a hand-made
  ``X.truth.json`` beside it — our own samples;
- **corpus**: every ``bench/truth/*.truth.json``, hand-made for a real script of the team's
  development corpus (``../shared/corpus`` by default, not in this repository; see
  ``bench/truth/README.md`` for the annotation guide). Its ``script`` field is the path inside
  the corpus; ``zh/…`` scripts form the "corpus zh" group, ``en/…`` and ``fdx/…`` "corpus en".
  Without the corpus folder these are skipped with a message, and the examples still run.

Each script runs through the embedded pipeline in-process on a temporary private PostgreSQL (one
project per script, so dedup never mixes scripts); its JSON report is scored with
``bench.metrics``: scenes, characters (after alias merge), character-in-scene membership and
props, as precision / recall / F1. A truth file without a ``props`` key has not had its props
annotated: props are not scored for that script (``-`` in the table, ``null`` in the JSON) and it
is left out of the props totals and means.

The table has one row per script, then per group (examples, corpus zh, corpus en) and overall
two summary rows: **micro** (the counts of every script added up, so long scripts weigh more)
and **macro** (the mean of per-script ratios, every script weighing the same — what the issue's
targets use). ``--json`` prints the same as JSON; either way ``bench/results/quality.json`` is
written, which also lists, per script and group, the predicted items that matched nothing and
the truth items nobody found (``--details`` prints them under the table). ``--only TEXT`` keeps
the scripts whose name (file name, or corpus path such as ``zh/kongchao.txt``) contains TEXT.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.breakdowns import break_down
from bench.corpus import CORPUS
from bench.metrics import (
    GROUPS,
    Macro,
    Score,
    check_truth,
    explain_report,
    macro_average,
    micro_total,
    score_report,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TRUTH = ROOT / "bench" / "truth"
RESULTS = ROOT / "bench" / "results" / "quality.json"
#: Suffix of a truth file: ``the-heist.fountain`` → ``the-heist.fountain.truth.json``.
TRUTH_SUFFIX = ".truth.json"
#: Column labels of the metric groups in the table.
LABELS = {"scenes": "scn", "characters": "chr", "membership": "mem", "props": "prp"}
#: Script sets, in table order.
SETS = ("examples", "corpus zh", "corpus en")


@dataclass(frozen=True)
class Case:
    """One script to score: where it is, its truth file, its display name and its set."""

    script: Path
    truth: Path
    name: str
    group: str


def find_cases(examples: Path, only: str | None = None) -> list[Case]:
    """The examples with a truth file beside them, by name; ``only`` keeps names containing it."""
    cases = []
    for path in sorted(examples.iterdir()):
        if path.name.endswith(TRUTH_SUFFIX) or path.name.startswith("."):
            continue
        truth = path.with_name(path.name + TRUTH_SUFFIX)
        if truth.is_file() and _keep(path.name, only):
            cases.append(Case(path, truth, path.name, "examples"))
    return cases


def corpus_group(script: str) -> str:
    """The set a corpus script belongs to, by its first folder: ``zh/`` Chinese, else English.

    >>> corpus_group("zh/kongchao.txt"), corpus_group("fdx/x.fdx")
    ('corpus zh', 'corpus en')
    """
    return "corpus zh" if script.split("/", 1)[0] == "zh" else "corpus en"


def find_corpus_cases(truth_dir: Path, corpus: Path, only: str | None = None) -> tuple[list[Case], list[str]]:
    """The corpus truth files in ``truth_dir`` whose script is in ``corpus``, by script path.

    Returns:
        The cases, and one message per truth file skipped (corpus folder or script missing).
    """
    wanted = []
    for truth in sorted(truth_dir.glob(f"*{TRUTH_SUFFIX}")) if truth_dir.is_dir() else ():
        script = json.loads(truth.read_text(encoding="utf-8")).get("script")
        if not script:
            wanted.append((truth, ""))
        elif _keep(script, only):
            wanted.append((truth, str(script)))
    if not wanted:
        return [], []
    if not corpus.is_dir():
        return [], [
            f"corpus not found at {corpus}: {len(wanted)} corpus truth file(s) skipped (see --corpus)"
        ]
    cases, skipped = [], []
    for truth, script in sorted(wanted, key=lambda w: (corpus_group(w[1]) != "corpus zh", w[1])):
        if not script:
            skipped.append(f"{truth.name}: no 'script' field, skipped")
        elif not (corpus / script).exists():
            skipped.append(f"{script}: not in {corpus}, skipped")
        else:
            cases.append(Case(corpus / script, truth, script, corpus_group(script)))
    return cases, skipped


def _keep(name: str, only: str | None) -> bool:
    return only is None or only.casefold() in name.casefold()


def run_cases(cases: Sequence[Case], workdir: Path) -> list[dict[str, Any]]:
    """Break each script down in one embedded runtime and score its report.

    Returns:
        One result dict per case: script (display name), group, status, error, seconds, counts,
        truth problems, scores per group (``None`` for props not annotated) and misses.
    """
    results = []
    by_path = {case.script: case for case in cases}
    for done in break_down([case.script for case in cases], workdir, prefix="quality"):
        case = by_path[done.path]
        truth = json.loads(case.truth.read_text(encoding="utf-8"))
        report = done.report
        results.append(
            {
                "script": case.name,
                "group": case.group,
                "status": done.status,
                "error": done.error if done.status != "COMPLETED" else None,
                "seconds": done.seconds,
                "truth_problems": check_truth(truth),
                "counts": {
                    "scenes": (len(report.get("scenes") or ()), len(truth["scenes"])),
                    "characters": (len(report.get("characters") or ()), len(truth["characters"])),
                    "props": (
                        len(report.get("props") or ()),
                        len(truth["props"]) if "props" in truth else None,
                    ),
                },
                "scores": score_report(report, truth),
                "misses": explain_report(report, truth),
            }
        )
    return results


def total_scores(results: Sequence[dict[str, Any]]) -> dict[str, Score | None]:
    """Micro-average: the counts of every script added up per group (None: no script scored it)."""
    return {group: micro_total(r["scores"][group] for r in results) for group in GROUPS}


def macro_scores(results: Sequence[dict[str, Any]]) -> dict[str, Macro | None]:
    """Macro-average: per group, the mean of the scripts' precision, recall and F1."""
    return {group: macro_average(r["scores"][group] for r in results) for group in GROUPS}


def summaries(results: Sequence[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(label, results) per script set present, in :data:`SETS` order, then all of them."""
    subsets = [(name, [r for r in results if r["group"] == name]) for name in SETS]
    return [(name, rs) for name, rs in subsets if rs] + [("TOTAL", list(results))]


def _plain(scores: dict[str, Any]) -> dict[str, Any]:
    return {g: s.as_dict() if s is not None else None for g, s in scores.items()}


def to_json(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The results as plain JSON data (scores as ratio + count dicts, ``null`` when not scored).

    ``total`` keeps the micro-average under ``scores`` and adds ``macro``; ``sets`` has the same
    per script set (examples, corpus zh, corpus en) that has scripts.
    """

    def summary(rs: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return {
            "scripts": len(rs),
            "seconds": round(sum(r["seconds"] for r in rs), 3),
            "scores": _plain(total_scores(rs)),
            "macro": _plain(macro_scores(rs)),
        }

    return {
        "scripts": [{**r, "scores": _plain(r["scores"])} for r in results],
        "sets": {name: summary(rs) for name, rs in summaries(results)[:-1]},
        "total": summary(results),
    }


def render_table(results: Sequence[dict[str, Any]]) -> str:
    """A plain-text table: the scripts of each set, its micro and macro rows, then the totals."""
    head = ["script", *(f"{LABELS[g]} {m}" for g in GROUPS for m in ("P", "R", "F1")), "wall s"]
    rows: list[list[str] | None] = []  # None: a rule
    for name, subset in summaries(results):
        if name != "TOTAL":
            rows.extend(_row(r["script"], r["scores"], r["seconds"]) for r in subset)
        rows.append(None)
        seconds = sum(r["seconds"] for r in subset)
        rows.append(_row(f"{name} (micro, {len(subset)})", total_scores(subset), seconds))
        rows.append(_row(f"{name} (macro, {len(subset)})", macro_scores(subset), seconds))
        rows.append(None)
    drawn = [row for row in [head, *rows] if row is not None]
    widths = [max(_width(row[i]) for row in drawn) for i in range(len(head))]
    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    lines = []
    previous: list[str] | None = []
    for row in [head, None, *rows[:-1]]:
        if row is None and previous is None:
            continue
        previous = row
        if row is None:
            lines.append(rule)
            continue
        cells = [_pad(row[0], widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))]
        lines.append("  ".join(cells))
    notes = [
        f"  {r['script']}: {r['status']} {r['error'] or ''}" for r in results if r["status"] != "COMPLETED"
    ]
    notes += [f"  {r['script']} truth: {p}" for r in results for p in r["truth_problems"]]
    if any(r["scores"]["props"] is None for r in results):
        notes.append("  prp '-': props not annotated in that truth file, not scored")
    return "\n".join(lines + (["", "notes:", *notes] if notes else []))


def _row(name: str, scores: dict[str, Any], seconds: float) -> list[str]:
    cells = []
    for group in GROUPS:
        score = scores[group]
        metrics = ("precision", "recall", "f1")
        cells += ["-"] * 3 if score is None else [f"{getattr(score, m):.2f}" for m in metrics]
    return [name, *cells, f"{seconds:.1f}"]


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
        prog="python -m bench.quality",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--only", help="score only scripts whose name (or corpus path) contains this")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--details", action="store_true", help="list extra and missed items per script")
    parser.add_argument("--examples", type=Path, default=EXAMPLES, help="folder of scripts and truth files")
    parser.add_argument(
        "--corpus", type=Path, default=CORPUS, help="the development corpus (../shared/corpus)"
    )
    parser.add_argument(
        "--truth", type=Path, default=TRUTH, help="folder of corpus truth files (bench/truth)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args(argv)

    corpus_cases, skipped = find_corpus_cases(args.truth, args.corpus, args.only)
    for message in skipped:
        print(message, file=sys.stderr)
    cases = find_cases(args.examples, args.only) + corpus_cases
    if not cases:
        print(f"no script with a {TRUTH_SUFFIX} file in {args.examples} or {args.truth}", file=sys.stderr)
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
