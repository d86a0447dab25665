"""Peer suites: how often our Fountain element kinds agree with other parsers' expected outputs.

    python -m bench.peers [--peers DIR] [--details] [--json] [--out FILE]

Each case's input (``bench.peer_suites`` reads the screenplain, Jouvence and fountain-tools
suites under ``../shared/corpus/peer-tests``) is read by the pipeline's own
``stages.screenplay.elements.fountain_elements``. Both sides become units, one per non-empty
line of an element, because the parsers cut elements differently (Jouvence joins an action's
paragraphs into one element, screenplain writes one ``<p>`` per line of a speech). The two unit
lists are aligned by their normalised text (``difflib``); an aligned pair agrees when its kinds
and dual flags are equal. Expected units with no partner and our units with no partner are
disagreements too, so agreement = agreeing / (pairs + unpaired on either side).

What is normalised, because the peers render these by design and not by reading:

- text: emphasis marks (``*``, ``_``) and case (screenplain upper-cases forced transitions and
  headings; its HTML turns emphasis into tags), surrounding parentheses (fountain-tools drops a
  parenthetical's), white space runs;
- our title page, notes and boneyard are left out (no suite lists them among its elements:
  screenplain and fountain-tools drop them, Jouvence returns the title page apart);
- an expected action that is empty (Jouvence and fountain-tools keep blank lines as actions) has
  no line, hence no unit.

Per suite the table shows cases, expected units, agreeing units, our unpaired units, agreement,
and the confusions (expected kind → ours, counts only). ``--details`` lists each case's
disagreements with a few words of text, on the console only. ``bench/results/peers.json`` is
written every time.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from bench.breakdowns import align_columns
from bench.corpus import CORPUS
from bench.peer_suites import Case, Unit, fountain_tools_cases, jouvence_cases, screenplain_cases, units
from stages.screenplay.elements import fountain_elements

ROOT = Path(__file__).resolve().parent.parent
PEERS = CORPUS / "peer-tests"
RESULTS = ROOT / "bench" / "results" / "peers.json"
SUITES: dict[str, Callable[[Path], Iterator[Case]]] = {
    "screenplain": screenplain_cases,
    "jouvence": jouvence_cases,
    "fountain-tools": fountain_tools_cases,
}
#: Our kinds that no suite lists as elements.
LEFT_OUT = frozenset({"title_page", "note", "boneyard"})
EMPHASIS_RE = re.compile(r"[*_]+")
#: How many words of a disagreeing line ``--details`` shows.
DETAIL_WORDS = 4


def ours(source: str) -> list[Unit]:
    """Our units of a case's input."""
    return [
        unit
        for element in fountain_elements(source)
        if element.kind not in LEFT_OUT
        for unit in units(element.kind, element.text, dual=element.dual)
    ]


def normalise(text: str) -> str:
    """Text as both sides can agree on it (see the module docstring)."""
    return " ".join(EMPHASIS_RE.sub("", text).split()).strip("() ").casefold()


def _label(unit: Unit | None) -> str:
    if unit is None:
        return "(none)"
    return f"{unit.kind} (dual)" if unit.dual else unit.kind


def compare(expected: Sequence[Unit], got: Sequence[Unit]) -> list[tuple[Unit | None, Unit | None]]:
    """Align two unit lists by normalised text: pairs, and units with no partner (``None``)."""
    left = [normalise(u.text) or f"<{u.kind}>" for u in expected]
    right = [normalise(u.text) or f"<{u.kind}>" for u in got]
    slots: list[tuple[Unit | None, Unit | None]] = []
    for tag, a0, a1, b0, b1 in SequenceMatcher(None, left, right, autojunk=False).get_opcodes():
        # Same text, or text both sides cut the same way but read differently: pair in order.
        pairs = min(a1 - a0, b1 - b0) if tag in ("equal", "replace") else 0
        slots.extend(zip(expected[a0 : a0 + pairs], got[b0 : b0 + pairs], strict=True))
        slots.extend((unit, None) for unit in expected[a0 + pairs : a1])
        slots.extend((None, unit) for unit in got[b0 + pairs : b1])
    return slots


def _agrees(slot: tuple[Unit | None, Unit | None]) -> bool:
    want, have = slot
    return want is not None and have is not None and (want.kind, want.dual) == (have.kind, have.dual)


def run_suite(name: str, cases: Sequence[Case]) -> dict[str, Any]:
    """Compare every case of one suite; counts, confusions and per-case disagreements."""
    confusion: Counter[str] = Counter()
    details = []
    totals = Counter[str]()
    for case in cases:
        slots = compare(case.expected, ours(case.source))
        wrong = [slot for slot in slots if not _agrees(slot)]
        totals["elements"] += len(case.expected)
        totals["agreeing"] += len(slots) - len(wrong)
        totals["extra"] += sum(want is None for want, _ in slots)
        totals["slots"] += len(slots)
        for want, have in wrong:
            confusion[f"{_label(want)} -> {_label(have)}"] += 1
        if wrong:
            details.append({"case": case.name, "slots": wrong})
    agreement = totals["agreeing"] / totals["slots"] if totals["slots"] else 1.0
    return {
        "suite": name,
        "cases": len(cases),
        "elements": totals["elements"],
        "agreeing": totals["agreeing"],
        "extra": totals["extra"],
        "agreement": round(agreement, 4),
        "confusion": dict(confusion.most_common()),
        "details": details,
    }


def _words(unit: Unit | None) -> str:
    if unit is None:
        return ""
    words = unit.text.split()
    return " ".join(words[:DETAIL_WORDS]) + (" …" if len(words) > DETAIL_WORDS else "")


def render(results: Sequence[dict[str, Any]], *, details: bool) -> str:
    """The per-suite table, the confusions, and with ``details`` each case's disagreements."""
    head = ["suite", "cases", "elements", "agreeing", "extra", "agreement"]
    rows = [
        [
            r["suite"],
            str(r["cases"]),
            str(r["elements"]),
            str(r["agreeing"]),
            str(r["extra"]),
            f"{100 * r['agreement']:.1f}%",
        ]
        for r in results
    ]
    out = align_columns([head, *rows])
    for r in results:
        out.extend(f"  {r['suite']}: {pair} x{count}" for pair, count in r["confusion"].items())
        if details:
            for case in r["details"]:
                out.append(f"  {r['suite']} {case['case']}:")
                out.extend(
                    f"    {_label(want)} -> {_label(have)}: {_words(want or have)!r}"
                    for want, have in case["slots"]
                )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", type=Path, default=PEERS, help="the peer-tests folder")
    parser.add_argument("--details", action="store_true", help="each case's disagreements (console only)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args(argv)
    if not args.peers.is_dir():
        print(f"no peer suites under {args.peers}", file=sys.stderr)
        return 2
    results = [run_suite(name, list(load(args.peers / name))) for name, load in SUITES.items()]
    # The results file keeps counts only: the details quote the suites' text.
    stored = [{k: v for k, v in r.items() if k != "details"} for r in results]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(stored, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(stored, indent=2) if args.json else render(results, details=args.details))
    return 0


if __name__ == "__main__":
    sys.exit(main())
