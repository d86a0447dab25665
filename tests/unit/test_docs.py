"""The project's promises on paper: README commands, CI, docker-compose."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```(?:bash|sh)\n(.*?)```", readme, re.DOTALL)


def test_ci_runs_the_readme_test_command():
    """.ci/run calls the test command the README gives."""
    test_command = next(block.strip() for block in _readme_commands() if "pytest" in block)

    assert test_command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_first_command_runs_an_example():
    """The README's first command sets up and runs a sample in the embedded mode."""
    first = _readme_commands()[0]

    assert "pip install" in first
    assert "python enqueue.py run examples/" in first


def test_compose_file_declares_the_production_services():
    """docker-compose.yml has postgres, redis with AOF, a migration step and restartable workers."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]

    assert {"postgres", "redis", "migrate", "worker"} <= set(services)
    assert "--appendonly" in services["redis"]["command"]
    assert "yes" == services["redis"]["command"][services["redis"]["command"].index("--appendonly") + 1]
    assert "unless-stopped" == services["worker"]["restart"]
    assert "service_completed_successfully" == services["worker"]["depends_on"]["migrate"]["condition"]
    for name, service in services.items():
        assert "image" in service or "build" in service, name
    api = services["api"]
    assert "api.py" in api["command"] and "/readyz" in " ".join(api["healthcheck"]["test"])
    assert "service_completed_successfully" == api["depends_on"]["migrate"]["condition"]


def test_the_image_holds_every_package_and_entry_script_the_project_installs():
    """The Dockerfile copies each top-level package and script that pyproject.toml installs (the
    image once lacked entrypoints/, and worker.py could not start in it)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    packages = project["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in (p.rstrip("*") for p in packages):
        assert f"COPY {package} ./{package}" in dockerfile, package
    for module in project["tool"]["setuptools"]["py-modules"]:
        assert f" {module}.py" in dockerfile, module


def test_the_cli_offers_the_csv_tables_the_report_renders():
    """`report --table` choices are stages.report.render.CSV_TABLES (the CLI keeps a copy to avoid importing stages)."""
    from entrypoints import cli
    from stages.report import render as reporting

    assert reporting.CSV_TABLES == cli.CSV_TABLES
