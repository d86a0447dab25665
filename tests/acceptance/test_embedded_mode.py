"""The embedded mode end to end through `python enqueue.py run`, as a new user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import EXAMPLES, ROOT

pytestmark = pytest.mark.slow


def run_cli(cwd, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUBEN_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, str(ROOT / "enqueue.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


#: Scripts in examples/ (truth files and notes beside them are not scripts).
SCRIPT_SUFFIXES = (".fountain", ".txt", ".fdx")
SAMPLES = sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in SCRIPT_SUFFIXES or p.is_dir())


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda name: name.encode("unicode_escape").decode())
def test_run_breaks_down_each_example(tmp_path, sample):
    """`run --json` on each example completes and its report lists scenes and speaking characters."""
    result = run_cli(tmp_path, "run", str(EXAMPLES / sample), "--project", "demo", "--json")

    assert 0 == result.returncode, result.stderr
    view = json.loads(result.stdout)
    assert "COMPLETED" == view["status"]
    report = json.loads((tmp_path / view["report_files"]["json"]).read_text(encoding="utf-8"))
    assert report["scenes"]
    assert [s["number"] for s in report["scenes"]] == list(range(1, len(report["scenes"]) + 1))
    assert any(c["dialogue_lines"] > 0 for c in report["characters"])
    html = (tmp_path / view["report_files"]["html"]).read_text(encoding="utf-8")
    assert report["characters"][0]["name"] in html


def test_run_shows_progress_and_prints_report_paths(tmp_path):
    """Without --json, `run` draws a progress bar to stderr and prints where the report files are."""
    result = run_cli(tmp_path, "run", str(EXAMPLES / "the-heist.fountain"))

    assert 0 == result.returncode, result.stderr
    assert "100%" in result.stderr
    assert "report (html): reports/" in result.stdout
    assert "report (json): reports/" in result.stdout


def test_a_folder_becomes_one_job_with_an_episode_per_file(tmp_path):
    """`run FOLDER` makes one job whose episodes are the files in name order."""
    result = run_cli(tmp_path, "run", str(EXAMPLES / "short-drama"), "--json")

    view = json.loads(result.stdout)
    report = json.loads((tmp_path / view["report_files"]["json"]).read_text(encoding="utf-8"))
    assert "short-drama" == report["job"]["title"]
    assert [1, 2, 3] == [e["number"] for e in report["episodes"]]


def test_embedded_jobs_can_be_queried_afterwards(tmp_path):
    """`--embedded status/jobs/report` read the jobs `run` left in the embedded database."""
    view = json.loads(run_cli(tmp_path, "run", str(EXAMPLES / "night-shift.fountain"), "--json").stdout)

    status = json.loads(run_cli(tmp_path, "--embedded", "status", view["id"], "--json").stdout)
    listing = json.loads(run_cli(tmp_path, "--embedded", "jobs", "--json").stdout)
    csv = run_cli(tmp_path, "--embedded", "report", view["id"], "--format", "csv", "--table", "characters")
    csv = csv.stdout

    assert "COMPLETED" == status["status"]
    assert [view["id"]] == [item["id"] for item in listing["items"]]
    assert csv.startswith("name,")


def test_bad_input_fails_cleanly(tmp_path):
    """An empty file makes `run` exit 2 with a one-line error and no job."""
    empty = tmp_path / "empty.fountain"
    empty.write_text("")

    result = run_cli(tmp_path, "run", str(empty))

    assert 2 == result.returncode
    assert "empty" in result.stderr
    assert "Traceback" not in result.stderr


def _server_running(pgdata) -> bool:
    """Whether the private server of ``pgdata`` runs (its postmaster.pid names a live process)."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_two_runs_at_once_share_one_server_and_stop_it(tmp_path):
    """Two `run`s started together in one folder both complete (one server, one migration), and
    the server is stopped when the last of them ends."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUBEN_")} | {"PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(ROOT / "enqueue.py"), "run", "--json"]
    runs = [
        subprocess.Popen([*command, str(EXAMPLES / name)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for name in ("the-heist.fountain", "山村来信.txt")
    ]  # fmt: skip
    outputs = [run.communicate(timeout=300) for run in runs]

    assert [0, 0] == [run.returncode for run in runs], [err for _, err in outputs]
    assert ["COMPLETED", "COMPLETED"] == [json.loads(out)["status"] for out, _ in outputs]
    listing = json.loads(run_cli(tmp_path, "--embedded", "jobs", "--json").stdout)
    assert 2 == len(listing["items"])
    assert not _server_running(tmp_path / ".juben" / "pg")


def test_a_killed_command_does_not_keep_the_server_running(tmp_path):
    """A command killed outright (SIGKILL) never says it left; the next command forgets it, so the
    server still stops when that one ends."""
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("JUBEN_")} | {"PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from entrypoints.localpg import PrivatePostgres;"
         " PrivatePostgres('.juben/pg').__enter__(); print('up', flush=True); time.sleep(600)"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None
    with holder.stdout:
        assert "up" == holder.stdout.readline().strip()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert _server_running(tmp_path / ".juben" / "pg")  # left behind by the killed command

    result = run_cli(tmp_path, "--embedded", "jobs", "--json")

    assert 0 == result.returncode, result.stderr
    for _ in range(50):  # pg_ctl stop -w has returned; the postmaster may take a moment to exit
        if not _server_running(tmp_path / ".juben" / "pg"):
            break
        time.sleep(0.1)
    assert not _server_running(tmp_path / ".juben" / "pg")
