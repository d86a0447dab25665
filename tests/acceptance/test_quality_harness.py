"""Smoke test of the quality harness: `python -m bench.quality --only … --json` as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

GROUPS = ("scenes", "characters", "membership", "props")


def test_quality_harness_scores_one_script(tmp_path):
    """The harness runs one small script end to end and prints P/R/F1 in [0, 1] for the four groups."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUBEN_")}
    env["PYTHONPATH"] = str(ROOT)
    out = tmp_path / "quality.json"

    result = subprocess.run(
        [sys.executable, "-m", "bench.quality", "--only", "night-shift", "--json", "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert 0 == result.returncode, result.stderr
    data = json.loads(result.stdout)
    assert ["night-shift.fountain"] == [s["script"] for s in data["scripts"]]
    for scores in (data["scripts"][0]["scores"], data["total"]["scores"]):
        assert sorted(GROUPS) == sorted(scores)
        for group in GROUPS:
            for metric in ("precision", "recall", "f1"):
                assert 0.0 <= scores[group][metric] <= 1.0
    assert data == json.loads(out.read_text(encoding="utf-8"))
