"""Render a job's breakdown report dict as one self-contained HTML page (pure: no I/O).

The page has inline CSS, no scripts and no external assets, so it can be mailed, opened
offline and printed: a cover (header, summary, processing figures), the scene overview and
the cast, location and prop tables, then one breakdown sheet per scene, each on its own page
when printed. Every value taken from the report is escaped: script text is hostile input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from stages.report.labels import labels_for, word
from stages.report.markup import (
    esc,
    facts,
    item_count,
    mapping,
    number_key,
    rows,
    scene_links,
    sheet_numbers,
    table,
    when,
)
from stages.report.sheets import SHEET_CSS, legend, location_uses, overview, sheets
from stages.storyboard.scene_kinds import classify

__all__ = ["item_count", "number_key", "render_html"]

#: ``lang`` attribute when the job names no language (or an invalid one).
DEFAULT_LANGUAGE = "en"
#: A BCP 47 tag, loosely: only such a tag may reach the ``lang`` attribute.
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*$")
#: Report lists counted in the summary, in reading order.
COUNTED = ("episodes", "scenes", "characters", "locations", "props", "shots")
#: Stats the summary already shows; the processing section leaves them out.
SUMMARY_STATS = frozenset({*COUNTED, "dialogue_lines"})
#: Processing stats with a label of their own, in display order.
KNOWN_STATS = (
    "characters_in_script",
    "encoding",
    "chunks",
    "provider",
    "llm_calls",
    "prompt_tokens",
    "completion_tokens",
    "cache_hits",
    "dedup",
)

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei","Noto Sans CJK SC",
sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1d1d1f;line-height:1.45}
h1{margin-bottom:.25rem}h2{border-bottom:2px solid #ccc;padding-bottom:.2rem;margin-top:2.5rem}
h3{margin-bottom:.4rem}dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem}
dl.facts dt{font-weight:600;color:#555}dl.facts dd{margin:0}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem;font-size:.92rem}
th,td{border:1px solid #d0d0d0;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f1f1f4}table:not(.overview) tbody tr:nth-child(even){background:#fafafa}
td.num,th.num{text-align:right}a{color:inherit}
ul.counts{display:flex;flex-wrap:wrap;gap:1rem;list-style:none;padding:0}
ul.counts li{border:1px solid #d0d0d0;border-radius:.4rem;padding:.5rem 1rem;min-width:6rem}
ul.counts strong{display:block;font-size:1.6rem}nav ul{display:flex;flex-wrap:wrap;gap:.3rem 1.2rem;padding:0;
list-style:none}.empty,.note{color:#666;font-style:italic}.print-only{display:none}
@media print{
@page{size:A4;margin:12mm}
body{margin:0;max-width:none;font-size:10pt}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
nav{display:none}.print-only{display:block}a{text-decoration:none}
h2,h3,h4{break-after:avoid}tr,.box,.sheet-head,ul.counts li{break-inside:avoid}
thead{display:table-header-group}
.break,.episode-title,.sheet{break-before:page}#sheets+.episode-title,.episode-title+.sheet{break-before:avoid}
.episode-title{margin-top:0}.sheet{margin:0 0 1rem}
}
""".strip()


def render_html(report: Mapping[str, Any]) -> str:
    """Render the report as a single self-contained HTML5 page for production staff.

    Args:
        report: The report dict (see ``stages.report.render``); ``job["language"]``, when present,
            sets the page's ``lang`` and, for Chinese, its labels.

    Returns:
        The page; every value from the report is HTML-escaped.
    """
    job = mapping(report.get("job"))
    language = str(job.get("language") or DEFAULT_LANGUAGE)
    if not LANGUAGE_TAG.match(language):
        language = DEFAULT_LANGUAGE
    labels = labels_for(language)
    title = str(job.get("title") or job.get("project") or labels["report"])
    cast_ids = {
        row["name"]: i
        for i, row in enumerate(rows(report, "characters"), start=1)
        if isinstance(row.get("name"), str)
    }
    scene_numbers = sheet_numbers(scene.get("number") for scene in rows(report, "scenes"))
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{esc(language.replace("_", "-"))}">',
        '<head>\n<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)} · {esc(labels['report'])}</title>",
        f"<style>\n{CSS}\n{SHEET_CSS}\n</style>\n</head>\n<body>",
        _header(job, title, labels),
        _contents(labels),
        _summary(report, labels),
        _processing(mapping(job.get("stats")), labels),
        _section("overview", labels, overview(report, labels, cast_ids), css="break"),
        _section("characters", labels, _characters(report, labels, scene_numbers), css="break"),
        _section("locations", labels, _locations(report, labels, scene_numbers)),
        _section("props", labels, _named(rows(report, "props"), labels, scene_numbers)),
        _section("background", labels, _named(rows(report, "background"), labels, scene_numbers)),
        _section("sheets", labels, legend(labels), css="break"),
        sheets(report, labels, cast_ids),
        "</body>\n</html>\n",
    ]
    return "\n".join(parts)


def _section(key: str, labels: Mapping[str, str], body: str, css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f'<section id="{key}"{cls}>\n<h2>{esc(labels[key])}</h2>\n{body}\n</section>'


def _header(job: Mapping[str, Any], title: str, labels: Mapping[str, str]) -> str:
    pairs = [
        (labels["project"], job.get("project")),
        *([(labels["author"], job["author"])] if job.get("author") else []),
        (labels["job"], job.get("id")),
        (labels["status"], job.get("status")),
        *([(labels["run"], job["run"])] if job.get("run") is not None else []),
        *([(labels["language"], job["language"])] if job.get("language") else []),
        (labels["created"], when(job.get("created_at"))),
        (labels["finished"], when(job.get("finished_at"))),
    ]
    return "\n".join(["<header>", f"<h1>{esc(title)}</h1>", facts(pairs), "</header>"])


def _contents(labels: Mapping[str, str]) -> str:
    keys = ("summary", "processing", "overview", "characters", "locations", "props", "background", "sheets")
    links = "".join(f'<li><a href="#{key}">{esc(labels[key])}</a></li>' for key in keys)
    return f'<nav aria-label="{esc(labels["contents"])}"><ul>{links}</ul></nav>'


def _summary(report: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    counts: list[tuple[Any, str]] = [(len(rows(report, key)), labels[key]) for key in COUNTED]
    lines = mapping(mapping(report.get("job")).get("stats")).get("dialogue_lines")
    if lines is not None:
        counts.append((lines, labels["dialogue_lines"]))
    kinds = classify(rows(report, "scenes"))
    if kinds:
        sides = [sum(1 for s, _ in kinds if s == side) for side in ("INT", "EXT")]
        lights = [sum(1 for _, lit in kinds if lit == name) for name in ("day", "night", "twilight")]
        counts.append((f"{sides[0]} / {sides[1]}", labels["int_ext_split"]))
        counts.append((" / ".join(map(str, lights)), labels["day_night_split"]))
    items = "".join(f"<li><strong>{esc(count)}</strong>{esc(label)}</li>" for count, label in counts)
    heading = f"<h2>{esc(labels['summary'])}</h2>"
    return f'<section id="summary">\n{heading}\n<ul class="counts">{items}</ul>\n</section>'


def _stat(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return value


def _processing(stats: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """Known figures as a fact list, time per stage as a table, any other figure as key/value rows."""
    known = [(labels[f"stat:{key}"], _stat(stats[key])) for key in KNOWN_STATS if stats.get(key) is not None]
    parts = [facts(known)] if known else []
    seconds = mapping(stats.get("stage_seconds"))
    if seconds:
        timed = [(name, value) for name, value in seconds.items() if isinstance(value, int | float)]
        body: list[list[Any]] = [[word(labels, name), f"{value:.2f}"] for name, value in timed]
        body.append([labels["total"], f"{sum(value for _, value in timed):.2f}"])
        parts += [
            f"<h3>{esc(labels['stage_seconds'])}</h3>",
            table([labels["stage"], labels["seconds"]], body, ""),
        ]
    usage = mapping(stats.get("llm"))
    if usage:
        keys = ("calls", "prompt_tokens", "completion_tokens", "cache_hits", "chunks", "call_seconds")
        body = [[labels[f"llm:{key}"], _stat(usage[key])] for key in keys if usage.get(key) is not None]
        parts += [f"<h3>{esc(labels['llm_usage'])}</h3>", table([labels["key"], labels["value"]], body, "")]
    other = [
        [str(key).replace("_", " "), _stat(value)]
        for key, value in stats.items()
        if key not in SUMMARY_STATS
        and key not in KNOWN_STATS
        and key not in ("stage_seconds", "llm")
        and value is not None
    ]
    if other:
        parts += [
            f"<h3>{esc(labels['other_stats'])}</h3>",
            table([labels["key"], labels["value"]], other, ""),
        ]
    if not parts:
        parts = [f'<p class="empty">{esc(labels["none"])}</p>']
    return _section("processing", labels, "\n".join(parts))


def _characters(report: Mapping[str, Any], labels: Mapping[str, str], scene_numbers: frozenset[int]) -> str:
    keys = ("cast_id", "name", "aliases", "role", "gender", "age", "dialogue_lines", "scene_count", "first")
    body = (
        [
            i,
            row.get("name"),
            row.get("aliases"),
            word(labels, row.get("role")),
            word(labels, row.get("gender")),
            row.get("age"),
            row.get("dialogue_lines"),
            item_count(row.get("scenes")),
            _first(row, labels),
            scene_links(row.get("scenes"), scene_numbers),
            row.get("description"),
        ]
        for i, row in enumerate(rows(report, "characters"), start=1)
    )
    headers = [*(labels[key] for key in keys), labels["scene_numbers"], labels["description"]]
    return table(headers, body, labels["none"], css="characters")


def _first(row: Mapping[str, Any], labels: Mapping[str, str]) -> str | None:
    if row.get("first_scene") is None:
        return None
    if row.get("first_episode") is None:
        return labels["scene_name"].format(number=row["first_scene"])
    return labels["first_value"].format(episode=row["first_episode"], scene=row["first_scene"])


def _locations(report: Mapping[str, Any], labels: Mapping[str, str], scene_numbers: frozenset[int]) -> str:
    """Locations with their scenes, and whether they are shot as interior, exterior or both."""
    used = location_uses(report)
    body = (
        [
            row.get("name"),
            item_count(row.get("scenes")),
            scene_links(row.get("scenes"), scene_numbers),
            " / ".join(used.get(number_key(row.get("name")), [])),
        ]
        for row in rows(report, "locations")
    )
    headers = [labels["name"], labels["scene_count"], labels["scene_numbers"], labels["used_as"]]
    return table(headers, body, labels["none"], css="locations")


def _named(
    items: Sequence[Mapping[str, Any]], labels: Mapping[str, str], scene_numbers: frozenset[int]
) -> str:
    body = (
        [row.get("name"), item_count(row.get("scenes")), scene_links(row.get("scenes"), scene_numbers)]
        for row in items
    )
    return table([labels["name"], labels["scene_count"], labels["scene_numbers"]], body, labels["none"])
