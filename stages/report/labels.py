"""The report page's wording in English and Chinese (pure data).

``labels_for(language)`` gives one flat mapping: page labels by key, and ``value:<word>`` keys
that translate the report's fixed vocabulary (shot types, roles, stages) for display only; the
report dict itself keeps its English values.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Page wording: (key, English, Chinese).
LABEL_ROWS: tuple[tuple[str, str, str], ...] = (
    ("report", "Breakdown report", "剧本拆解报告"),
    ("project", "Project", "项目"),
    ("job", "Job", "任务"),
    ("status", "Status", "状态"),
    ("run", "Run", "运行次数"),
    ("language", "Language", "语言"),
    ("created", "Created", "创建时间"),
    ("finished", "Finished", "完成时间"),
    ("author", "Author", "编剧"),
    ("contents", "Contents", "目录"),
    ("summary", "Summary", "概览"),
    ("processing", "Processing", "处理信息"),
    ("stage", "Stage", "阶段"),
    ("seconds", "Seconds", "秒"),
    ("total", "Total", "合计"),
    ("stage_seconds", "Time per stage", "各阶段耗时"),
    ("other_stats", "Other figures", "其他数据"),
    ("llm_usage", "LLM usage", "大模型用量"),
    ("llm:calls", "Calls", "调用次数"),
    ("llm:prompt_tokens", "Prompt tokens", "输入 token"),
    ("llm:completion_tokens", "Completion tokens", "输出 token"),
    ("llm:cache_hits", "Answered from cache", "缓存命中"),
    ("llm:chunks", "Chunks extracted", "抽取分块数"),
    ("llm:call_seconds", "Seconds in calls", "调用耗时（秒）"),
    ("key", "Key", "项"),
    ("value", "Value", "值"),
    ("episodes", "Episodes", "集数"),
    ("scenes", "Scenes", "场次"),
    ("characters", "Characters", "人物"),
    ("locations", "Locations", "场景"),
    ("props", "Props", "道具"),
    ("background", "Background (extras)", "群演"),
    ("shots", "Shots", "镜头"),
    ("dialogue_lines", "Dialogue lines", "台词数"),
    ("int_ext_split", "INT / EXT", "内景 / 外景"),
    ("day_night_split", "Day / Night / Dawn or dusk", "日景 / 夜景 / 晨昏"),
    ("overview", "Scene overview", "场次总表"),
    ("sheets", "Breakdown sheets", "分场拆解表"),
    ("legend", "Colour key", "颜色说明"),
    ("sheet_colours", "Sheet colour (INT/EXT and day/night)", "表头颜色（内外景与日夜）"),
    ("element_colours", "Element colours", "元素颜色"),
    ("name", "Name", "名称"),
    ("aliases", "Aliases", "别名"),
    ("role", "Role", "角色类型"),
    ("gender", "Gender", "性别"),
    ("age", "Age", "年龄"),
    ("scene_count", "Scenes", "场次数"),
    ("first", "First appearance", "首次出场"),
    ("description", "Description", "描述"),
    ("scene_numbers", "Scene numbers", "场次"),
    ("used_as", "INT/EXT", "内/外景"),
    ("cast_id", "Cast #", "演员编号"),
    ("episode", "Episode", "集"),
    ("scene", "Scene", "场"),
    ("heading", "Heading", "场景标题"),
    ("int_ext", "INT/EXT", "内/外"),
    ("time", "Time", "时间"),
    ("day_night", "Day/Night", "日/夜"),
    ("location", "Location / Set", "场景 / 布景"),
    ("cast", "Cast members", "演员"),
    ("notes", "Notes", "备注"),
    ("shot_list", "Shot list", "分镜表"),
    ("number", "#", "#"),
    ("type", "Type", "景别"),
    ("none", "None", "无"),
    ("unknown", "?", "?"),
    ("day", "Day", "日"),
    ("night", "Night", "夜"),
    ("twilight", "Dawn/Dusk", "晨昏"),
    ("scene_no", "Script's scene no.", "剧本场号"),
    ("no_shots", "No shots planned.", "未规划镜头。"),
    ("other_shots", "Shots of unlisted scenes", "未列出场次的镜头"),
    ("episode_name", "Episode {number}", "第{number}集"),
    ("scene_name", "Scene {number}", "第{number}场"),
    ("first_value", "Ep {episode} · Scene {scene}", "第{episode}集 · 第{scene}场"),
    ("title_sep", ": ", "："),
    ("int_day", "INT day: white", "内景 日：白色"),
    ("ext_day", "EXT day: yellow", "外景 日：黄色"),
    ("int_night", "INT night: blue", "内景 夜：蓝色"),
    ("ext_night", "EXT night: green", "外景 夜：绿色"),
    ("int_twilight", "INT dawn or dusk: light orange", "内景 晨昏：浅橙色"),
    ("ext_twilight", "EXT dawn or dusk: orange", "外景 晨昏：橙色"),
    ("unsorted", "INT/EXT or time unknown: grey", "内外景或时间不明：灰色"),
    ("cast_key", "Cast: red", "演员：红色"),
    ("props_key", "Props: violet", "道具：紫色"),
    ("background_key", "Background (extras): yellow", "群演：黄色"),
    ("set_key", "Location / set: in the sheet header", "场景 / 布景：见表头"),
    (
        "not_tracked",
        "Not extracted, left for hand entry in Notes: stunts (orange), special "
        "effects (blue), vehicles and animals (pink), sound and music (brown), wardrobe, make-up.",
        "以下元素未自动提取，可在备注栏手写：特技（橙）、特效（蓝）、车辆与动物（粉）、"
        "音效与音乐（棕）、服装、化妆。",
    ),
    ("stat:characters_in_script", "Script length (characters)", "剧本字数"),
    ("stat:encoding", "Encoding", "文件编码"),
    ("stat:chunks", "Chunks", "分块数"),
    ("stat:provider", "Extraction provider", "抽取方式"),
    ("stat:llm_calls", "LLM calls", "模型调用次数"),
    ("stat:prompt_tokens", "Prompt tokens", "输入 token 数"),
    ("stat:completion_tokens", "Completion tokens", "输出 token 数"),
    ("stat:cache_hits", "Cache hits", "缓存命中"),
    ("stat:dedup", "Deduplication", "去重结果"),
)
#: The report's fixed vocabulary in Chinese (English pages show the values as they are).
ZH_VALUES: Mapping[str, str] = {
    "INT": "内",
    "EXT": "外",
    "INT/EXT": "内/外",
    "establishing": "建立镜头",
    "wide": "远景",
    "medium": "中景",
    "close-up": "特写",
    "over-the-shoulder": "过肩镜头",
    "insert": "插入镜头",
    "lead": "主要角色",
    "supporting": "配角",
    "minor": "次要角色",
    "male": "男",
    "female": "女",
    "ingest": "读取",
    "chunk": "分块",
    "extract": "抽取",
    "dedup": "去重",
    "storyboard": "分镜",
    "report": "报告",
}
LABELS: dict[str, dict[str, str]] = {
    "en": {key: en for key, en, _ in LABEL_ROWS},
    "zh": {key: zh for key, _, zh in LABEL_ROWS} | {f"value:{k}": v for k, v in ZH_VALUES.items()},
}


def labels_for(language: str) -> Mapping[str, str]:
    """The wording for a page in ``language`` (Chinese for ``zh…``, English otherwise).

    >>> labels_for("zh-CN")["characters"], labels_for("en")["characters"]
    ('人物', 'Characters')
    """
    return LABELS["zh" if language.lower().startswith("zh") else "en"]


def word(labels: Mapping[str, str], value: object) -> object:
    """Display ``value`` in the page's language when it is a word of the report's vocabulary.

    >>> word(LABELS["zh"], "close-up"), word(LABELS["en"], "close-up"), word(LABELS["zh"], 3)
    ('特写', 'close-up', 3)
    """
    return labels.get(f"value:{value}", value) if isinstance(value, str) else value
