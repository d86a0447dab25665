"""The script's own scene numbers reach the report, on real PostgreSQL."""

from __future__ import annotations

import json

from entrypoints.testing import drain
from pipeline import jobs


def _scenes(stub_worker, text: str) -> list[dict]:
    broker, worker = stub_worker
    job_id = jobs.submit(text, project="numbers")
    drain(broker, worker)
    return json.loads(jobs.get_report(job_id, "json"))["scenes"]


def test_fountain_and_leading_scene_numbers_are_kept_as_scene_no(stub_worker):
    """#12A# and 7 EXT. …: scene_no keeps them; number stays the reading order; a forced heading loses its dot."""
    text = (
        "INT. KITCHEN - NIGHT #12A#\n\nMARY pours coffee.\n\nMARY\nWho's there?\n\n"
        "7 EXT. GARDEN - DAWN 7\n\nJOHN digs.\n\n.SNIPER'S NEST\n\nA rifle.\n"
    )

    scenes = _scenes(stub_worker, text)

    assert [(1, "12A"), (2, "7"), (3, None)] == [(s["number"], s["scene_no"]) for s in scenes]
    assert "SNIPER'S NEST" == scenes[2]["heading"]


def test_chinese_scene_numbers_are_kept_as_scene_no(stub_worker):
    """1-2 日 内 and 第三场: scene_no 1-2 and 3, shown in the CSV too."""
    text = "1-2 日 内 客厅\n林晚：走吧。\n第三场 外景：（码头） 黄昏\n林晚：到了。\n"

    scenes = _scenes(stub_worker, text)

    assert ["1-2", "3"] == [s["scene_no"] for s in scenes]


def test_group_cues_are_background_with_their_scenes_not_dropped(stub_worker):
    """THE CROWD and 众人 are listed as background (extras) in the scenes they appear in, not as cast."""
    english = "INT. DINER - NIGHT\n\nTOMMY wipes the counter.\n\nTOMMY\nClosed.\n\nTHE CROWD\nBoo!\n"
    chinese = "1-1 日 内 会议室\n人物：林晚、设计部众人\n林晚：开会。\n众人：好！\n"
    broker, worker = stub_worker

    reports = []
    for text in (english, chinese):
        job_id = jobs.submit(text)
        drain(broker, worker)
        reports.append(json.loads(jobs.get_report(job_id, "json")))

    assert [{"name": "THE CROWD", "scenes": [1]}] == reports[0]["background"]
    assert ["TOMMY"] == [c["name"] for c in reports[0]["characters"]]
    assert {"设计部众人", "众人"} == {b["name"] for b in reports[1]["background"]}
    assert ["林晚"] == [c["name"] for c in reports[1]["characters"]]
    assert ["THE CROWD"] == reports[0]["scenes"][0]["background"]
