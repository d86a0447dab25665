"""Per-scene breakdown sheets, the scene overview and their colour key (pure: no I/O).

Colours follow the industry's breakdown conventions. A sheet (and a strip on the production
board) is coloured by INT/EXT and day/night: INT day white, EXT day yellow, INT night blue, EXT
night green, dawn or dusk light orange (INT) and orange (EXT). Elements are colour-coded as in a marked-up script: cast red, props violet; the
location (set) is named in the sheet header, which is how breakdown sheets carry it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from stages.report.labels import word
from stages.report.markup import Markup, esc, is_int, item_count, number_key, rows, table
from stages.storyboard.scene_kinds import SHEET_COLOURS, classify, colour_class

#: Element category → colour (the script mark-up colours).
ELEMENT_COLOURS: Mapping[str, str] = {"cast": "#c62828", "props": "#6a1b9a", "background": "#f9a825"}

SHEET_CSS = (
    """
.sheet{border:2px solid #333;margin:1.5rem 0;padding:0;break-inside:auto}
.sheet-head{display:flex;gap:1rem;align-items:stretch;border-bottom:2px solid #333;padding:.5rem .75rem}
.sheet-no{border:2px solid #333;background:#fff;min-width:4.5rem;text-align:center;padding:.2rem .4rem}
.sheet-no span{display:block;font-size:.75rem;text-transform:uppercase}.sheet-no strong{font-size:1.8rem}
.sheet-head h3{margin:0 0 .3rem;font-size:1.1rem}
dl.sheet-facts{display:flex;flex-wrap:wrap;gap:.1rem 1.2rem;margin:0}
dl.sheet-facts div{display:flex;gap:.35rem}dl.sheet-facts dt{font-weight:600}dl.sheet-facts dd{margin:0}
.elements{display:grid;grid-template-columns:repeat(auto-fit,minmax(14rem,1fr));gap:.6rem;
padding:.6rem .75rem}.box{border:1px solid #999;break-inside:avoid}
.box h4{margin:0;padding:.2rem .5rem;color:#fff;font-size:.85rem}
.box ul{margin:.3rem 0;padding:0 .5rem;list-style:none}.box .empty{margin:.3rem .5rem}
.box.notes h4{background:#555}.box.notes div{min-height:4rem}
.cast-id{display:inline-block;min-width:1.6rem;font-weight:700}
.shot-list{padding:0 .75rem .5rem}.shot-list h4{margin:.3rem 0}
ul.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.4rem 1.2rem}
.swatch{display:inline-block;width:1.1rem;height:1.1rem;border:1px solid #333;vertical-align:middle;
margin-right:.35rem}
table.overview td{border-color:#888}
""".strip()
    + "".join(
        # The colours themselves come from one place each, so the CSS and the legend cannot disagree.
        [f"\n.{css}{{background:{colour}}}" for css, colour in SHEET_COLOURS.items()]
        + [
            f"\n.box.{css} h4,.swatch.{css}{{background:{colour}}}"
            f".box.{css} li{{border-bottom:2px solid {colour}}}.box.{css} .cast-id{{color:{colour}}}"
            for css, colour in ELEMENT_COLOURS.items()
        ]
    )
)


def location_uses(report: Mapping[str, Any]) -> dict[Any, list[str]]:
    """Each scene location's INT/EXT values as written, in order of first use (``INT``, ``EXT``)."""
    used: dict[Any, dict[str, None]] = {}
    for scene in rows(report, "scenes"):
        if scene.get("int_ext"):
            used.setdefault(number_key(scene.get("location")), {})[str(scene["int_ext"])] = None
    return {location: list(values) for location, values in used.items()}


def legend(labels: Mapping[str, str]) -> str:
    """The colour key: sheet colours by INT/EXT and day/night, then element colours."""
    sheets = "".join(
        f'<li><span class="swatch {css}"></span>{esc(labels[css.replace("-", "_")])}</li>'
        for css in SHEET_COLOURS
    )
    elements = "".join(
        f'<li><span class="swatch {css}"></span>{esc(labels[key])}</li>'
        for css, key in (
            ("cast", "cast_key"),
            ("props", "props_key"),
            ("background", "background_key"),
            ("int-day", "set_key"),
        )
    )
    return (
        f'<section class="legend-box">\n<h3>{esc(labels["sheet_colours"])}</h3>\n'
        f'<ul class="legend">{sheets}</ul>\n'
        f'<h3>{esc(labels["element_colours"])}</h3>\n<ul class="legend">{elements}</ul>\n'
        f'<p class="note">{esc(labels["not_tracked"])}</p>\n</section>'
    )


def day_night(labels: Mapping[str, str], lit: str | None) -> str:
    """``Day``/``Night``/``Dawn/Dusk`` in the page's language, ``?`` when unknown."""
    return labels[lit] if lit in {"day", "night", "twilight"} else labels["unknown"]


def overview(report: Mapping[str, Any], labels: Mapping[str, str], cast_ids: Mapping[str, int]) -> str:
    """The scene overview: one coloured strip per scene, as on a production board."""
    scenes = rows(report, "scenes")
    kinds = classify(scenes)
    shots = _shots_by_scene(report)
    body = [
        [
            Markup(f'<a href="#scene-{s["number"]}">{s["number"]}</a>')
            if is_int(s.get("number"))
            else s.get("number"),
            s.get("episode"),
            word(labels, s.get("int_ext")),
            day_night(labels, lit),
            s.get("location"),
            _cast_refs(s.get("characters"), cast_ids),
            item_count(s.get("props")),
            len(shots.get((number_key(s.get("episode")), number_key(s.get("number"))), ())),
        ]
        for s, (_, lit) in zip(scenes, kinds, strict=True)
    ]
    headers = [
        labels[k]
        for k in ("scene", "episode", "int_ext", "day_night", "location", "cast_id", "props", "shots")
    ]
    return table(headers, body, labels["none"], css="overview", row_css=[colour_class(k) for k in kinds])


def sheets(report: Mapping[str, Any], labels: Mapping[str, str], cast_ids: Mapping[str, int]) -> str:
    """One breakdown sheet per scene, grouped by episode (listed episodes first), then stray shots."""
    titles = {number_key(row.get("number")): row.get("title") for row in rows(report, "episodes")}
    scenes = rows(report, "scenes")
    grouped: dict[Any, list[tuple[Mapping[str, Any], tuple[str | None, str | None]]]] = {
        n: [] for n in titles
    }
    for scene, kind in zip(scenes, classify(scenes), strict=True):
        grouped.setdefault(number_key(scene.get("episode")), []).append((scene, kind))
    shots = _shots_by_scene(report)
    parts: list[str] = []
    for number, members in grouped.items():
        name = labels["episode_name"].format(number=number)
        title = titles.get(number)
        heading = f"{name}{labels['title_sep']}{title}" if title else name
        parts.append(f'<h2 class="episode-title">{esc(heading)}</h2>')
        for scene, kind in members:
            key = (number, number_key(scene.get("number")))
            parts.append(_sheet(scene, kind, shots.pop(key, []), labels, cast_ids))
    orphans = [shot for group in shots.values() for shot in group]
    if orphans:
        parts.append(f'<section class="orphans">\n<h2>{esc(labels["other_shots"])}</h2>')
        parts.append(shot_table(orphans, labels, with_scene=True))
        parts.append("</section>")
    return "\n".join(parts)


def _sheet(
    scene: Mapping[str, Any],
    kind: tuple[str | None, str | None],
    shots: Sequence[Mapping[str, Any]],
    labels: Mapping[str, str],
    cast_ids: Mapping[str, int],
) -> str:
    number = scene.get("number")
    anchor = f' id="scene-{number}"' if is_int(number) else ""
    heading = scene.get("heading") or labels["scene_name"].format(number=number)
    pairs = [
        *([(labels["scene_no"], scene["scene_no"])] if scene.get("scene_no") else []),
        (labels["episode"], scene.get("episode")),
        (labels["int_ext"], word(labels, scene.get("int_ext"))),
        (labels["time"], scene.get("time")),
        (labels["day_night"], day_night(labels, kind[1])),
        (labels["location"], scene.get("location")),
        (labels["shots"], len(shots)),
    ]
    meta = "".join(f"<div><dt>{esc(label)}</dt><dd>{esc(value)}</dd></div>" for label, value in pairs)
    cast = _box("cast", labels["cast"], _cast_items(scene.get("characters"), cast_ids), labels)
    props = _box("props", labels["props"], [esc(p) for p in _names(scene.get("props"))], labels)
    extras = _names(scene.get("background"))
    background = _box("background", labels["background"], [esc(b) for b in extras], labels) if extras else ""
    notes = f'<section class="box notes print-only"><h4>{esc(labels["notes"])}</h4><div></div></section>'
    shot_list = shot_table(shots, labels) if shots else f'<p class="empty">{esc(labels["no_shots"])}</p>'
    return (
        f'<article class="sheet"{anchor}>\n<header class="sheet-head {colour_class(kind)}">'
        f'<div class="sheet-no"><span>{esc(labels["scene"])}</span><strong>{esc(number)}</strong></div>'
        f'<div><h3>{esc(heading)}</h3><dl class="sheet-facts">{meta}</dl></div></header>\n'
        f'<div class="elements">{cast}{props}{background}{notes}</div>\n'
        f'<div class="shot-list"><h4>{esc(labels["shot_list"])}</h4>\n{shot_list}</div>\n</article>'
    )


def _box(css: str, title: str, items: Sequence[str], labels: Mapping[str, str]) -> str:
    inner = (
        "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"
        if items
        else f'<p class="empty">{esc(labels["none"])}</p>'
    )
    return f'<section class="box {css}"><h4>{esc(title)}</h4>{inner}</section>'


def _names(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _cast_items(names: Any, cast_ids: Mapping[str, int]) -> list[str]:
    """The scene's cast, numbered ones first in cast order, as a breakdown sheet lists them."""

    def rank(entry: tuple[int, Any]) -> tuple[int, int]:
        i, name = entry
        return (cast_ids[name], 0) if isinstance(name, str) and name in cast_ids else (len(cast_ids) + 1, i)

    items = []
    for _, name in sorted(enumerate(_names(names)), key=rank):
        number = cast_ids.get(name) if isinstance(name, str) else None
        badge = f'<span class="cast-id">{number}</span>' if number is not None else ""
        items.append(f"{badge}{esc(name)}")
    return items


def _cast_refs(names: Any, cast_ids: Mapping[str, int]) -> Markup:
    """A scene's cast numbers in order, as on a strip; a name without a number is written out."""
    listed = _names(names)
    numbers = sorted({cast_ids[n] for n in listed if isinstance(n, str) and n in cast_ids})
    others = [esc(n) for n in listed if not (isinstance(n, str) and n in cast_ids)]
    return Markup(", ".join([*map(str, numbers), *others]))


def _shots_by_scene(report: Mapping[str, Any]) -> dict[tuple[Any, Any], list[Mapping[str, Any]]]:
    shots: dict[tuple[Any, Any], list[Mapping[str, Any]]] = {}
    for shot in rows(report, "shots"):
        shots.setdefault((number_key(shot.get("episode")), number_key(shot.get("scene"))), []).append(shot)
    return shots


def shot_table(
    shots: Iterable[Mapping[str, Any]], labels: Mapping[str, str], *, with_scene: bool = False
) -> str:
    """A shot list: number, type (in the page's language), description, characters, props."""
    keys: tuple[str, ...] = ("episode", "scene") if with_scene else ()
    keys += ("number", "type", "description", "characters", "props")
    body = (
        [word(labels, shot.get(key)) if key == "type" else shot.get(key) for key in keys] for shot in shots
    )
    return table([labels[key] for key in keys], body, labels["none"], css="shots")
