"""Smoke tests of the quality harness: `python -m bench.quality … --json` as a user runs it.

The corpus runs use a synthetic two-scene script and truth file written here, never corpus text.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

GROUPS = ("scenes", "characters", "membership", "props")


TINY_SCRIPT = """INT. KITCHEN - NIGHT

ANNA pours tea.

ANNA
Cold again.

EXT. GARDEN - DAY

BEN digs by the fence.

BEN
Found it.
"""
TINY_TRUTH = {
    "script": "en/tiny.fountain",
    "scenes": [
        {"number": 1, "location": "KITCHEN", "characters": ["ANNA"]},
        {"number": 2, "location": "GARDEN", "characters": ["BEN"]},
    ],
    "characters": [{"name": "ANNA", "aliases": []}, {"name": "BEN", "aliases": []}],
}


def run_quality(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m bench.quality ARGS --json`` in a clean environment, from ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUBEN_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bench.quality", *args, "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def tiny_corpus(tmp_path):
    """A corpus folder holding ``en/tiny.fountain`` and a truth folder for it (no props key)."""
    corpus, truth = tmp_path / "corpus", tmp_path / "truth"
    (corpus / "en").mkdir(parents=True)
    (corpus / "en" / "tiny.fountain").write_text(TINY_SCRIPT, encoding="utf-8")
    truth.mkdir()
    (truth / "en__tiny.fountain.truth.json").write_text(json.dumps(TINY_TRUTH), encoding="utf-8")
    return corpus, truth


def test_quality_harness_scores_one_script(tmp_path):
    """The harness runs one small script end to end and prints P/R/F1 in [0, 1] for the four groups."""
    out = tmp_path / "quality.json"

    result = run_quality(tmp_path, "--only", "night-shift", "--out", str(out))

    assert 0 == result.returncode, result.stderr
    data = json.loads(result.stdout)
    assert ["night-shift.fountain"] == [s["script"] for s in data["scripts"]]
    for scores in (data["scripts"][0]["scores"], data["total"]["scores"]):
        assert sorted(GROUPS) == sorted(scores)
        for group in GROUPS:
            for metric in ("precision", "recall", "f1"):
                assert 0.0 <= scores[group][metric] <= 1.0
    assert data == json.loads(out.read_text(encoding="utf-8"))


def test_quality_harness_scores_a_corpus_truth_file_without_props(tmp_path):
    """A corpus truth file is found through --truth/--corpus, grouped by language, props skipped."""
    corpus, truth = tiny_corpus(tmp_path)
    args = ["--examples", str(tmp_path), "--corpus", str(corpus), "--truth", str(truth)]

    result = run_quality(tmp_path, *args, "--out", str(tmp_path / "q.json"))

    assert 0 == result.returncode, result.stderr
    data = json.loads(result.stdout)
    assert [("en/tiny.fountain", "corpus en")] == [(s["script"], s["group"]) for s in data["scripts"]]
    scores = data["scripts"][0]["scores"]
    assert scores["props"] is None
    assert 1.0 == scores["scenes"]["f1"]
    assert ["corpus en"] == list(data["sets"])
    assert data["total"]["macro"]["props"] is None


def test_quality_harness_skips_the_corpus_when_it_is_absent(tmp_path):
    """Without the corpus folder the harness says so and still scores the examples."""
    _, truth = tiny_corpus(tmp_path)
    args = ["--only", "night-shift", "--corpus", str(tmp_path / "absent"), "--truth", str(truth)]
    (truth / "en__night-shift-too.truth.json").write_text(
        json.dumps({**TINY_TRUTH, "script": "en/night-shift-too.fountain"}), encoding="utf-8"
    )

    result = run_quality(tmp_path, *args, "--out", str(tmp_path / "q.json"))

    assert 0 == result.returncode, result.stderr
    assert "corpus not found at" in result.stderr
    assert ["night-shift.fountain"] == [s["script"] for s in json.loads(result.stdout)["scripts"]]
