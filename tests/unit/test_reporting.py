"""Unit tests of the report renderers (stages.report.render: JSON, HTML, CSV)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stages.report.render import CSV_TABLES, render_csv, render_html, render_json
from stages.storyboard.scene_kinds import SHEET_COLOURS, classify, colour_class

HOSTILE = '<script>alert("x")</script>'


def make_report(**job: Any) -> dict[str, Any]:
    """A small two-scene report in the fixed shape; ``job`` overrides header fields."""
    return {
        "job": {
            "id": "job-1",
            "project": "Night Shift",
            "title": "Pilot",
            "status": "completed",
            "created_at": "2024-05-01T10:00:00+00:00",
            "finished_at": "2024-05-01T10:02:00+00:00",
            "stats": {"scenes": 2, "shots": 3},
            **job,
        },
        "episodes": [{"number": 1, "title": "Arrival"}],
        "scenes": [
            {
                "episode": 1,
                "number": 1,
                "heading": "INT. KITCHEN - NIGHT",
                "int_ext": "INT",
                "time": "NIGHT",
                "location": "KITCHEN",
                "characters": ["JOHN", "MARY"],
                "props": ["knife"],
            },
            {
                "episode": 1,
                "number": 2,
                "heading": "EXT. STREET - DAY",
                "int_ext": "EXT",
                "time": "DAY",
                "location": "STREET",
                "characters": [],
                "props": [],
            },
        ],
        "characters": [
            {
                "name": "JOHN",
                "aliases": ["John", "Johnny"],
                "scenes": [1],
                "first_scene": 1,
                "first_episode": 1,
                "dialogue_lines": 2,
                "description": "A tired cook.",
                "gender": "male",
                "age": "40s",
                "role": "lead",
            }
        ],
        "locations": [{"name": "KITCHEN", "scenes": [1]}, {"name": "STREET", "scenes": [2]}],
        "props": [{"name": "knife", "scenes": [1]}],
        "shots": [
            {
                "episode": 1,
                "scene": 1,
                "number": 1,
                "type": "establishing",
                "description": "Establishing: KITCHEN, NIGHT",
                "characters": [],
                "props": [],
            },
            {
                "episode": 1,
                "scene": 1,
                "number": 2,
                "type": "over-the-shoulder",
                "description": "JOHN: You're late.",
                "characters": ["JOHN", "MARY"],
                "props": ["knife"],
            },
            {
                "episode": 1,
                "scene": 2,
                "number": 1,
                "type": "establishing",
                "description": "Establishing: STREET, DAY",
                "characters": [],
                "props": [],
            },
        ],
    }


def make_chinese_report() -> dict[str, Any]:
    """A one-scene Chinese report with ``job["language"]`` set."""
    report = make_report(title="重逢", project="短剧", language="zh-CN")
    report["episodes"] = [{"number": 1, "title": "第一集"}]
    report["scenes"] = [
        {
            "episode": 1,
            "number": 1,
            "heading": "1-1 客厅 夜 内",
            "int_ext": "INT",
            "time": "夜",
            "location": "客厅",
            "characters": ["林夏", "陈默"],
            "props": ["信"],
        }
    ]
    report["characters"] = [{"name": "林夏", "aliases": ["小夏"], "scenes": [1], "first_scene": 1}]
    report["shots"] = [
        {
            "episode": 1,
            "scene": 1,
            "number": 1,
            "type": "close-up",
            "description": "林夏：烧了。",
            "characters": ["林夏"],
            "props": [],
        }
    ]
    return report


def hostile_report() -> dict[str, Any]:
    """A report where every user-derived string is a script tag."""
    report = make_report(title=HOSTILE, project=HOSTILE, status=HOSTILE, stats={HOSTILE: HOSTILE})
    report["episodes"][0]["title"] = HOSTILE
    report["scenes"][0].update(heading=HOSTILE, location=HOSTILE, characters=[HOSTILE], props=[HOSTILE])
    report["characters"][0].update(name=HOSTILE, aliases=[HOSTILE], description=HOSTILE, role=HOSTILE)
    report["locations"][0]["name"] = HOSTILE
    report["props"][0]["name"] = HOSTILE
    report["shots"][1].update(type=HOSTILE, description=HOSTILE, characters=[HOSTILE], props=[HOSTILE])
    return report


def read_csv(text: str) -> list[list[str]]:
    """Parse CSV text back into rows of cells."""
    return list(csv.reader(io.StringIO(text)))


def test_render_json_round_trips_and_keeps_chinese_readable() -> None:
    """The JSON parses back to the report and writes Chinese as itself, not as \\u escapes."""
    report = make_chinese_report()

    text = render_json(report)

    assert report == json.loads(text)
    assert "林夏：烧了。" in text
    assert "\\u" not in text


def test_render_json_keeps_key_order_as_built_and_indents_by_two() -> None:
    """Keys come out in the order the report was built (not sorted), indented by two spaces."""
    report = {"zeta": 1, "alpha": {"b": 2, "a": 3}}

    expected = '{\n  "zeta": 1,\n  "alpha": {\n    "b": 2,\n    "a": 3\n  }\n}\n'
    assert expected == render_json(report)


def test_render_json_writes_datetimes_as_text() -> None:
    """A datetime the builder left in the report is written as its str(), not an error."""
    when = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)

    expected = {"job": {"created_at": "2024-05-01 10:00:00+00:00"}}
    assert expected == json.loads(render_json({"job": {"created_at": when}}))


def _stdlib_json(report: Any) -> str:
    """What render_json wrote before it used orjson."""
    return json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n"


def test_render_json_writes_what_the_stdlib_wrote_for_a_report() -> None:
    """Byte for byte the text ``json.dumps(…, indent=2)`` wrote, for reports as the builder makes them
    (non-string keys, dates and odd values included)."""
    report: dict[str, Any] = {
        **make_chinese_report(),
        "extra": {1: "one", 2.5: [True, None, 0.83, -3, 1e16], "when": datetime(2024, 5, 1, tzinfo=UTC)},
        "empty": {"list": [], "dict": {}, "text": ""},
        "escapes": 'quote " backslash \\ tab \t newline \n \u2028 \x00',
    }

    assert _stdlib_json(report) == render_json(report)
    assert _stdlib_json(make_report()) == render_json(make_report())


_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_TREES = st.recursive(
    _LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)


@given(_TREES)
def test_render_json_reads_back_as_the_stdlib_json_does(value: Any) -> None:
    """Any JSON-like value reads back the same; the text differs only in how floats below 1e-4 are
    spelled (``0.00001`` for the stdlib's ``1e-05``)."""
    assert json.loads(_stdlib_json(value)) == json.loads(render_json(value))


def test_render_html_is_a_self_contained_utf8_page_without_scripts() -> None:
    """The page declares UTF-8, inlines its CSS and loads nothing: no script, link, src or URL."""
    page = render_html(make_report())

    assert page.startswith("<!DOCTYPE html>\n")
    assert '<meta charset="utf-8">' in page
    assert "<style>" in page
    expected = [False, False, False, False, False]
    assert expected == [marker in page.lower() for marker in ("<script", "<link", "src=", "http:", "https:")]


def test_render_html_shows_header_summary_tables_and_shot_lists() -> None:
    """Title, project, status, counts, each table and each scene's shots are on the page."""
    page = render_html(make_report())

    expected_fragments = [
        "<h1>Pilot</h1>",
        "<dt>Project</dt><dd>Night Shift</dd>",
        "<dt>Status</dt><dd>completed</dd>",
        "<dt>Created</dt><dd>2024-05-01 10:00 UTC</dd>",
        "<li><strong>2</strong>Scenes</li>",
        "<li><strong>3</strong>Shots</li>",
        "<li><strong>1 / 1</strong>INT / EXT</li>",
        "<td>1</td><td>JOHN</td><td>John, Johnny</td><td>lead</td><td>male</td><td>40s</td>"
        '<td>2</td><td>1</td><td>Ep 1 · Scene 1</td><td><a href="#scene-1">1</a></td><td>A tired cook.</td>',
        '<td>KITCHEN</td><td>1</td><td><a href="#scene-1">1</a></td><td>INT</td>',
        '<td>knife</td><td>1</td><td><a href="#scene-1">1</a></td>',
        '<h2 class="episode-title">Episode 1: Arrival</h2>',
        "<h3>INT. KITCHEN - NIGHT</h3>",
        "<td>2</td><td>over-the-shoulder</td><td>JOHN: You&#x27;re late.</td>"
        "<td>JOHN, MARY</td><td>knife</td>",
    ]
    assert [True] * len(expected_fragments) == [fragment in page for fragment in expected_fragments]


def test_render_html_processing_section_shows_every_stat() -> None:
    """Known stats get labels, stage times a table with a total, unknown keys a key/value table."""
    stats = {
        "characters_in_script": 2880,
        "encoding": "utf-8",
        "chunks": 1,
        "provider": "rules",
        "llm_calls": 4,
        "prompt_tokens": 12000,
        "completion_tokens": 300,
        "cache_hits": 1,
        "stage_seconds": {"ingest": 0.5, "extract": 1.25},
        "gpu": "none",
        "scenes": 2,
    }
    page = render_html(make_report(stats=stats))
    processing = page.split('<section id="processing">')[1].split("</section>")[0]

    expected_fragments = [
        "<dt>Script length (characters)</dt><dd>2,880</dd>",
        "<dt>Encoding</dt><dd>utf-8</dd>",
        "<dt>Chunks</dt><dd>1</dd>",
        "<dt>Extraction provider</dt><dd>rules</dd>",
        "<dt>LLM calls</dt><dd>4</dd>",
        "<dt>Prompt tokens</dt><dd>12,000</dd>",
        "<dt>Completion tokens</dt><dd>300</dd>",
        "<dt>Cache hits</dt><dd>1</dd>",
        "<td>extract</td><td>1.25</td>",
        "<td>Total</td><td>1.75</td>",
        "<td>gpu</td><td>none</td>",
    ]
    assert [True] * len(expected_fragments) == [fragment in processing for fragment in expected_fragments]
    assert "<td>scenes</td>" not in processing


def test_render_html_gives_each_scene_a_breakdown_sheet_coloured_by_int_ext_and_time() -> None:
    """Scene 1 (INT night) gets a blue sheet, scene 2 (EXT day) a yellow one, each with its facts."""
    page = render_html(make_report())

    expected_fragments = [
        '<article class="sheet" id="scene-1">\n<header class="sheet-head int-night">',
        '<article class="sheet" id="scene-2">\n<header class="sheet-head ext-day">',
        "<div><dt>Episode</dt><dd>1</dd></div><div><dt>INT/EXT</dt><dd>INT</dd></div>"
        "<div><dt>Time</dt><dd>NIGHT</dd></div><div><dt>Day/Night</dt><dd>Night</dd></div>"
        "<div><dt>Location / Set</dt><dd>KITCHEN</dd></div><div><dt>Shots</dt><dd>2</dd></div>",
        '<section class="box cast"><h4>Cast members</h4><ul><li><span class="cast-id">1</span>JOHN</li>'
        "<li>MARY</li></ul></section>",
        '<section class="box props"><h4>Props</h4><ul><li>knife</li></ul></section>',
        '<tr class="int-night"><td><a href="#scene-1">1</a></td><td>1</td><td>INT</td><td>Night</td>'
        "<td>KITCHEN</td><td>1, MARY</td><td>1</td><td>2</td></tr>",
    ]
    assert [True] * len(expected_fragments) == [fragment in page for fragment in expected_fragments]


def test_sheet_colours_follow_the_industry_scheme_in_english_and_chinese() -> None:
    """INT day white, EXT day yellow, INT night blue, EXT night green, dawn/dusk orange; 内/外 and Chinese times too."""
    cases = [
        ("INT", "DAY"),
        ("EXT", "MORNING"),
        ("INT", "NIGHT"),
        ("EXT", "DUSK"),
        ("内", "清晨"),
        ("外", "中午"),
        ("内", "傍晚"),
        ("外", "黄昏"),
        ("内", "晚"),
        ("外", "深夜"),
        ("内", "黎明"),
        ("INT/EXT", "夜"),
        ("INT", None),
        (None, "DAY"),
    ]
    scenes = [{"int_ext": int_ext, "time": time} for int_ext, time in cases]

    expected = ["int-day", "ext-day", "int-night", "ext-twilight", "int-day", "ext-day", "int-twilight"]
    expected += [
        "ext-twilight",
        "int-night",
        "ext-night",
        "int-twilight",
        "ext-night",
        "unsorted",
        "unsorted",
    ]
    assert expected == [colour_class(kind) for kind in classify(scenes)]
    assert {"int-day": "#ffffff", "ext-day": "#fff176", "int-night": "#90caf9", "ext-night": "#a5d6a7"} == {
        key: SHEET_COLOURS[key] for key in ("int-day", "ext-day", "int-night", "ext-night")
    }


def test_continuity_time_takes_the_light_of_the_scene_before() -> None:
    """A CONTINUOUS or 接上 scene is day or night as the scene before it is."""
    scenes = [
        {"int_ext": "EXT", "time": "NIGHT"},
        {"int_ext": "INT", "time": "CONTINUOUS"},
        {"int_ext": "内", "time": "日"},
        {"int_ext": "外", "time": "接上"},
    ]

    expected = [("EXT", "night"), ("INT", "night"), ("INT", "day"), ("EXT", "day")]
    assert expected == classify(scenes)


def test_render_html_has_a_colour_key_and_prints_one_sheet_per_page() -> None:
    """The legend names every colour, and print CSS breaks before sheets and never inside a row."""
    page = render_html(make_report())

    expected_fragments = [
        "INT day: white",
        "EXT day: yellow",
        "INT night: blue",
        "EXT night: green",
        "Cast: red",
        "Props: violet",
        "@media print{",
        ".sheet{break-before:page}",
        "tr,.box,.sheet-head,ul.counts li{break-inside:avoid}",
        "print-color-adjust:exact",
    ]
    assert [True] * len(expected_fragments) == [fragment in page for fragment in expected_fragments]


def test_render_html_puts_each_shot_under_its_own_scene() -> None:
    """Scene 2's sheet holds its establishing shot and none of scene 1's shots."""
    page = render_html(make_report())
    scene_two = page.split("<h3>EXT. STREET - DAY</h3>")[1]

    expected = (True, False)
    assert expected == ("Establishing: STREET, DAY" in scene_two, "You&#x27;re late" in scene_two)


def test_render_html_escapes_every_user_derived_value() -> None:
    """Script text in titles, names, headings, descriptions and stats comes out inert."""
    page = render_html(hostile_report())

    assert "<script" not in page
    # 20 hostile fields in hostile_report(); the title shows twice (<title> and <h1>) and scene 1's
    # location twice (its breakdown sheet and the scene overview).
    expected = 22
    assert expected == page.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;")


def test_render_html_lang_follows_the_job_language() -> None:
    """``lang`` is the job's language, English by default, and never a raw injected value."""
    pages = [
        render_html(make_report(language="zh-CN")),
        render_html(make_report()),
        render_html(make_report(language='en" onload="x')),
    ]

    expected = [True, True, True]
    assert expected == [
        '<html lang="zh-CN">' in pages[0],
        '<html lang="en">' in pages[1],
        '<html lang="en">' in pages[2],
    ]


def test_render_html_labels_a_chinese_report_in_chinese() -> None:
    """A Chinese job gets Chinese labels and its text unescaped into entities."""
    page = render_html(make_chinese_report())

    expected_fragments = [
        "<h2>人物</h2>",
        '<h2 class="episode-title">第1集：第一集</h2>',
        "<h3>1-1 客厅 夜 内</h3>",
        "<div><dt>日/夜</dt><dd>夜</dd></div>",
        "<td>特写</td><td>林夏：烧了。</td>",
        "内景 夜：蓝色",
    ]
    assert [True] * len(expected_fragments) == [fragment in page for fragment in expected_fragments]


def test_render_html_lists_shots_of_unlisted_scenes_separately() -> None:
    """A shot whose scene is not in the report is still shown, in its own section."""
    report = make_report()
    report["shots"].append(
        {"episode": 2, "scene": 9, "number": 1, "type": "wide", "description": "Lost shot."}
    )

    page = render_html(report)

    expected = ("Lost shot." in page, page.index("Shots of unlisted scenes") < page.index("Lost shot."))
    assert expected == (True, True)


def test_render_html_tolerates_an_empty_report() -> None:
    """A report with nothing in it (a failed job, say) still renders a page."""
    page = render_html({})

    expected = (True, True, True)
    assert expected == (
        "<h1>Breakdown report</h1>" in page,
        "<li><strong>0</strong>Shots</li>" in page,
        "None" in page,
    )


def test_render_csv_scenes_has_one_row_per_scene_with_its_shot_count() -> None:
    """The scenes table joins lists with "; ", counts each scene's shots and says day or night."""
    expected = [
        [
            "episode",
            "scene",
            "scene_no",
            "heading",
            "int_ext",
            "time",
            "location",
            "characters",
            "props",
            "shots",
            "day_night",
            "character_count",
            "prop_count",
        ],
        [
            "1",
            "1",
            "",
            "INT. KITCHEN - NIGHT",
            "INT",
            "NIGHT",
            "KITCHEN",
            "JOHN; MARY",
            "knife",
            "2",
            "night",
            "2",
            "1",
        ],
        ["1", "2", "", "EXT. STREET - DAY", "EXT", "DAY", "STREET", "", "", "1", "day", "0", "0"],
    ]
    assert expected == read_csv(render_csv(make_report()))


def test_render_csv_has_a_header_row_for_every_table() -> None:
    """Each table in CSV_TABLES renders with its documented columns."""
    expected = {
        "scenes": [
            "episode",
            "scene",
            "scene_no",
            "heading",
            "int_ext",
            "time",
            "location",
            "characters",
            "props",
            "shots",
            "day_night",
            "character_count",
            "prop_count",
        ],
        "characters": [
            "name",
            "aliases",
            "role",
            "gender",
            "age",
            "dialogue_lines",
            "scenes",
            "scene_count",
            "first_episode",
            "first_scene",
            "description",
            "cast_id",
        ],
        "locations": ["name", "scenes", "scene_count", "int_ext"],
        "props": ["name", "scenes", "scene_count"],
        "background": ["name", "scenes", "scene_count"],
        "shots": ["episode", "scene", "number", "type", "description", "characters", "props"],
    }
    assert expected == {table: read_csv(render_csv(make_report(), table))[0] for table in CSV_TABLES}


def test_render_csv_characters_and_shots_rows() -> None:
    """Character and shot rows carry their fields, lists joined with "; "; cast ids count from 1."""
    report = make_report()

    expected = (
        ["JOHN", "John; Johnny", "lead", "male", "40s", "2", "1", "1", "1", "1", "A tired cook.", "1"],
        ["1", "1", "2", "over-the-shoulder", "JOHN: You're late.", "JOHN; MARY", "knife"],
    )
    assert expected == (
        read_csv(render_csv(report, "characters"))[1],
        read_csv(render_csv(report, "shots"))[2],
    )


def test_render_csv_locations_say_how_each_place_is_used() -> None:
    """The locations table gives each place's scenes and whether it is shot INT, EXT or both."""
    expected = [["KITCHEN", "1", "1", "INT"], ["STREET", "2", "1", "EXT"]]
    assert expected == read_csv(render_csv(make_report(), "locations"))[1:]


def test_render_csv_keeps_chinese_text() -> None:
    """Chinese names and headings come through the CSV unchanged."""
    expected = [
        "1",
        "1",
        "",
        "1-1 客厅 夜 内",
        "INT",
        "夜",
        "客厅",
        "林夏; 陈默",
        "信",
        "1",
        "night",
        "2",
        "1",
    ]
    assert expected == read_csv(render_csv(make_chinese_report(), "scenes"))[1]


def test_render_csv_defuses_formula_injection() -> None:
    """Text cells starting with = + - @ or a tab get a leading apostrophe; others are untouched."""
    report = make_report()
    report["locations"] = [
        {"name": name, "scenes": [1]} for name in ("=1+1", "+SUM(A1)", "-2", "@cmd", "\tTAB", "Safe = fine")
    ]

    rows = read_csv(render_csv(report, "locations"))

    expected = ["'=1+1", "'+SUM(A1)", "'-2", "'@cmd", "'\tTAB", "Safe = fine"]
    assert expected == [row[0] for row in rows[1:]]


def test_render_csv_guards_joined_lists_but_not_numbers() -> None:
    """A list whose first item is a formula is guarded; a negative number is a number, not text."""
    report = make_report()
    report["characters"][0].update(aliases=["=HYPERLINK()", "Jo"], dialogue_lines=-1)

    row = read_csv(render_csv(report, "characters"))[1]

    expected = ("'=HYPERLINK(); Jo", "-1")
    assert expected == (row[1], row[5])


def test_render_csv_rejects_an_unknown_table_naming_the_valid_ones() -> None:
    """An unknown table name raises ValueError that lists every valid table."""
    with pytest.raises(ValueError, match="scenes, characters, locations, props, background, shots"):
        render_csv(make_report(), "assets")


def test_renderers_are_deterministic() -> None:
    """Rendering the same report twice gives identical text in every format."""
    report = make_report()

    first = [render_json(report), render_html(report), *(render_csv(report, t) for t in CSV_TABLES)]
    second = [render_json(report), render_html(report), *(render_csv(report, t) for t in CSV_TABLES)]

    assert first == second
