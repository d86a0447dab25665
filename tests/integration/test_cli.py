"""The CLI's contract on real PostgreSQL and Redis, run in-process through ``entrypoint``: exit
codes, one-line errors for bad options, and the outcome of each id on several."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from entrypoints.cli import ExitCode, entrypoint
from entrypoints.testing import drain
from models import ScriptContent
from pipeline import jobs
from pipeline.db import session_factory
from pipeline.settings import Settings

SCRIPT = "INT. KITCHEN - NIGHT\n\nMARY pours coffee.\n\nMARY\nWho's there?\n"


pytestmark = pytest.mark.usefixtures("unhook_logging")


@pytest.fixture
def cli_env(pg_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The CLI reads its settings from the environment, as in a shell: point it at the test's own."""
    monkeypatch.setenv("JUBEN_DATABASE__URL", pg_settings.database.url)
    monkeypatch.setenv("JUBEN_BROKER__URL", pg_settings.broker.url)
    monkeypatch.setenv("JUBEN_BROKER__NAMESPACE", pg_settings.broker.namespace)
    return pg_settings


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert 1 == len(lines), text
    assert "Traceback" not in text
    return lines[0]


def _failed_job(broker, worker) -> str:
    worker.pause()  # the stored script is spoiled before ingest can read it, not in a race with it
    job_id = jobs.submit(SCRIPT, project="cli")
    with session_factory()() as s, s.begin():
        s.execute(update(ScriptContent).where(ScriptContent.job_id == job_id).values(sha256="0" * 64))
    worker.resume()
    drain(broker, worker)
    return job_id


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["report", "x", "--format", "csv", "--table", "nope"], "scenes, characters"),
        (["report", "x", "--format", "pdf"], "html, json, csv"),
        (["rerun", "x", "--from-stage", "nope", "--dry-run"], "ingest, chunk"),
        (["dlq", "list", "--stage", "nope"], "extract, dedup"),
        (["jobs", "--status", "nope"], "COMPLETED, FAILED"),
        (["rerun", "--status", "done", "--from-stage", "dedup"], "COMPLETED, FAILED"),
    ],
)
def test_an_unknown_choice_is_one_line_listing_the_choices_and_exit_2(cli_env, capsys, argv, names):
    """Enum-like options refuse unknown values before anything runs, naming the valid ones."""
    code = entrypoint(argv)

    assert ExitCode.USAGE == code
    assert names in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("sets", "says"),
    [
        ("max_chunk_chars=abc", "valid integer"),
        ("bogus_key=1", "unknown key"),
        ("provider=x", "'rules' or 'openai'"),
    ],
)
def test_a_bad_set_is_refused_before_any_job_changes(cli_env, stub_worker, capsys, sets, says):
    """--set keys and values are checked against the settings' types; the job is left as it was."""
    broker, worker = stub_worker
    job_id = jobs.submit(SCRIPT, project="cli")
    drain(broker, worker)

    code = entrypoint(["rerun", job_id, "--from-stage", "chunk", "--set", sets])

    assert (ExitCode.USAGE, "COMPLETED", 1) == (
        code,
        jobs.get_status(job_id).status,
        jobs.get_status(job_id).run,
    )
    assert says in _one_line(capsys.readouterr().err)


def test_watch_exits_by_how_the_job_ended(cli_env, stub_worker, capsys):
    """watch: 0 for COMPLETED, 5 for FAILED, 6 for CANCELLED."""
    broker, worker = stub_worker
    done = jobs.submit(SCRIPT, project="cli")
    drain(broker, worker)
    failed = _failed_job(broker, worker)
    worker.pause()
    cancelled = jobs.submit(SCRIPT, project="cli")
    jobs.cancel(cancelled)

    codes = [entrypoint(["watch", job_id, "--json"]) for job_id in (done, failed, cancelled)]

    assert [ExitCode.OK, ExitCode.JOB_FAILED, ExitCode.JOB_CANCELLED] == codes


def test_cancel_of_a_good_and_an_unknown_id_reports_both_and_exits_3(cli_env, stub_worker, capsys):
    """Each id gets its outcome; one unknown id makes the exit code 3."""
    _, worker = stub_worker
    worker.pause()
    good = jobs.submit(SCRIPT, project="cli")

    code = entrypoint(["cancel", good, "nosuchjob"])

    said = capsys.readouterr()
    assert ExitCode.NOT_FOUND == code
    assert f"{good}: cancelled" in said.out
    assert "error: no job nosuchjob" == _one_line(said.err)
    assert "CANCELLED" == jobs.get_status(good).status


def test_rerun_of_a_running_job_without_force_is_refused_with_exit_2(cli_env, stub_worker, capsys):
    """A refused re-run is a failure the exit code shows, not a success that re-ran nothing."""
    stub_worker[1].pause()
    job_id = jobs.submit(SCRIPT, project="cli")

    code = entrypoint(["rerun", job_id, "--from-stage", "dedup"])

    assert ExitCode.USAGE == code
    assert "--force" in capsys.readouterr().err


def test_unknown_ids_exit_3(cli_env, capsys):
    """rerun --dry-run, dlq retry and dlq show of ids that do not exist say so and exit 3."""
    codes = [
        entrypoint(["rerun", "nosuchjob", "--dry-run"]),
        entrypoint(["dlq", "retry", "999"]),
        entrypoint(["dlq", "show", "999"]),
        entrypoint(["status", "nosuchjob"]),
    ]

    assert [ExitCode.NOT_FOUND] * 4 == codes
    assert ["error: no job nosuchjob", "error: no dead letter 999"] == capsys.readouterr().err.splitlines()[
        :2
    ]


def test_submit_with_redis_down_prints_the_id_warns_and_exits_0(
    cli_env, no_broker, monkeypatch, capsys, tmp_path
):
    """The job is stored and will run: its id on stdout, one warning on stderr, exit 0."""
    monkeypatch.setenv("JUBEN_BROKER__URL", "redis://127.0.0.1:1/0")
    script = tmp_path / "kitchen.fountain"
    script.write_text(SCRIPT)

    code = entrypoint(["submit", str(script)])

    said = capsys.readouterr()
    job_id = said.out.strip()
    assert (ExitCode.OK, "PENDING") == (code, jobs.get_status(job_id).status)
    assert [f"warning: job {job_id} is stored"] == [
        line.split(", but")[0] for line in said.err.splitlines() if line.startswith("warning:")
    ]


@pytest.mark.parametrize(
    ("url", "code", "says"),
    [
        ("not a url", ExitCode.USAGE, "not a database URL"),
        ("mysql://u:secret@h/db", ExitCode.USAGE, "names a mysql database"),
        (
            "postgresql+psycopg2://nobody@127.0.0.1:5432/postgres",
            ExitCode.UNAVAILABLE,
            "check the user and password",
        ),
        (
            "postgresql+psycopg2://postgres@127.0.0.1:5432/juben_never_made",
            ExitCode.UNAVAILABLE,
            "db upgrade",
        ),
    ],
)
def test_database_url_problems_are_one_line_with_their_own_hint(monkeypatch, capsys, url, code, says):
    """A URL that is not one, names another kind of database, a wrong role, a missing database."""
    monkeypatch.setenv("JUBEN_DATABASE__URL", url)

    result = entrypoint(["jobs"])

    line = _one_line(capsys.readouterr().err)
    assert (code, True, False) == (result, says in line, "secret" in line)


def test_report_json_prints_what_it_wrote(cli_env, stub_worker, capsys, tmp_path):
    """report --json --out: the metadata of the file written, as JSON."""
    import json

    broker, worker = stub_worker
    job_id = jobs.submit(SCRIPT, project="cli")
    drain(broker, worker)
    out = tmp_path / "chars.csv"

    code = entrypoint(
        ["report", job_id, "--format", "csv", "--table", "characters", "--out", str(out), "--json"]
    )

    meta = json.loads(capsys.readouterr().out)
    assert (0, "characters", str(out), out.stat().st_size) == (
        code,
        meta["table"],
        meta["path"],
        meta["bytes"],
    )
    assert out.read_text().startswith("name")
