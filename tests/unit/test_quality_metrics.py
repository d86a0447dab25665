"""Unit tests of the breakdown quality metrics (bench.metrics) and of bench.quality's tables.

Alignment, matching, scores, props left unscored, micro and macro averages, per-set subtotals,
corpus truth discovery. All truth data here is synthetic (never text of the development corpus).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.metrics import (
    Macro,
    Score,
    align_scenes,
    check_truth,
    explain_report,
    location_key,
    macro_average,
    match_characters,
    micro_total,
    normalise,
    prop_matches,
    score_props,
    score_report,
)
from bench.quality import corpus_group, find_corpus_cases, render_table, to_json


def truth_file() -> dict[str, Any]:
    """Three scenes, two characters (one with aliases), two props."""
    return {
        "scenes": [
            {"number": 1, "location": "BANK LOBBY", "characters": ["RITA", "TOMMY"]},
            {"number": 2, "location": "VAULT", "characters": ["RITA VALE"]},
            {"number": 3, "location": "BANK LOBBY", "characters": ["TOMMY"]},
        ],
        "characters": [{"name": "RITA", "aliases": ["RITA VALE"]}, {"name": "TOMMY", "aliases": []}],
        "props": [{"name": "revolver", "alternatives": ["gun"]}, {"name": "duffel bag", "alternatives": []}],
    }


def report_for(
    scenes: list[tuple[str, list[str]]], characters: list[dict[str, Any]], props: list[str]
) -> dict[str, Any]:
    """A report dict in stages.report's shape, numbered from 1."""
    return {
        "scenes": [
            {"number": n, "location": loc, "characters": chars} for n, (loc, chars) in enumerate(scenes, 1)
        ],
        "characters": characters,
        "props": [{"name": p, "scenes": []} for p in props],
    }


def test_normalise_folds_width_case_and_spaces():
    """NFKC, casefold and whitespace collapsing make full-width, cased and spaced names equal."""
    assert "dr. pike" == normalise("  Ｄr.\t PIKE ")


def test_normalise_drops_padding_between_chinese_characters():
    """A cue padded to line up (``工 头``) is the same name as ``工头``; Latin words keep their space."""
    assert ("工头", "dr. x 工头") == (normalise("工　头"), normalise("Dr. X 工 头"))


def test_location_key_folds_separators_not_words():
    """Brackets, slashes and dashes between a location's parts do not count; an extra word does."""
    assert location_key("车间（二楼）") == location_key("车间 二楼") == location_key("车间/二楼")
    assert location_key("HOUSE - BEDROOM") == location_key("House Bedroom")
    assert location_key("院内——日外") != location_key("院内")
    assert location_key("CHAPEL--DAY") != location_key("CHAPEL")


def test_align_scenes_pairs_differently_punctuated_sub_locations():
    """A report writing the heading's sub-location with other punctuation still pairs."""
    assert [(0, 0), (1, 1)] == align_scenes(["车间 二楼", "街道 喷泉"], ["车间（二楼）", "街道/喷泉"])


def test_score_ratios_and_f1():
    """Precision, recall and F1 come from the hit counts."""
    score = Score(predicted_hits=3, predicted=4, truth_hits=3, truth=6)

    assert (0.75, 0.5, 0.6) == (score.precision, score.recall, pytest.approx(score.f1))


def test_empty_sides_score_one_only_when_both_are_empty():
    """Nothing predicted and nothing to find is perfect; nothing predicted against truth is zero."""
    assert (1.0, 1.0) == (Score().precision, Score().recall)
    assert (0.0, 0.0, 0.0) == (Score(0, 0, 0, 5).precision, Score(0, 0, 0, 5).recall, Score(0, 0, 0, 5).f1)


def test_scores_add_up_counts_for_a_micro_average():
    """Adding scores adds their counts, so the total is a micro-average."""
    assert Score(3, 5, 4, 6) == Score(1, 2, 1, 3) + Score(2, 3, 3, 3)


def test_align_scenes_pairs_equal_locations_in_order():
    """Scenes pair by normalised location, keeping reading order."""
    predicted = ["bank lobby", "Vault", "BANK  LOBBY"]

    assert [(0, 0), (1, 1), (2, 2)] == align_scenes(predicted, ["BANK LOBBY", "VAULT", "BANK LOBBY"])


def test_align_scenes_survives_a_split_scene():
    """An extra predicted scene in the middle costs only itself."""
    assert [(0, 0), (2, 1), (3, 2)] == align_scenes(["A", "INSERT", "B", "C"], ["A", "B", "C"])


def test_characters_match_through_aliases_once_each():
    """A predicted name equal to a truth alias is a hit; a second name for the same person is not."""
    predicted = [{"name": "RITA VALE", "aliases": []}, {"name": "RITA", "aliases": []}, {"name": "TOMMY"}]

    assert {1: 0, 2: 1} == match_characters(predicted, truth_file()["characters"])


def test_prop_matches_whole_words_and_cjk_substrings():
    """Props match when equal, or when one contains the other as a whole word or a CJK run of 2+."""
    assert prop_matches("old revolver", ["revolver"])
    assert prop_matches("Gun", ["revolver", "gun"])
    assert not prop_matches("begun", ["gun"])
    assert prop_matches("旧手机", ["手机"])
    assert not prop_matches("手", ["手机"])


def test_score_props_counts_distinct_predicted_names():
    """Prop precision is over distinct predicted names, recall over truth props."""
    score = score_props(["Revolver", "revolver", "banana"], truth_file()["props"])

    assert Score(predicted_hits=1, predicted=2, truth_hits=1, truth=2) == score


def test_perfect_report_scores_one_everywhere():
    """A report that says what the truth says scores 1.0 in every group."""
    report = report_for(
        [("BANK LOBBY", ["RITA", "TOMMY"]), ("VAULT", ["RITA"]), ("BANK LOBBY", ["TOMMY"])],
        [{"name": "RITA", "aliases": ["RITA VALE"]}, {"name": "TOMMY", "aliases": []}],
        ["revolver", "duffel bag"],
    )

    scores = score_report(report, truth_file())

    assert {g: 1.0 for g in scores} == {g: s.f1 for g, s in scores.items()}


def test_membership_maps_through_characters_and_scenes():
    """Membership pairs count only where both the character and the scene map to the truth."""
    report = report_for(
        [("BANK LOBBY", ["RITA"]), ("GARAGE", ["RITA"]), ("BANK LOBBY", ["TOMMY", "HUGO"])],
        [{"name": "RITA"}, {"name": "TOMMY"}, {"name": "HUGO"}],
        [],
    )

    membership = score_report(report, truth_file())["membership"]

    assert Score(predicted_hits=2, predicted=4, truth_hits=2, truth=4) == membership


def test_empty_report_scores_zero_recall():
    """A failed job (empty report) finds nothing."""
    scores = score_report({}, truth_file())

    assert [0.0, 0.0, 0.0, 0.0] == [s.recall for s in scores.values()]


def test_explain_lists_extra_and_missed_items():
    """The explanation names the unmatched predicted items and the unfound truth items."""
    report = report_for([("BANK LOBBY", ["RITA"]), ("GARAGE", [])], [{"name": "RITA"}], ["banana"])

    misses = explain_report(report, truth_file())

    assert ["2: GARAGE"] == misses["scenes"]["extra"]
    assert ["TOMMY"] == misses["characters"]["missed"]
    assert ["banana"] == misses["props"]["extra"]


def test_check_truth_reports_unknown_scene_characters():
    """A scene character missing from the cast list is a truth-file problem."""
    truth = truth_file()
    truth["scenes"][0]["characters"].append("HUGO")

    assert ["scene 1: 'HUGO' is not in characters"] == check_truth(truth)


def test_props_without_a_props_key_are_not_scored():
    """A truth file with no ``props`` key scores props as None (skipped), and explains none."""
    truth = truth_file()
    del truth["props"]
    report = report_for([("BANK LOBBY", ["RITA"])], [{"name": "RITA"}], ["banana"])

    assert score_report(report, truth)["props"] is None
    assert {"extra": [], "missed": []} == explain_report(report, truth)["props"]


def test_an_empty_props_list_is_scored():
    """An empty ``props`` list means "no props": every predicted prop is a false positive."""
    truth = {**truth_file(), "props": []}
    report = report_for([("BANK LOBBY", ["RITA"])], [{"name": "RITA"}], ["banana"])

    assert Score(0, 1, 0, 0) == score_report(report, truth)["props"]


def test_check_truth_reports_a_name_two_characters_share():
    """An alias that is also another character's name makes resolving names ambiguous."""
    truth = truth_file()
    truth["characters"][1]["aliases"] = ["rita"]

    assert ["'rita' names both 'RITA' and 'TOMMY'"] == check_truth(truth)


def test_micro_adds_counts_and_macro_averages_ratios_skipping_unscored():
    """Micro totals add counts; macro is the mean of per-script ratios; None scripts are left out."""
    big, small = Score(9, 10, 9, 10), Score(0, 1, 0, 1)

    assert Score(9, 11, 9, 11) == micro_total([big, None, small])
    assert Macro(0.45, 0.45, 0.45, 2) == macro_average([big, None, small])
    assert (None, None) == (micro_total([None]), macro_average([]))


def result(name: str, group: str, scores: dict[str, Score | None]) -> dict[str, Any]:
    """One bench.quality result row with the given scores (no misses, no problems)."""
    return {
        "script": name,
        "group": group,
        "status": "COMPLETED",
        "error": None,
        "seconds": 1.0,
        "truth_problems": [],
        "scores": scores,
        "misses": {},
    }


def synthetic_results() -> list[dict[str, Any]]:
    """Two examples and one corpus script per language; one corpus script has no props truth."""
    perfect, half = Score(2, 2, 2, 2), Score(1, 2, 1, 2)
    return [
        result(
            "a.fountain",
            "examples",
            {"scenes": perfect, "characters": perfect, "membership": perfect, "props": perfect},
        ),
        result(
            "b.txt", "examples", {"scenes": half, "characters": perfect, "membership": half, "props": half}
        ),
        result(
            "zh/c.txt", "corpus zh", {"scenes": half, "characters": half, "membership": half, "props": None}
        ),
        result(
            "en/d.fountain",
            "corpus en",
            {"scenes": perfect, "characters": half, "membership": half, "props": half},
        ),
    ]


def test_json_has_micro_and_macro_per_set_and_overall():
    """Each script set gets micro and macro scores; props of an unannotated script are null and skipped."""
    data = to_json(synthetic_results())

    assert ["examples", "corpus zh", "corpus en"] == list(data["sets"])
    assert data["scripts"][2]["scores"]["props"] is None
    assert data["sets"]["corpus zh"]["scores"]["props"] is None
    assert data["sets"]["corpus zh"]["macro"]["props"] is None
    assert 0.75 == data["sets"]["examples"]["scores"]["scenes"]["f1"]
    assert 0.75 == data["sets"]["examples"]["macro"]["scenes"]["f1"]
    assert 3 == data["total"]["macro"]["props"]["scripts"]
    assert pytest.approx(2 / 3, abs=1e-4) == data["total"]["macro"]["props"]["f1"]
    assert pytest.approx(4 / 6, abs=1e-4) == data["total"]["scores"]["props"]["f1"]


def test_table_has_subtotal_and_macro_rows_and_dashes_for_unscored_props():
    """The table lists each set's scripts, its micro and macro rows, then the overall totals."""
    lines = render_table(synthetic_results()).splitlines()
    labels = [line.split("  ")[0].strip() for line in lines if line and not line.startswith(("-", " "))]

    assert [
        "script",
        "a.fountain",
        "b.txt",
        "examples (micro, 2)",
        "examples (macro, 2)",
        "zh/c.txt",
        "corpus zh (micro, 1)",
        "corpus zh (macro, 1)",
        "en/d.fountain",
        "corpus en (micro, 1)",
        "corpus en (macro, 1)",
        "TOTAL (micro, 4)",
        "TOTAL (macro, 4)",
        "notes:",
    ] == labels
    zh_row = next(line for line in lines if line.startswith("zh/c.txt"))
    assert ["-", "-", "-", "1.0"] == zh_row.split()[-4:]


def test_corpus_group_by_first_folder():
    """``zh/`` scripts are Chinese; ``en/`` and ``fdx/`` ones English."""
    assert ["corpus zh", "corpus en", "corpus en"] == [
        corpus_group(p) for p in ("zh/a.txt", "en/b.fountain", "fdx/c.fdx")
    ]


def write_truth(folder: Path, script: str) -> None:
    """A minimal corpus truth file for ``script`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    truth = {"script": script, "scenes": [], "characters": []}
    (folder / (script.replace("/", "__") + ".truth.json")).write_text(json.dumps(truth), encoding="utf-8")


def test_find_corpus_cases_resolves_scripts_and_skips_missing_ones(tmp_path):
    """Truth files name scripts inside the corpus; a missing script is skipped with a message."""
    corpus, truth = tmp_path / "corpus", tmp_path / "truth"
    for script in ("en/b.fountain", "zh/a.txt", "zh/gone.txt"):
        write_truth(truth, script)
    for script in ("en/b.fountain", "zh/a.txt"):
        (corpus / script).parent.mkdir(parents=True, exist_ok=True)
        (corpus / script).write_text("x", encoding="utf-8")

    cases, skipped = find_corpus_cases(truth, corpus)

    assert [("zh/a.txt", "corpus zh"), ("en/b.fountain", "corpus en")] == [(c.name, c.group) for c in cases]
    assert corpus / "zh/a.txt" == cases[0].script
    assert [f"zh/gone.txt: not in {corpus}, skipped"] == skipped
    assert ["en/b.fountain"] == [c.name for c in find_corpus_cases(truth, corpus, only="en/")[0]]


def test_find_corpus_cases_without_the_corpus_skips_with_one_message(tmp_path):
    """No corpus folder: no cases and one message saying how many truth files were skipped."""
    write_truth(tmp_path / "truth", "zh/a.txt")

    cases, skipped = find_corpus_cases(tmp_path / "truth", tmp_path / "nowhere")

    assert [] == cases
    assert 1 == len(skipped)
    assert skipped[0].startswith(
        f"corpus not found at {tmp_path / 'nowhere'}: 1 corpus truth file(s) skipped"
    )
