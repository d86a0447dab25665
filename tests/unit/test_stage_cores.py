"""Small stage cores not covered elsewhere: ingest's check and description, report assembly."""

from __future__ import annotations

import hashlib

import pytest

from pipeline.errors import InputError
from stages.ingest import describe_script
from stages.report.stage import AssetRow, RecordRow, ReportInput, ShotRow, build_report, role_for

FOUNTAIN = "Title: Night Shift\nAuthor: A. Writer\n\nINT. WARD - NIGHT\n\nNURSE\nQuiet tonight.\n"
CHINESE = "第1集\n1-1 日 内 客厅\n小娟：你好。\n"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_ingest_reads_title_page_and_language():
    """A Fountain title page gives the title and author; the language is English."""
    out = describe_script(FOUNTAIN, sha256=sha(FOUNTAIN), files=["night.fountain"])

    assert ("Night Shift", "en", "A. Writer") == (out.title, out.language, out.meta.get("author"))


def test_ingest_falls_back_to_the_file_name_and_detects_chinese():
    """Without a title page the first file's name is the title; CJK text is Chinese."""
    out = describe_script(CHINESE, sha256=sha(CHINESE), files=["逆袭总裁.txt"])

    assert ("逆袭总裁", "zh") == (out.title, out.language)


def test_ingest_refuses_text_that_does_not_match_its_hash():
    """Stored text whose sha256 changed is a permanent input error."""
    with pytest.raises(InputError, match="sha256"):
        describe_script(FOUNTAIN, sha256="0" * 64, files=[])


def _input() -> ReportInput:
    assets = {
        1: AssetRow(1, "character", "MARY", ("MARY SMITH",), None, "female", "30s"),
        2: AssetRow(2, "character", "JOHN", (), None, None, None),
        3: AssetRow(3, "location", "KITCHEN", (), None, None, None),
        4: AssetRow(4, "prop", "revolver", (), None, None, None),
    }
    records = [
        RecordRow(1, 1, "character", 9),
        RecordRow(1, 3, "location", 0),
        RecordRow(1, 4, "prop", 0),
        RecordRow(2, 2, "character", 1),
        RecordRow(2, 1, "character", 0),
    ]
    scenes = [
        {"episode": 1, "number": n, "heading": h, "int_ext": "INT", "time": "NIGHT", "location": loc}
        for n, h, loc in ((1, "INT. KITCHEN - NIGHT", "KITCHEN"), (2, "INT. HALL - NIGHT", None))
    ]
    shots = [
        ShotRow(1, 1, 1, "insert", "The revolver.", (4,)),
        ShotRow(1, 2, 1, "close-up", "JOHN: hi", (2,)),
    ]
    job = {"id": "j", "project": "p", "title": "t", "status": "COMPLETED", "stats": {}}
    return ReportInput(job, [{"number": 1, "title": None}], scenes, records, assets, shots)


def test_report_assembles_scenes_characters_and_shots():
    """Each scene lists its characters and props; characters carry scenes, lines and role."""
    report = build_report(_input())

    assert [["MARY"], ["JOHN", "MARY"]] == [s["characters"] for s in report["scenes"]]
    assert [["revolver"], []] == [s["props"] for s in report["scenes"]]
    mary, john = report["characters"]
    assert ("MARY", [1, 2], 1, 9, "lead", ["MARY SMITH"]) == (
        mary["name"],
        mary["scenes"],
        mary["first_scene"],
        mary["dialogue_lines"],
        mary["role"],
        mary["aliases"],
    )
    assert ("JOHN", 2, "supporting") == (john["name"], john["first_scene"], john["role"])
    assert [{"name": "KITCHEN", "scenes": [1]}] == report["locations"]
    assert [["revolver"], []] == [s["props"] for s in report["shots"]]
    assert {"scenes": 2, "characters": 2, "shots": 2, "dialogue_lines": 10} == {
        k: report["job"]["stats"][k] for k in ("scenes", "characters", "shots", "dialogue_lines")
    }


def test_roles_follow_dialogue_share():
    """Leads have at least 15% of the lines, supporting at least 3%."""
    assert ["lead", "supporting", "minor", "minor"] == [role_for(n, 100) for n in (15, 3, 2, 0)]
