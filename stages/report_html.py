"""Render a job's breakdown report dict as one self-contained HTML page (pure: no I/O).

The page has inline CSS, no scripts and no external assets, so it can be mailed or opened
offline. Every value taken from the report is escaped: script text is hostile input.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: ``lang`` attribute when the job names no language (or an invalid one).
DEFAULT_LANGUAGE = "en"
#: A BCP 47 tag, loosely: only such a tag may reach the ``lang`` attribute.
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*$")

#: Page wording: (key, English, Chinese).
LABEL_ROWS: tuple[tuple[str, str, str], ...] = (
    ("report", "Breakdown report", "剧本拆解报告"),
    ("project", "Project", "项目"),
    ("job", "Job", "任务"),
    ("status", "Status", "状态"),
    ("created", "Created", "创建时间"),
    ("finished", "Finished", "完成时间"),
    ("stats", "Statistics", "统计"),
    ("summary", "Summary", "概览"),
    ("episodes", "Episodes", "集数"),
    ("scenes", "Scenes", "场次"),
    ("characters", "Characters", "人物"),
    ("locations", "Locations", "场景"),
    ("props", "Props", "道具"),
    ("shots", "Shots", "镜头"),
    ("name", "Name", "名称"),
    ("aliases", "Aliases", "别名"),
    ("role", "Role", "角色类型"),
    ("gender", "Gender", "性别"),
    ("age", "Age", "年龄"),
    ("dialogue_lines", "Dialogue lines", "台词数"),
    ("scene_count", "Scenes", "场次数"),
    ("first", "First appearance", "首次出场"),
    ("description", "Description", "描述"),
    ("scene_numbers", "Scene numbers", "场次"),
    ("episode", "Episode", "集"),
    ("scene", "Scene", "场"),
    ("int_ext", "INT/EXT", "内/外"),
    ("time", "Time", "时间"),
    ("episode_name", "Episode {number}", "第{number}集"),
    ("scene_name", "Scene {number}", "第{number}场"),
    ("location", "Location", "地点"),
    ("number", "#", "#"),
    ("type", "Type", "景别"),
    ("none", "None", "无"),
    ("no_shots", "No shots planned.", "未规划镜头。"),
    ("other_shots", "Shots of unlisted scenes", "未列出场次的镜头"),
    ("first_value", "Ep {episode} · Scene {scene}", "第{episode}集 · 第{scene}场"),
    ("title_sep", ": ", "："),
    ("author", "Author", "编剧"),
)
LABELS: dict[str, dict[str, str]] = {
    "en": {key: en for key, en, _ in LABEL_ROWS},
    "zh": {key: zh for key, _, zh in LABEL_ROWS},
}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei","Noto Sans CJK SC",
sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1d1d1f;line-height:1.45}
h1{margin-bottom:.25rem}h2{border-bottom:2px solid #ccc;padding-bottom:.2rem;margin-top:2.5rem}
h3{margin-bottom:.4rem}dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem}
dl.facts dt{font-weight:600;color:#555}dl.facts dd{margin:0}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem;font-size:.92rem}
th,td{border:1px solid #d0d0d0;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f1f1f4}tbody tr:nth-child(even){background:#fafafa}
ul.counts{display:flex;flex-wrap:wrap;gap:1rem;list-style:none;padding:0}
ul.counts li{border:1px solid #d0d0d0;border-radius:.4rem;padding:.5rem 1rem;min-width:6rem}
ul.counts strong{display:block;font-size:1.6rem}.scene{break-inside:avoid;margin-left:1rem}
.empty{color:#777;font-style:italic}
@media print{body{margin:0;max-width:none}.episode{break-before:page}}
""".strip()


def render_html(report: Mapping[str, Any]) -> str:
    """Render the report as a single self-contained HTML5 page for production staff.

    Args:
        report: The report dict (see ``stages.reporting``); ``job["language"]``, when present,
            sets the page's ``lang`` and, for Chinese, its labels.

    Returns:
        The page; every value from the report is HTML-escaped.
    """
    job = _mapping(report.get("job"))
    language = str(job.get("language") or DEFAULT_LANGUAGE)
    if not LANGUAGE_TAG.match(language):
        language = DEFAULT_LANGUAGE
    labels = LABELS["zh" if language.lower().startswith("zh") else "en"]
    title = str(job.get("title") or job.get("project") or labels["report"])
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{_esc(language.replace("_", "-"))}">',
        '<head>\n<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)} · {_esc(labels['report'])}</title>",
        f"<style>\n{CSS}\n</style>\n</head>\n<body>",
        _header(job, title, labels),
        _summary(report, labels),
        _characters(_rows(report, "characters"), labels),
        *(_named(_rows(report, key), key, labels) for key in ("locations", "props")),
        _episodes(report, labels),
        "</body>\n</html>\n",
    ]
    return "\n".join(parts)


def _esc(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return html.escape(", ".join("" if item is None else str(item) for item in value))
    if isinstance(value, Mapping):
        return html.escape(json.dumps(value, ensure_ascii=False, default=str))
    return html.escape(str(value))


def number_key(value: Any) -> Any:
    """Make an episode or scene number safe to use as a dict key.

    Args:
        value: The number as found in the report.

    Returns:
        ``value`` itself, or its ``repr`` when it is out of contract and unhashable (a list, say).
    """
    return value if value is None or isinstance(value, int | float | str) else repr(value)


def item_count(value: Any) -> int:
    """Count the items of a list field of the report.

    Args:
        value: The field's value.

    Returns:
        Its length, or 0 when it is missing or not a list.
    """
    return len(value) if isinstance(value, list | tuple | set | frozenset) else 0


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _rows(report: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    return [row for row in report.get(key) or () if isinstance(row, Mapping)]


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], empty: str) -> str:
    body = "\n".join("<tr>" + "".join(f"<td>{_esc(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="empty">{_esc(empty)}</p>'
    head = "".join(f"<th>{_esc(header)}</th>" for header in headers)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _facts(pairs: Iterable[tuple[str, Any]], css: str = "facts") -> str:
    items = "".join(f"<dt>{_esc(label)}</dt><dd>{_esc(value)}</dd>" for label, value in pairs)
    return f'<dl class="{css}">{items}</dl>'


def _header(job: Mapping[str, Any], title: str, labels: Mapping[str, str]) -> str:
    facts = _facts(
        [
            (labels["project"], job.get("project")),
            *([(labels["author"], job["author"])] if job.get("author") else []),
            (labels["job"], job.get("id")),
            (labels["status"], job.get("status")),
            (labels["created"], job.get("created_at")),
            (labels["finished"], job.get("finished_at")),
        ]
    )
    stats = _mapping(job.get("stats"))
    parts = ["<header>", f"<h1>{_esc(title)}</h1>", facts]
    if stats:
        pairs = ((str(key).replace("_", " "), value) for key, value in stats.items())
        parts += [f"<h2>{_esc(labels['stats'])}</h2>", _facts(pairs)]
    return "\n".join([*parts, "</header>"])


def _summary(report: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    keys = ("episodes", "scenes", "characters", "locations", "props", "shots")
    items = "".join(f"<li><strong>{len(_rows(report, key))}</strong>{_esc(labels[key])}</li>" for key in keys)
    return f'<section>\n<h2>{_esc(labels["summary"])}</h2>\n<ul class="counts">{items}</ul>\n</section>'


def _characters(rows: Sequence[Mapping[str, Any]], labels: Mapping[str, str]) -> str:
    keys = ("name", "aliases", "role", "gender", "age", "dialogue_lines")
    headers = [labels[key] for key in (*keys, "scene_count", "first", "description")]
    table = _table(
        headers,
        (
            [
                *(row.get(key) for key in keys),
                item_count(row.get("scenes")),
                _first(row, labels),
                row.get("description"),
            ]
            for row in rows
        ),
        labels["none"],
    )
    return f"<section>\n<h2>{_esc(labels['characters'])}</h2>\n{table}\n</section>"


def _first(row: Mapping[str, Any], labels: Mapping[str, str]) -> str | None:
    if row.get("first_scene") is None:
        return None
    if row.get("first_episode") is None:
        return labels["scene_name"].format(number=row["first_scene"])
    return labels["first_value"].format(episode=row["first_episode"], scene=row["first_scene"])


def _named(rows: Sequence[Mapping[str, Any]], key: str, labels: Mapping[str, str]) -> str:
    table = _table(
        [labels["name"], labels["scene_count"], labels["scene_numbers"]],
        ([row.get("name"), item_count(row.get("scenes")), row.get("scenes")] for row in rows),
        labels["none"],
    )
    return f"<section>\n<h2>{_esc(labels[key])}</h2>\n{table}\n</section>"


def _episodes(report: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """One section per episode (listed ones first), each holding its scenes and their shots."""
    titles = {number_key(row.get("number")): row.get("title") for row in _rows(report, "episodes")}
    scenes: dict[Any, list[Mapping[str, Any]]] = {number: [] for number in titles}
    for scene in _rows(report, "scenes"):
        scenes.setdefault(number_key(scene.get("episode")), []).append(scene)
    shots: dict[tuple[Any, Any], list[Mapping[str, Any]]] = {}
    for shot in _rows(report, "shots"):
        shots.setdefault((number_key(shot.get("episode")), number_key(shot.get("scene"))), []).append(shot)
    parts: list[str] = []
    for number, episode_scenes in scenes.items():
        name = labels["episode_name"].format(number=number)
        title = titles.get(number)
        heading = f"{name}{labels['title_sep']}{title}" if title else name
        parts.append(f'<section class="episode">\n<h2>{_esc(heading)}</h2>')
        for scene in episode_scenes:
            parts.append(_scene(scene, shots.pop((number, number_key(scene.get("number"))), []), labels))
        parts.append("</section>")
    orphans = [shot for group in shots.values() for shot in group]
    if orphans:
        parts.append(f"<section>\n<h2>{_esc(labels['other_shots'])}</h2>")
        parts.append(_shot_table(orphans, labels, with_scene=True))
        parts.append("</section>")
    return "\n".join(parts)


def _scene(scene: Mapping[str, Any], shots: Sequence[Mapping[str, Any]], labels: Mapping[str, str]) -> str:
    number = scene.get("number")
    name = labels["scene_name"].format(number=number)
    heading = f"{name}{labels['title_sep']}{scene['heading']}" if scene.get("heading") else name
    facts = _facts(
        (labels[key], scene.get(key)) for key in ("int_ext", "time", "location", "characters", "props")
    )
    shot_list = _shot_table(shots, labels) if shots else f'<p class="empty">{_esc(labels["no_shots"])}</p>'
    return f'<section class="scene">\n<h3>{_esc(heading)}</h3>\n{facts}\n{shot_list}\n</section>'


def _shot_table(
    shots: Sequence[Mapping[str, Any]], labels: Mapping[str, str], *, with_scene: bool = False
) -> str:
    keys: tuple[str, ...] = ("episode", "scene") if with_scene else ()
    keys += ("number", "type", "description", "characters", "props")
    rows = ([shot.get(key) for key in keys] for shot in shots)
    return _table([labels[key] for key in keys], rows, labels["none"])
