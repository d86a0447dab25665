"""Unit tests of the breakdown quality metrics (bench.metrics): alignment, matching, scores."""

from __future__ import annotations

from typing import Any

import pytest

from bench.metrics import (
    Score,
    align_scenes,
    check_truth,
    explain_report,
    match_characters,
    normalise,
    prop_matches,
    score_props,
    score_report,
)


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
