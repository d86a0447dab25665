"""Settings: TOML defaults, JUBEN_* overrides, another file by JUBEN_SETTINGS, clear errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from pipeline.errors import SettingsError
from pipeline.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_env_overrides_a_nested_key(monkeypatch):
    """JUBEN_<SECTION>__<KEY> wins over settings.toml."""
    monkeypatch.setenv("JUBEN_EXTRACT__MAX_CHUNK_CHARS", "1234")
    monkeypatch.setenv("JUBEN_STAGES__DEDUP__MAX_RETRIES", "7")

    settings = load_settings()

    assert (1234, 7) == (settings.extract.max_chunk_chars, settings.stages.for_stage("dedup").max_retries)


def test_a_bad_value_names_the_key_and_its_variable(monkeypatch):
    """An invalid value fails at start with the key and its environment variable named."""
    monkeypatch.setenv("JUBEN_DATABASE__POOL_SIZE", "zero")

    with pytest.raises(SettingsError, match=r"database\.pool_size.*JUBEN_DATABASE__POOL_SIZE"):
        load_settings()


def test_an_unknown_key_in_the_file_is_refused(tmp_path, monkeypatch):
    """A typo in a settings file is an error, not silently ignored."""
    path = tmp_path / "s.toml"
    path.write_text("[database]\nurll = 'x'\n")
    monkeypatch.setenv("JUBEN_SETTINGS", str(path))

    with pytest.raises(SettingsError, match=r"database\.urll"):
        load_settings()


def test_juben_settings_points_at_another_file(tmp_path, monkeypatch):
    """JUBEN_SETTINGS reads another file."""
    path = tmp_path / "s.toml"
    path.write_text("[broker]\nnamespace = 'elsewhere'\n")
    monkeypatch.setenv("JUBEN_SETTINGS", str(path))

    assert "elsewhere" == load_settings().broker.namespace


def _dump(model: BaseModel) -> dict:
    return {name: _dump(value) if isinstance(value, BaseModel) else value for name, value in model}


def test_settings_toml_lists_every_key_with_its_default():
    """settings.toml holds every key, each equal to the code's default: ``[stages]`` a table per
    stage of the state table, each with that stage's defaults."""
    from pipeline.settings import StagesSettings
    from pipeline.states import STAGES

    defaults = {
        name: _dump(field.default) if isinstance(field.default, BaseModel) else field.default
        for name, field in Settings.model_fields.items()
    }
    stages = StagesSettings()
    defaults["stages"] = {
        "max_deaths": stages.max_deaths,
        **{name: stages.for_stage(name).model_dump() for name in STAGES.names},
    }

    assert defaults == tomllib.loads((ROOT / "settings.toml").read_text(encoding="utf-8"))
