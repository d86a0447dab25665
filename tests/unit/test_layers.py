"""The layers of docs/ARCHITECTURE.md hold in the code: import-linter's contracts in pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``lint-imports`` (the contracts in ``cwd``'s pyproject.toml) on the code in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-c", "import sys, importlinter.cli as c; sys.exit(c.lint_imports(no_cache=True))"],
        cwd=cwd,
        check=False,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_code_keeps_every_import_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        ("pipeline/extra.py", "import stages\n", "Layers"),
        ("pipeline/extra.py", "from entrypoints import cli\n", "Layers"),
        ("pipeline/states.py", "from pipeline import extra\n", "No import cycles"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(tmp_path: Path, module: str, source: str, broken: str) -> None:
    """The contracts can fail: a copy of the code with one forbidden import is refused."""
    copy = tmp_path / "code"
    for name in ("entrypoints", "stages", "pipeline", "models"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "pyproject.toml").write_text(
        (ROOT / "pyproject.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (copy / "pipeline" / "extra.py").write_text("from pipeline import states\n", encoding="utf-8")
    target = copy / module
    target.write_text(target.read_text(encoding="utf-8") + textwrap.dedent(source), encoding="utf-8")
    result = _lint(copy)
    assert result.returncode == 1, result.stdout[-3000:]
    assert broken in result.stdout.split("Broken contracts")[-1]
