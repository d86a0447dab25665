"""Juben's settings: one frozen, validated object, loaded once and passed down.

Sources, highest priority first: init arguments, ``JUBEN_<SECTION>__<KEY>`` environment
variables, then the TOML file named by ``JUBEN_SETTINGS`` (default: ``./settings.toml`` if it
exists, else the one shipped beside the code). Stages never read ``os.environ``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from pipeline.errors import InputError, SettingsError

#: The settings file shipped with the code, used when neither JUBEN_SETTINGS nor ./settings.toml exist.
DEFAULT_SETTINGS_FILE = Path(__file__).resolve().parent.parent / "settings.toml"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def check_database_url(url: str, *, kinds: tuple[str, ...]) -> str:
    """Return ``url`` if SQLAlchemy can parse it and it names one of ``kinds`` of database.

    >>> check_database_url("postgresql+psycopg2://u@h/db", kinds=("postgresql",))
    'postgresql+psycopg2://u@h/db'
    >>> check_database_url("mysql://u@h/db", kinds=("postgresql",))
    Traceback (most recent call last):
    ValueError: names a mysql database; Juben needs postgresql (postgresql+psycopg2://user@host:5432/name)

    Raises:
        ValueError: not a URL, or another kind of database (the message never repeats a password).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ValueError("not a database URL (expected postgresql+psycopg2://user@host:5432/name)") from None
    backend = parsed.get_backend_name()
    if backend not in kinds:
        raise ValueError(
            f"names a {backend} database; Juben needs {' or '.join(kinds)} "
            "(postgresql+psycopg2://user@host:5432/name)"
        )
    if backend == "postgresql" and not parsed.database:
        raise ValueError("names no database (postgresql+psycopg2://user@host:5432/name)")
    return url


class DatabaseSettings(_Section):
    url: str = "postgresql+psycopg2://postgres@127.0.0.1:5432/juben"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_database_url(value, kinds=("postgresql",))

    pool_size: int = Field(10, ge=1)
    max_overflow: int = Field(10, ge=0)
    pool_timeout_s: float = Field(30.0, gt=0)
    statement_timeout_ms: int = Field(60_000, ge=0)
    prepared_statements: bool = True
    echo: bool = False


class BrokerSettings(_Section):
    url: str = "redis://127.0.0.1:6379/0"
    namespace: str = Field("juben", min_length=1)
    worker_timeout_ms: int = Field(100, ge=10)
    max_connections: int = Field(200, ge=10)


class IngestSettings(_Section):
    max_bytes: int = Field(20_000_000, ge=1)


class ExtractSettings(_Section):
    """The extract stage and the LLM endpoint it (and an LLM storyboard) talks to."""

    provider: Literal["rules", "openai"] = "rules"
    max_chunk_chars: int = Field(6000, ge=200)
    base_url: str = "https://api.openai.com/v1"
    model: str = Field("gpt-4o-mini", min_length=1)
    #: The name of the environment variable holding the API key (the key never enters settings).
    api_key_env: str = Field("OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout_s: float = Field(180.0, gt=0)
    max_tokens: int = Field(4096, ge=64)
    temperature: float = Field(0.0, ge=0, le=2)
    response_format: Literal["json_schema", "json_object"] = "json_schema"
    context_tokens: int = Field(32_768, ge=2048)
    call_attempts: int = Field(4, ge=1)
    max_retry_wait_s: float = Field(60.0, gt=0)
    cache_ttl_s: int = Field(30 * 86_400, ge=0)
    rpm: int = Field(0, ge=0)
    tpm: int = Field(0, ge=0)
    roster_size: int = Field(40, ge=0)
    #: What the model's tokens cost, per million (0: not priced, no cost is shown), in ``currency``:
    #: a job's LLM use then shows its cost, the tokens times these prices.
    price_per_million_prompt_tokens: float = Field(0.0, ge=0)
    price_per_million_completion_tokens: float = Field(0.0, ge=0)
    currency: str = Field("USD", min_length=1, max_length=8)


class DedupSettings(_Section):
    character_threshold: float = Field(90.0, ge=0, le=100)
    location_threshold: float = Field(90.0, ge=0, le=100)
    prop_threshold: float = Field(92.0, ge=0, le=100)
    min_fuzzy_len: int = Field(5, ge=1)


class StageSettings(_Section):
    max_retries: int = Field(3, ge=0)
    min_backoff_ms: int = Field(1000, ge=0)
    max_backoff_ms: int = Field(60_000, ge=0)
    time_limit_s: int = Field(300, ge=1)


class StagesSettings(_Section):
    """``[stages]``: ``max_deaths``, and one ``[stages.<name>]`` table per stage of the state table.

    A stage's settings default to its spec's ``limits`` (extract: more retries, a longer time
    limit), then :class:`StageSettings`' own defaults; a stage with no table gets those.
    """

    max_deaths: int = Field(3, ge=1)
    #: ``[stages.<name>]`` by stage name (only what was given; see :meth:`for_stage`).
    per_stage: dict[str, StageSettings] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _stage_tables(cls, data: Any) -> Any:
        """Every key besides the fields names a stage: gather them under ``per_stage`` (over what
        ``per_stage`` already holds: a dumped model merged with other sources)."""
        if not isinstance(data, dict):
            return data
        from pipeline.states import STAGES

        given = {k: v for k, v in data.items() if k not in cls.model_fields}
        unknown = sorted(set(given) - set(STAGES.names))
        if unknown:
            raise ValueError(f"unknown stage {unknown[0]!r}; one of {', '.join(STAGES.names)}")
        fields = {k: v for k, v in data.items() if k in cls.model_fields}
        return {**fields, "per_stage": {**dict(fields.get("per_stage") or {}), **given}}

    def for_stage(self, name: str) -> StageSettings:
        """Return the settings of the stage called ``name``: its table, over its spec's defaults."""
        from pipeline.states import STAGES

        spec = STAGES.by_name.get(name)
        defaults = dict(spec.limits) if spec is not None else {}
        given = self.per_stage.get(name)
        if given is not None:
            defaults.update(given.model_dump(include=given.model_fields_set))
        return StageSettings(**defaults)


class StoryboardSettings(_Section):
    """The storyboard planner: rules, or the ``[extract]`` endpoint with its own prompt."""

    provider: Literal["rules", "openai"] = "rules"
    scenes_in_flight: int = Field(8, ge=1)


class ReconcileSettings(_Section):
    enabled: bool = True
    interval_s: float = Field(60.0, gt=0)
    ready_after_s: float = Field(120.0, gt=0)
    grace_s: float = Field(60.0, ge=0)


class MetricsSettings(_Section):
    enabled: bool = True
    host: str = "0.0.0.0"  # noqa: S104 (scraped from outside the host by design)
    port: int = Field(9191, ge=1, le=65535)
    #: Parent of each worker command's scratch folder, ``<dir>/<port>``: two worker commands on one
    #: host (different ports) never empty each other's.
    dir: str = "/tmp/juben-prometheus"  # noqa: S108 (a per-host scratch dir, emptied at worker start)

    @property
    def port_dir(self) -> Path:
        """This worker command's multiprocess folder."""
        return Path(self.dir) / str(self.port)


class ReportSettings(_Section):
    dir: str = "reports"


class EmbeddedSettings(_Section):
    #: The private PostgreSQL server's data folder (``database.url`` is then that server's).
    pg_dir: str = Field(".juben/pg", min_length=1)
    worker_threads: int = Field(2, ge=1)


class ApiSettings(_Section):
    """The HTTP API (``python api.py``)."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    #: uvicorn worker processes (the embedded mode always runs one).
    workers: int = Field(1, ge=1)
    #: Threads per process that run the (synchronous) service calls; keep it within the database
    #: pool (``database.pool_size`` + ``max_overflow``).
    threads: int = Field(8, ge=1)
    #: Submissions per minute allowed per API key (0: no limit), with ``submit_burst`` at once.
    submits_per_minute: int = Field(600, ge=0)
    submit_burst: int = Field(60, ge=1)
    #: Console sign-in attempts per minute allowed per client address (0: no limit), with
    #: ``sign_in_burst`` at once.
    sign_ins_per_minute: int = Field(10, ge=0)
    sign_in_burst: int = Field(10, ge=1)
    #: Requests slower than this are logged with route, status and duration (ms; 0: every request).
    slow_request_ms: int = Field(500, ge=0)
    #: Seconds between keep-alive comments on an idle event stream.
    sse_keepalive_s: float = Field(15.0, gt=0)
    #: Jobs each API process keeps for ``GET /v1/jobs/{id}`` until they change (0: none); about
    #: 7 KB each (a completed job's row, stats and stage timings).
    status_cache_size: int = Field(5_000, ge=0)
    #: Send ``X-Forwarded-*`` trust to uvicorn for these proxy addresses (comma-separated, or ``*``).
    forwarded_allow_ips: str = "127.0.0.1"


class WebhookSettings(_Section):
    """Webhooks: a job's end POSTed, signed, to its callback URL (``pipeline.webhooks``)."""

    #: Deliver to private, loopback and link-local addresses (an intranet receiver); off, they
    #: are refused at submit and at each attempt, so a callback cannot reach inside (SSRF).
    allow_private: bool = False
    timeout_s: float = Field(10.0, gt=0)
    max_retries: int = Field(6, ge=0)
    min_backoff_ms: int = Field(1000, ge=0)
    max_backoff_ms: int = Field(300_000, ge=0)
    #: Seconds between the dispatcher's sweeps for deliveries whose notification it missed.
    sweep_s: float = Field(10.0, gt=0)
    #: A tenant's callback URL for jobs submitted without one: ``{acme = "https://…"}``.
    tenant_urls: dict[str, str] = Field(default_factory=dict)

    @field_validator("tenant_urls")
    @classmethod
    def _urls(cls, value: dict[str, str]) -> dict[str, str]:
        from urllib.parse import urlsplit

        for tenant, url in value.items():
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{tenant}: {url!r} is not an http(s) URL with a host")
        return value


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "json", "console"] = "auto"


class Settings(BaseSettings):
    """Every setting Juben reads; ``settings.toml`` documents each key."""

    model_config = SettingsConfigDict(
        env_prefix="JUBEN_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
    )

    database: DatabaseSettings = DatabaseSettings()
    broker: BrokerSettings = BrokerSettings()
    ingest: IngestSettings = IngestSettings()
    extract: ExtractSettings = ExtractSettings()
    dedup: DedupSettings = DedupSettings()
    storyboard: StoryboardSettings = StoryboardSettings()
    stages: StagesSettings = StagesSettings()
    reconcile: ReconcileSettings = ReconcileSettings()
    metrics: MetricsSettings = MetricsSettings()
    report: ReportSettings = ReportSettings()
    embedded: EmbeddedSettings = EmbeddedSettings()
    api: ApiSettings = ApiSettings()
    webhooks: WebhookSettings = WebhookSettings()
    logging: LoggingSettings = LoggingSettings()
    #: "server" (PostgreSQL + Redis) or "embedded" (a private PostgreSQL + an in-process worker); set
    #: by the entry point.
    mode: Literal["server", "embedded"] = "server"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=settings_file()),
        )


def settings_file() -> Path:
    """Return the TOML file settings are read from."""
    named = os.environ.get("JUBEN_SETTINGS")
    if named:
        path = Path(named)
        if not path.is_file():
            raise SettingsError(f"JUBEN_SETTINGS names {named!r}, which is not a file")
        return path
    local = Path("settings.toml")
    return local if local.is_file() else DEFAULT_SETTINGS_FILE


def load_settings(**overrides: Any) -> Settings:
    """Load and validate the settings.

    Args:
        **overrides: section dicts or values that win over every other source.

    Returns:
        The validated settings.

    Raises:
        SettingsError: a key is unknown or a value is invalid; the message names the key.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            env = "JUBEN_" + "__".join(str(p) for p in err["loc"]).upper()
            message = str(err["msg"]).removeprefix("Value error, ")
            got = _redacted(key, err.get("input"))
            problems.append(f"{key}: {message} (got {got}; set in {settings_file()} or {env})")
        if len(problems) == 1:
            raise SettingsError(f"invalid settings: {problems[0]}") from None
        raise SettingsError("invalid settings:\n" + "\n".join(f"  {p}" for p in problems)) from None
    except ValueError as exc:  # a malformed TOML file
        raise SettingsError(f"cannot read settings from {settings_file()}: {exc}") from None


#: Per-job option keys (``--set KEY=VALUE``, recorded on the job) → the setting whose type and
#: bounds they take. ``time_limit_s`` is the job's messages' time limit (any stage's type).
JOB_OPTIONS: dict[str, tuple[type[BaseModel], str]] = {
    "max_chunk_chars": (ExtractSettings, "max_chunk_chars"),
    "provider": (ExtractSettings, "provider"),
    "storyboard_provider": (StoryboardSettings, "provider"),
    "model": (ExtractSettings, "model"),
    "base_url": (ExtractSettings, "base_url"),
    "temperature": (ExtractSettings, "temperature"),
    "max_tokens": (ExtractSettings, "max_tokens"),
    "timeout_s": (ExtractSettings, "timeout_s"),
    "response_format": (ExtractSettings, "response_format"),
    "time_limit_s": (StageSettings, "time_limit_s"),
}
#: Options Juben itself records (``--no-cache``), not settable with ``--set``.
_FLAG_OPTIONS = {"no_cache": bool}


@functools.cache
def _option_adapter(key: str) -> TypeAdapter[Any]:
    """The validator of one job option: its setting's type and bounds (built once per key)."""
    model, name = JOB_OPTIONS[key]
    return TypeAdapter(model.model_fields[name].rebuild_annotation())


def parse_option_pairs(pairs: Iterable[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` pairs (the CLI's ``--set``, the console's overrides) → a dict of strings,
    converted and checked by :func:`validate_job_options` against the settings' own types.

    Raises:
        InputError: a pair without ``=`` or without a key.
    """
    result: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set takes KEY=VALUE, got {pair!r}")
        result[key.strip()] = value
    return result


def validate_job_options(options: dict[str, Any]) -> dict[str, Any]:
    """Check per-job options against the types and bounds of the settings they override.

    >>> validate_job_options({"max_chunk_chars": "3000", "provider": "rules"})
    {'max_chunk_chars': 3000, 'provider': 'rules'}
    >>> validate_job_options({"max_chunk_chars": "abc"})
    Traceback (most recent call last):
    pipeline.errors.SettingsError: --set max_chunk_chars='abc': Input should be a valid integer, unable to parse string as an integer

    Returns:
        The options with their values converted (``"3000"`` → ``3000``).

    Raises:
        SettingsError: an unknown key (the message lists the known ones) or an invalid value.
    """
    checked: dict[str, Any] = {}
    for key, value in options.items():
        if key in _FLAG_OPTIONS:
            checked[key] = bool(value)
            continue
        if key not in JOB_OPTIONS:
            raise SettingsError(f"--set {key}: unknown key; one of {', '.join(JOB_OPTIONS)}")
        try:
            checked[key] = _option_adapter(key).validate_python(value)
        except ValidationError as exc:
            raise SettingsError(f"--set {key}={value!r}: {exc.errors()[0]['msg']}") from None
    return checked


def _redacted(key: str, value: Any) -> str:
    """``value`` for an error message, with a URL's password hidden (an unparsable URL entirely)."""
    if not key.endswith("url") or not isinstance(value, str):
        return repr(value)
    from sqlalchemy.engine import make_url

    try:
        return repr(make_url(value).render_as_string(hide_password=True))
    except Exception:  # not a URL: it may hold a password anywhere
        return "a value that is not shown"


_current: Settings | None = None


def get_settings() -> Settings:
    """Return this process's settings, loaded on first use."""
    global _current  # noqa: PLW0603 (one settings object per process, by design)
    if _current is None:
        _current = load_settings()
    return _current


def set_settings(settings: Settings | None) -> None:
    """Make ``settings`` this process's settings (entry points and tests); ``None`` reloads on next use."""
    global _current  # noqa: PLW0603
    _current = settings
