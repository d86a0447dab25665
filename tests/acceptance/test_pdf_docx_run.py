"""`python enqueue.py run` on a PDF and a Word script, as a user runs it (embedded mode)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import docx
import pytest
from reportlab.pdfgen import canvas

from bench.pdf_roundtrip import render_pdf
from tests.acceptance.test_embedded_mode import run_cli
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.slow


def _report(cwd: Path, stdout: str) -> dict[str, object]:
    view = json.loads(stdout)
    assert "COMPLETED" == view["status"]
    report: dict[str, object] = json.loads((cwd / view["report_files"]["json"]).read_text(encoding="utf-8"))
    return report


def test_run_breaks_down_a_pdf(tmp_path: Path) -> None:
    """The heist rendered to PDF breaks down into its eight numbered scenes; the job read a PDF."""
    render_pdf(EXAMPLES / "the-heist.fountain", tmp_path / "the-heist.pdf")

    result = run_cli(tmp_path, "run", str(tmp_path / "the-heist.pdf"), "--json")

    assert 0 == result.returncode, result.stderr
    report = _report(tmp_path, result.stdout)
    assert "pdf" == report["job"]["stats"]["encoding"]  # type: ignore[index]
    assert [str(n) for n in range(1, 9)] == [s["scene_no"] for s in report["scenes"]]  # type: ignore[attr-defined]
    assert {"RITA", "TOMMY", "HUGO"} <= {c["name"] for c in report["characters"]}  # type: ignore[attr-defined]


def test_run_breaks_down_a_docx(tmp_path: Path) -> None:
    """A Word file of a Chinese script (plain paragraphs) breaks down; the job read a DOCX."""
    document = docx.Document()
    for line in (EXAMPLES / "山村来信.txt").read_text(encoding="utf-8").splitlines():
        document.add_paragraph(line)
    document.save(str(tmp_path / "山村来信.docx"))

    result = run_cli(tmp_path, "run", str(tmp_path / "山村来信.docx"), "--json")

    assert 0 == result.returncode, result.stderr
    report = _report(tmp_path, result.stdout)
    assert "docx" == report["job"]["stats"]["encoding"]  # type: ignore[index]
    assert {"秀兰", "周伯", "铁蛋"} <= {c["name"] for c in report["characters"]}  # type: ignore[attr-defined]


def test_run_refuses_a_scanned_pdf_with_one_line(tmp_path: Path) -> None:
    """A PDF without a text layer exits 2 with the no-OCR message, before any job is made."""
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.rect(72, 72, 300, 500, fill=1)
    page.save()
    (tmp_path / "scan.pdf").write_bytes(buffer.getvalue())

    result = run_cli(tmp_path, "run", str(tmp_path / "scan.pdf"))

    assert 2 == result.returncode
    error = result.stderr.strip().splitlines()[-1]  # after the progress bar's first frame
    assert error.startswith("error: ") and error.endswith(
        "scan.pdf: this PDF has no text layer (a scan?); Juben does not do OCR: "
        "export the script as text, PDF with text, FDX or Fountain"
    )
    assert "Traceback" not in result.stderr
