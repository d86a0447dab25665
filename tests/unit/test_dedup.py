"""Dedup's pure core: exact keys, aliases, new assets, determinism."""

from __future__ import annotations

from stages.dedup.merge import Policy, normalize_name
from stages.dedup.stage import AssetOut, RecordIn, merge_assets


def rec(id_: int, name: str, scene: int = 1, kind: str = "character", **attrs) -> RecordIn:
    return RecordIn(id_, kind, name, scene, 1, attrs)


def test_same_name_in_other_case_and_spacing_is_one_asset():
    """'Mary', 'MARY' and ' mary ' merge into one character."""
    assets, decisions = merge_assets([rec(1, "MARY"), rec(2, "Mary", 2), rec(3, " mary ", 3)], [])

    assert ["MARY"] == [a.name for a in assets]
    assert ["new", "exact", "exact"] == [d.status for d in decisions]


def test_types_do_not_merge():
    """A prop and a location with one name stay two assets."""
    assets, _ = merge_assets([rec(1, "Bar", kind="location"), rec(2, "bar", kind="prop")], [])

    assert [("location", "Bar"), ("prop", "bar")] == [(a.type, a.name) for a in assets]


def test_alias_of_an_existing_asset_matches_it():
    """A name listed as an existing asset's alias is matched as an alias."""
    existing = [AssetOut(7, "character", "dr. smith", "DR. SMITH", aliases=["SMITH"])]

    assets, decisions = merge_assets([rec(1, "Smith")], existing)

    assert [7] == [a.id for a in assets]
    assert [("alias", 0)] == [(d.status, d.asset) for d in decisions]


def test_records_are_taken_in_scene_order():
    """The first appearance decides the canonical name, whatever the input order."""
    records = [rec(5, "john", scene=4), rec(9, "JOHN", scene=2)]

    forward, _ = merge_assets(records, [])
    backward, _ = merge_assets(list(reversed(records)), [])

    assert ["JOHN"] == [a.name for a in forward] == [a.name for a in backward]
    assert 2 == forward[0].first_scene


def test_attributes_fill_gaps():
    """Description and age from a later mention fill an asset that lacks them."""
    assets, _ = merge_assets([rec(1, "吴婶"), rec(2, "吴婶", 2, description="家庭妇女", age="50")], [])

    assert ("家庭妇女", "50") == (assets[0].description, assets[0].age)


def test_normalize_name_folds_width_and_case():
    """Full-width letters and case fold to one key."""
    assert normalize_name("ＭＡＲＹ") == normalize_name("mary")


def test_honorific_variants_are_one_character_but_different_titles_are_not():
    """DR. SMITH and SMITH merge; MR. SMITH and MRS. SMITH stay apart."""
    assets, decisions = merge_assets(
        [rec(1, "DR. SMITH"), rec(2, "SMITH", 2), rec(3, "MR. JONES", 3), rec(4, "MRS. JONES", 4)], []
    )

    assert ["DR. SMITH", "MR. JONES", "MRS. JONES"] == [a.name for a in assets]
    assert "alias" == decisions[1].status


def test_given_name_matches_the_only_full_name_with_it():
    """RITA joins RITA VALE; JOHN does not join when two JOHNs exist."""
    existing = [
        AssetOut(1, "character", "rita vale", "RITA VALE"),
        AssetOut(2, "character", "john doe", "JOHN DOE"),
        AssetOut(3, "character", "john roe", "JOHN ROE"),
    ]

    assets, decisions = merge_assets([rec(1, "RITA"), rec(2, "JOHN", 2)], existing)

    assert [("alias", 0), ("new", 3)] == [(d.status, d.asset) for d in decisions]
    assert "JOHN" == assets[3].name


def test_record_aliases_point_at_an_asset():
    """A record whose extractor-given alias is an asset's name joins that asset."""
    existing = [AssetOut(9, "character", "陈默然", "陈默然")]

    _, decisions = merge_assets([rec(1, "陈默", aliases=["陈默然"])], existing)

    assert [("alias", 0)] == [(d.status, d.asset) for d in decisions]


def test_chinese_title_prefix_names_the_same_person():
    """秘书小唐 and 小唐 are one character; a single character like 唐 matches nothing."""
    assets, decisions = merge_assets([rec(1, "秘书小唐"), rec(2, "小唐", 2), rec(3, "唐", 3)], [])

    assert ["秘书小唐", "唐"] == [a.name for a in assets]
    assert ["new", "alias", "new"] == [d.status for d in decisions]


def test_fuzzy_matches_long_names_of_one_type_only():
    """A misspelt long location merges with a score; short names and other types do not."""
    records = [
        rec(1, "HARBOR CITY SAVINGS BANK", kind="location"),
        rec(2, "HARBOUR CITY SAVINGS BANK", 2, kind="location"),
        rec(3, "HARBOUR CITY SAVINGS BANK", 3, kind="prop"),
        rec(4, "BOB", 4),
        rec(5, "ROB", 5),
    ]

    assets, decisions = merge_assets(records, [])

    assert ["location", "prop", "character", "character"] == [a.type for a in assets]
    assert "fuzzy" == decisions[1].status
    assert 0.9 < decisions[1].score < 1.0


def test_fuzzy_can_be_turned_off():
    """With no threshold for a type, near-identical names stay apart."""
    records = [rec(1, "HARBOR CITY BANK", kind="location"), rec(2, "HARBOUR CITY BANK", 2, kind="location")]

    assets, _ = merge_assets(records, [], Policy({"location": None}))

    assert 2 == len(assets)


def test_large_inputs_are_deterministic():
    """100k records of 3,000 names give the same assets and decisions on every run."""
    names = [f"PROP NUMBER {n:04d}" for n in range(3000)]
    records = [rec(i, names[(i * 7919) % 3000], scene=i % 500, kind="prop") for i in range(100_000)]

    first = merge_assets(records, [])
    second = merge_assets(list(reversed(records)), [])

    assert [a.name for a in first[0]] == [a.name for a in second[0]]
    assert 3000 == len(first[0])
    assert sorted(first[1], key=lambda d: d.record_id) == sorted(second[1], key=lambda d: d.record_id)


def test_a_surname_two_full_names_share_does_not_merge_two_people():
    """TOMMY (TOMMY OKAFOR) and OKAFOR (DETECTIVE SAM OKAFOR) stay two; OKAFOR's decision is ambiguous."""
    records = [
        rec(1, "TOMMY", 1, aliases=["TOMMY OKAFOR", "TOMMY"]),
        rec(2, "OKAFOR", 2, aliases=["DETECTIVE SAM OKAFOR", "OKAFOR"]),
        rec(3, "OKAFOR", 3),
    ]

    assets, decisions = merge_assets(records, [])

    assert ["TOMMY", "OKAFOR"] == [a.name for a in assets]
    assert [("new", 0), ("ambiguous", 1), ("exact", 1)] == [(d.status, d.asset) for d in decisions]


def test_a_bare_surname_with_no_full_name_of_its_own_still_joins_the_only_full_name():
    """OKAFOR alone, with only TOMMY OKAFOR in the script, is TOMMY OKAFOR (the script's evidence)."""
    assets, decisions = merge_assets([rec(1, "TOMMY OKAFOR", 1), rec(2, "OKAFOR", 2)], [])

    assert (["TOMMY OKAFOR"], "alias") == ([a.name for a in assets], decisions[1].status)


def test_a_title_before_the_same_full_name_is_the_same_person():
    """DETECTIVE SAM OKAFOR and SAM OKAFOR (cue OKAFOR) are one character."""
    records = [
        rec(1, "SAM", 1, aliases=["SAM OKAFOR"]),
        rec(2, "OKAFOR", 2, aliases=["DETECTIVE SAM OKAFOR"]),
    ]

    assets, _ = merge_assets(records, [])

    assert ["SAM"] == [a.name for a in assets]


def test_a_younger_self_a_numbered_extra_and_a_role_noun_are_people_of_their_own():
    """YOUNG JOE, GUARD #2 and MATH TEACHER are cast apart from JOE, REFEREE and TEACHER."""
    names = ["JOE", "YOUNG JOE", "GUARD", "GUARD #2", "TEACHER", "MATH TEACHER", "RITA VALE", "RITA"]
    records = [rec(i, name, i) for i, name in enumerate(names, start=1)]

    assets, _ = merge_assets(records, [])

    assert names[:-1] == [a.name for a in assets]
