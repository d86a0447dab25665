"""Dedup's pure core: exact keys, aliases, new assets, determinism."""

from __future__ import annotations

from stages.dedup import AssetOut, RecordIn, merge_assets, normalize_name


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
