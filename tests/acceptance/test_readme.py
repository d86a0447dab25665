"""The README, executed: every shell command it shows is run here as a user would type it (in a
subprocess, against real PostgreSQL and Redis), or is listed with the reason it is not.

:data:`COMMANDS` is the explicit list, keyed by the README's own lines (comments stripped), in the
order they run. ``test_the_list_matches_the_readme`` fails when the README gains, loses or
changes a command without this list following; the slow tests run them and check the exit
code and the key output. Placeholders the README uses (``JOB``, ``script.fountain``, ``…``) are
filled in by the :class:`Run` that stands for the line.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.acceptance.test_server_mode import _env, _free_port
from tests.conftest import ROOT

README = ROOT / "README.md"
#: The first words of a line that is a command (inside a fenced block of shell).
COMMAND_STARTS = ("python ", "python3 ", "pip ", "export ", "docker ", "curl ")


@dataclass(frozen=True)
class Run:
    """How a README line is run: ``argv`` with ``{job}``/``{run_job}``/``{out}``/``{port}`` filled in."""

    argv: str
    code: int = 0
    #: Text the command's output (stdout + stderr) must contain.
    expect: str = ""
    #: A worker: started in the background, stopped when the scenario ends.
    background: bool = False
    #: Wait for ``{job}`` to end first, as a user would (``watch``) before acting on it again.
    wait: bool = False


@dataclass(frozen=True)
class Skip:
    why: str


@dataclass(frozen=True)
class Curl:
    """A curl line of the README, run verbatim by bash with ``K`` (an operator key of tenant acme),
    ``H``, ``API`` (the API server started before) and ``J`` (the job the first curl submitted)."""

    expect: str


#: Every command line of the README → how this test runs it (in this order), or why it does not.
COMMANDS: dict[str, Run | Skip | Curl] = {
    # --- Try it (embedded)
    "python3 -m venv .venv && . .venv/bin/activate && pip install -c constraints.txt -e '.[dev]' && python enqueue.py run examples/the-heist.fountain": Skip(
        "run verbatim in a clean copy of the repository by test_the_first_command_works_from_a_clean_copy"
    ),
    "python enqueue.py run examples/short-drama --project 短剧 --json": Run(
        "enqueue.py run examples/short-drama --project 短剧 --json", expect='"status": "COMPLETED"'
    ),
    "python enqueue.py --embedded jobs": Run("enqueue.py --embedded jobs", expect="短剧"),
    "python enqueue.py --embedded report JOB --format csv --table characters": Run(
        "enqueue.py --embedded report {run_job} --format csv --table characters", expect="name"
    ),
    "python enqueue.py --version": Run("enqueue.py --version", expect="juben "),
    # --- Run the tests
    "python3 -m venv .venv && . .venv/bin/activate && pip install -c constraints.txt -e '.[dev]' && python -m pytest -q": Skip(
        "this is the test run itself; .ci/run runs it verbatim"
    ),
    # --- Server mode
    "python enqueue.py db upgrade": Run("enqueue.py db upgrade", expect="database at revision"),
    "python worker.py --processes 2 --threads 8": Run("worker.py --processes 2 --threads 8", background=True),
    "python enqueue.py submit script.fountain --project demo [--title T] [--idempotency-key K] [--json]": Run(
        "enqueue.py submit examples/the-heist.fountain --project demo --title T --idempotency-key K --json",
        expect='"created": true',
    ),
    "python enqueue.py status JOB [--json]": Run(
        "enqueue.py status {job} --json", expect='"project": "demo"'
    ),
    "python enqueue.py watch JOB": Run("enqueue.py watch {job}", expect="COMPLETED"),
    "python enqueue.py jobs [--status FAILED] [--project demo] [--limit 20] [--cursor C] [--json]": Run(
        "enqueue.py jobs --status COMPLETED --project demo --limit 20 --json", expect="{job}"
    ),
    "python enqueue.py report JOB [--format html|json|csv] [--table scenes|characters|locations|props|background|shots] [--out PATH] [--json]": Run(
        "enqueue.py report {job} --format csv --table props --out {out} --json", expect='"table": "props"'
    ),
    "python enqueue.py cancel JOB [JOB …]": Run(
        "enqueue.py cancel {job} nosuchjob", code=3, expect="already ended"
    ),
    # --- Operating it
    "python enqueue.py jobs --status FAILED": Run("enqueue.py jobs --status FAILED", expect="job"),
    "python enqueue.py dlq list --group": Run("enqueue.py dlq list --group", expect="no dead letters"),
    "python enqueue.py dlq list --stage extract --error timeout --since 2h": Run(
        "enqueue.py dlq list --stage extract --error timeout --since 2h", expect="no dead letters"
    ),
    "python enqueue.py dlq show 42": Run("enqueue.py dlq show 42", code=3, expect="no dead letter 42"),
    "python enqueue.py dlq retry 42 43": Run(
        "enqueue.py dlq retry 42 43", code=3, expect="no dead letter 43"
    ),
    "python enqueue.py dlq retry --fingerprint FP --set max_chunk_chars=3000 --dry-run": Run(
        "enqueue.py dlq retry --fingerprint FP --set max_chunk_chars=3000 --dry-run",
        expect="no unresolved dead letters matched",
    ),
    "python enqueue.py dlq purge --older-than 7d": Run(
        "enqueue.py dlq purge --older-than 7d", expect="purged 0"
    ),
    "python enqueue.py rerun --status COMPLETED --project demo --since 7d --from-stage storyboard --dry-run": Run(
        "enqueue.py rerun --status COMPLETED --project demo --since 7d --from-stage storyboard --dry-run",
        expect="would re-run",
    ),
    "python enqueue.py rerun JOB [JOB …] --from-stage dedup": Run(
        "enqueue.py rerun {job} --from-stage dedup", expect="re-running 1 jobs from dedup"
    ),
    "python enqueue.py rerun … --rate 5 --force": Run(
        "enqueue.py rerun {job} --rate 5 --force", expect="re-running 1 jobs from ingest"
    ),
    "python enqueue.py rerun JOB --from-stage extract --dry-run": Run(
        "enqueue.py rerun {job} --from-stage extract --dry-run", expect="LLM calls"
    ),
    "python enqueue.py rerun JOB --from-stage extract --no-cache": Run(
        "enqueue.py rerun {job} --from-stage extract --no-cache",
        expect="re-running 1 jobs from extract",
        wait=True,
    ),
    "python enqueue.py cancel JOB": Run("enqueue.py cancel {job}", expect="{job}: "),
    "python enqueue.py reconcile [--dry-run]": Run("enqueue.py reconcile --dry-run", expect="stranded"),
    # --- API keys
    "python enqueue.py keys create --tenant acme --role submitter --label ingest": Run(
        "enqueue.py keys create --tenant acme --role submitter --label ingest", expect="shown once"
    ),
    "python enqueue.py keys list --tenant acme": Run(
        "enqueue.py keys list --tenant acme", expect="submitter"
    ),
    # --- HTTP API (server mode, two processes, beside the workers started above)
    "python api.py --embedded": Skip("run in a subprocess by tests/acceptance/test_api_server.py (embedded)"),
    "python api.py --host 0.0.0.0 --port 8000 --workers 2": Run(
        "api.py --host 127.0.0.1 --port {api_port} --workers 2", background=True
    ),
    "curl -sS -H \"$H\" -H 'Idempotency-Key: order-17' -F file=@ep01.txt -F file=@ep02.txt -F project=series $API/v1/jobs": Curl(
        '"project":"series"'
    ),
    'curl -sS -H "$H" -H \'Content-Type: application/json\' -d \'{"text": "INT. KITCHEN - NIGHT\\n\\nMARY\\nWho is there?\\n", "title": "Kitchen", "options": {"max_chunk_chars": 3000}}\' $API/v1/jobs': Curl(
        '"title":"Kitchen"'
    ),
    'curl -sS -H "$H" -H \'Content-Type: application/json\' -d \'{"jobs": [{"text": "…"}, {"text": "…", "idempotency_key": "k2"}]}\' $API/v1/jobs/batch': Curl(
        '"accepted":2'
    ),
    'curl -sS -H "$H" "$API/v1/jobs/$J"': Curl('"percent"'),
    'curl -sS -H "$H" "$API/v1/jobs?status=FAILED&status=CANCELLED&project=series&since=2026-12-01T00:00:00Z&title=night&limit=50"': Curl(
        '"items"'
    ),
    'curl -sS -H "$H" "$API/v1/jobs/$J/report?format=csv&table=characters"': Curl("name,aliases"),
    'curl -sS -N -H "$H" "$API/v1/jobs/$J/events"': Curl("event: end"),
    'curl -sS -H "$H" -X POST "$API/v1/jobs/$J/cancel"': Curl('"cancelled":false'),
    'curl -sS -H "$H" -H \'Content-Type: application/json\' -d \'{"from_stage": "extract", "dry_run": true}\' "$API/v1/jobs/$J/rerun"': Curl(
        '"dry_run":true'
    ),
    'curl -sS -H "$H" -H \'Content-Type: application/json\' -d \'{"status": ["FAILED"], "project": "series", "from_stage": "dedup"}\' $API/v1/reruns': Curl(
        '"rerun":[]'
    ),
    'curl -sS -H "$H" "$API/v1/dead-letters?group=true"': Curl("["),
    'curl -sS -H "$H" "$API/v1/dead-letters/42"': Curl("urn:juben:problem:not-found"),
    'curl -sS -H "$H" -H \'Content-Type: application/json\' -d \'{"fingerprint": "FP", "set": {"max_chunk_chars": 3000}, "dry_run": true}\' $API/v1/dead-letters/retry': Curl(
        "[]"
    ),
    'curl -sS -H "$H" -H \'Content-Type: application/json\' -d \'{"older_than": "7d"}\' $API/v1/dead-letters/purge': Curl(
        '"purged"'
    ),
    'curl -sS -H "$H" $API/v1/stats': Curl('"stage_durations"'),
    'curl -sS -H "$H" $API/v1/projects': Curl('"name":"series"'),
    "curl -sS $API/healthz; curl -sS $API/readyz; curl -sS $API/metrics": Curl("juben_http_requests_total"),
    "python enqueue.py keys webhook-secret --tenant acme": Run(
        "enqueue.py keys webhook-secret --tenant acme", expect="whsec_"
    ),
    'curl -sS -H "$H" -F file=@ep01.txt -F callback_url=https://hooks.example.com/juben $API/v1/jobs': Skip(
        "needs a receiver the server can reach; webhooks are tested end to end in tests/integration/test_webhooks.py"
    ),
    "python enqueue.py keys revoke PREFIX": Run("enqueue.py keys revoke {prefix}", expect="revoked"),
    # --- Using an LLM (run with the rules provider: the commands are the same)
    "export DEEPSEEK_API_KEY=sk-…": Skip(
        "a real provider's key; the LLM path runs against the fake server in test_llm_server_mode"
    ),
    "python worker.py --processes 2 --threads 8 --queues default": Run(
        "worker.py --processes 2 --threads 8 --queues default --metrics-port {port}", background=True
    ),
    "python worker.py --processes 1 --threads 256 --queues ai --metrics-port 9192": Run(
        "worker.py --processes 1 --threads 256 --queues ai --metrics-port {port}", background=True
    ),
    "python enqueue.py submit script.txt --project demo": Run(
        "enqueue.py submit examples/山村来信.txt --project demo", expect="{job}"
    ),
    "python enqueue.py status JOB": Run("enqueue.py status {job}", expect="COMPLETED", wait=True),
}


def readme_commands(text: str) -> list[str]:
    """The command lines of the README's shell blocks, trailing comments stripped, in order."""
    lines = []
    for info, body in re.findall(r"^```(\w*)\n(.*?)^```", text, re.DOTALL | re.MULTILINE):
        if info not in ("", "bash", "sh"):
            continue
        for line in body.splitlines():
            command = re.split(r"\s+#\s", line.strip(), maxsplit=1)[0].strip()
            if command.startswith(COMMAND_STARTS):
                lines.append(command)
    return lines


def test_the_list_matches_the_readme():
    """Every command in the README is in COMMANDS (run or skipped with a reason), and nothing else is."""
    in_readme = readme_commands(README.read_text(encoding="utf-8"))

    assert sorted(set(in_readme)) == sorted(COMMANDS)


def test_the_readme_commands_are_found():
    """The extraction sees commands in ```bash blocks and plain ones, without their comments."""
    text = "x\n```bash\npip install x  # comment\n```\n```toml\npython no\n```\n```\n# c\npython a b\n```\n"

    assert ["pip install x", "python a b"] == readme_commands(text)


def _run(argv: str, cwd: Path, env: dict[str, str], fill: dict[str, str]) -> subprocess.CompletedProcess[str]:
    words = shlex.split(argv.format(**fill))
    return subprocess.run(
        [sys.executable, str(ROOT / words[0]), *words[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _api_session(work: Path, env: dict[str, str], fill: dict[str, str]) -> dict[str, str]:
    """What the README's curl lines assume: ``K`` (here an operator key of tenant acme, whose
    prefix the README's ``keys revoke`` line then revokes), ``H`` and ``API``."""
    made = _run("enqueue.py keys create --tenant acme --role operator --json", work, env, fill)
    key = json.loads(made.stdout)["key"]
    fill["prefix"] = key.split("_")[1]
    return {"K": key, "H": f"Authorization: Bearer {key}", "API": f"http://127.0.0.1:{fill['api_port']}"}


def _curl(line: str, cwd: Path, api: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("JUBEN_")}, **api}
    return subprocess.run(
        ["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _wait_healthy(base: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{base}/healthz", timeout=1) as answer:
            if answer.status == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"the API at {base} did not start")


def _wait_for(api: dict[str, str], timeout_s: float = 120) -> None:
    """Wait until the job the first curl submitted has ended (the report lines need it)."""
    deadline = time.monotonic() + timeout_s
    request = urllib.request.Request(
        f"{api['API']}/v1/jobs/{api['J']}", headers={"Authorization": f"Bearer {api['K']}"}
    )
    while time.monotonic() < deadline:
        with urllib.request.urlopen(request, timeout=5) as answer:
            if json.load(answer)["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
                return
        time.sleep(0.2)
    raise AssertionError(f"job {api['J']} did not end")


def _run_curl(
    line: str, how: Curl, work: Path, env: dict[str, str], fill: dict[str, str], api: dict[str, str]
) -> tuple[int, bool]:
    """Run a README curl line; the first one's job is ``J`` for the rest, once it has ended."""
    if not api:
        api.update(_api_session(work, env, fill))
    result = _curl(line, work, api)
    if not api.get("J"):
        api["J"] = json.loads(result.stdout)["id"]
        _wait_for(api)
    if how.expect not in result.stdout or result.returncode:
        print(f"--- {line}\n{result.stdout[-2000:]}{result.stderr[-2000:]}")  # shown when the test fails
    return result.returncode, how.expect in result.stdout


@pytest.mark.slow
def test_the_readme_commands_run_as_documented(pg_database, redis_namespace, tmp_path):
    """Each README command the list runs exits as documented and prints what it promises."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(ROOT / "examples", work / "examples")
    env = {**_env(pg_database, redis_namespace), "JUBEN_METRICS__DIR": str(tmp_path / "metrics")}
    for episode in ("ep01.txt", "ep02.txt"):  # the files the curl example uploads
        shutil.copy(work / "examples" / "short-drama" / episode, work / episode)
    fill = {
        "job": "",
        "run_job": "",
        "out": str(tmp_path / "out" / "props.csv"),
        "port": "",
        "api_port": str(_free_port()),
        "prefix": "",
    }
    api: dict[str, str] = {}
    workers: list[subprocess.Popen[bytes]] = []
    outcomes: dict[str, tuple[int, bool]] = {}
    expected: dict[str, tuple[int, bool]] = {}
    try:
        for line, how in COMMANDS.items():
            if isinstance(how, Skip):
                continue
            if isinstance(how, Curl):
                outcomes[line], expected[line] = _run_curl(line, how, work, env, fill, api), (0, True)
                continue
            if how.background:
                fill["port"] = str(_free_port())
                words = shlex.split(how.argv.format(**fill))
                with (tmp_path / f"worker-{len(workers)}.log").open("w") as log:
                    workers.append(
                        subprocess.Popen(
                            [sys.executable, str(ROOT / words[0]), *words[1:]],
                            cwd=work,
                            env=env,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                        )
                    )
                if how.argv.startswith("api.py"):
                    _wait_healthy(f"http://127.0.0.1:{fill['api_port']}")
                continue
            if how.wait:
                _run("enqueue.py watch {job}", work, env, fill)
            result = _run(how.argv, work, env, fill)
            said = result.stdout + result.stderr
            if '"id"' in result.stdout and "enqueue.py run" in how.argv:
                fill["run_job"] = json.loads(result.stdout)["id"]
            elif "submit" in how.argv:
                fill["job"] = (
                    json.loads(result.stdout)["id"] if "--json" in how.argv else result.stdout
                ).strip()
            outcomes[line] = (result.returncode, how.expect.format(**fill) in said)
            expected[line] = (how.code, True)
            if outcomes[line] != expected[line]:
                print(f"--- {line}\n{said[-2000:]}")  # shown when the test fails
        alive = [w.poll() is None for w in workers]
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)

    assert expected == outcomes
    assert [True] * len(workers) == alive


@pytest.mark.slow
def test_the_first_command_works_from_a_clean_copy(tmp_path):
    """The README's first command, verbatim, in a copy of the repository with no .venv: it installs
    from the lock into a new virtualenv and breaks the sample down."""
    first = next(c for c in COMMANDS if "enqueue.py run examples/the-heist.fountain" in c)
    copy = tmp_path / "juben"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(copy)], check=True)
    for changed in subprocess.run(  # the working tree as it is (a test run before a commit)
        ["git", "ls-files", "-m", "-o", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split():
        target = copy / changed
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / changed, target)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUBEN_", "VIRTUAL_ENV", "PYTHONPATH"))}

    result = subprocess.run(
        ["bash", "-c", first], cwd=copy, env=env, capture_output=True, text=True, timeout=600, check=False
    )

    assert 0 == result.returncode, result.stderr[-3000:]
    assert "report (html): reports/" in result.stdout
    assert "COMPLETED" in result.stdout
