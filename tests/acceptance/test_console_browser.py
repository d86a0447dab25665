"""The operations console in a real browser: Debian's headless Chromium driven by selenium through
its chromedriver, against `python api.py` and `python worker.py` in subprocesses (server mode, the
test's PostgreSQL database and Redis namespace). Screenshots of each page go to
``tests/screenshots/`` (ignored by git) for review.

Needs ``apt-get install chromium chromium-driver`` (CI installs them); skipped, saying so, where
they are missing.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.acceptance.test_api_server import _env, _key, api
from tests.conftest import REDIS_URL, ROOT, _admin_execute, pg_url

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which("chromium") and shutil.which("chromedriver")),
        reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
    ),
]

SHOTS = ROOT / "tests" / "screenshots"
SCRIPT = "INT. KITCHEN - NIGHT\n\nMARY pours coffee.\n\nMARY\nWho's there?\n"


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or ""), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


class _Worker:
    """`python worker.py` for the module's server: stopped and started again by a test that needs a
    job to wait (its row shows PENDING until the worker is back)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py"), "--processes", "1", "--threads", "2"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None


@dataclass
class Console:
    base: str
    env: dict[str, str]
    worker: _Worker
    operator: str


@contextlib.contextmanager
def _served(pg_template: str, **extra: str) -> Iterator[Console]:
    """`python api.py` and `python worker.py` on a database and a Redis namespace of their own."""
    name = f"juben_test_{uuid.uuid4().hex[:12]}"
    namespace = f"juben-test-console-{uuid.uuid4().hex[:6]}"
    _admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    # No metrics port: two of these at once (the module's and a test's own) would both want it.
    env = _env(
        JUBEN_DATABASE__URL=pg_url(name),
        JUBEN_BROKER__NAMESPACE=namespace,
        JUBEN_METRICS__ENABLED="false",
        **extra,
    )
    worker = _Worker(env)
    try:
        with api(env) as (base, _):
            worker.start()
            try:
                yield Console(base, env, worker, _key(env))
            finally:
                worker.stop()
    finally:
        _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        client = redis.Redis.from_url(REDIS_URL)
        stale = list(client.scan_iter(match=f"{namespace}*", count=1000))
        if stale:
            client.delete(*stale)
        client.close()


@pytest.fixture(scope="module")
def console(pg_template: str) -> Iterator[Console]:
    """One API server and one worker for the module's tests (starting them per test cost a
    minute of the suite)."""
    with _served(pg_template) as served:
        yield served


def _shot(driver: Any, name: str) -> Path:
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def _until(check, timeout_s: float = 60, every_s: float = 0.25):
    """What ``check`` returns once it is truthy. An element missing or gone stale counts as not yet:
    after a click the browser may still be between two pages."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            found = check()
        except (NoSuchElementException, StaleElementReferenceException):
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(every_s)


def _by_keyboard(browser: Any) -> list[str]:
    """Tab through the page from its top and check that the keyboard alone reaches every control
    shown (each link, button, field, checkbox, select and disclosure); the controls reached, in order."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    controls = browser.execute_script(
        "const all = [...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, summary')]"
        "  .filter(e => !e.disabled && e.getClientRects().length > 0);"
        " all.forEach((e, i) => { e.dataset.control = i; });"
        " document.activeElement.blur(); window.scrollTo(0, 0);"
        " return all.map(e => e.outerHTML.slice(0, 120));"
    )
    reached: list[int] = []
    for _ in range(2 * len(controls) + 40):  # room for what an inline report holds
        ActionChains(browser).send_keys(Keys.TAB).perform()
        mark = browser.execute_script("return document.activeElement.dataset.control ?? null;")
        if mark is not None and int(mark) not in reached:
            reached.append(int(mark))
        if len(reached) == len(controls):
            break
    missing = [html for n, html in enumerate(controls) if n not in reached]
    assert controls and not missing, missing
    return [controls[n] for n in reached]


def _sign_in(browser: Any, base: str, key: str, path: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{base}{path}")
    browser.find_element(By.ID, "key").send_keys(key)
    browser.find_element(By.CSS_SELECTOR, "form.login button").click()
    _until(lambda: browser.current_url.endswith(path), timeout_s=10)


def test_sign_in_see_a_submitted_job_complete_filter_and_sign_out(browser, console):
    """Sign in with a key through the form; a job submitted through the API (titled like markup)
    shows in the jobs list as text and reaches COMPLETED at 100%; the filters go into the URL and
    the counts link to them; signing out (the form's CSRF token) ends the session."""
    from selenium.webdriver.common.by import By

    base, key = console.base, console.operator
    headers = {"Authorization": f"Bearer {key}"}
    job = httpx.post(
        f"{base}/v1/jobs", headers=headers, json={"text": SCRIPT, "title": "<script>alert(1)</script>"}
    ).json()["id"]

    browser.get(f"{base}/ui/jobs?status=COMPLETED")
    assert "/ui/login" in browser.current_url
    _shot(browser, "login")
    browser.find_element(By.ID, "key").send_keys(key)
    browser.find_element(By.CSS_SELECTOR, "form.login button").click()
    _until(lambda: browser.current_url.endswith("/ui/jobs?status=COMPLETED"), timeout_s=10)

    def completed_row():
        browser.get(f"{base}/ui/jobs?status=COMPLETED")
        rows = browser.find_elements(By.CSS_SELECTOR, f'tr[data-job="{job}"]')
        return rows[0] if rows else None

    row = _until(completed_row)
    assert "COMPLETED" in row.text and "100%" in row.text
    assert "<script>alert(1)</script>" == row.find_element(By.CLASS_NAME, "title").text
    assert not browser.find_elements(By.CSS_SELECTOR, "tbody script")
    assert browser.find_element(By.CSS_SELECTOR, 'input[value="COMPLETED"]').is_selected()
    _by_keyboard(browser)
    _shot(browser, "jobs")

    browser.find_element(By.CSS_SELECTOR, 'input[name="title"]').send_keys("nothing like this")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    _until(lambda: "title=nothing+like+this" in browser.current_url, timeout_s=10)
    assert not browser.find_elements(By.CSS_SELECTOR, f'tr[data-job="{job}"]')

    browser.find_element(By.LINK_TEXT, "Overview").click()
    _until(lambda: browser.find_elements(By.CSS_SELECTOR, "svg.chart"), timeout_s=10)
    _by_keyboard(browser)
    _shot(browser, "overview")

    browser.find_element(By.CSS_SELECTOR, "header form button").click()
    _until(lambda: browser.current_url.endswith("/ui/login"), timeout_s=10)
    browser.get(f"{base}/ui/jobs")
    assert "/ui/login" in browser.current_url


def test_a_rows_progress_reaches_100_percent_without_a_reload(browser, console):
    """The jobs page holds one event stream for its rows and counts: a job submitted through the
    API while no worker runs shows PENDING; once a worker starts, its row moves to COMPLETED and
    100% in place, and the counts per status follow (the page is never reloaded: a mark set in it
    survives)."""
    from selenium.webdriver.common.by import By

    base, key = console.base, console.operator
    console.worker.stop()
    try:
        job, *others = (
            httpx.post(
                f"{base}/v1/jobs", headers={"Authorization": f"Bearer {key}"}, json={"text": SCRIPT}
            ).json()["id"]
            for _ in range(3)
        )
        # Count the event streams the page opens (before its scripts run).
        browser.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument",
            {"source": "window.jubenStreams = 0; const Original = window.EventSource;"
             " window.EventSource = function (url, init) { window.jubenStreams += 1; return new Original(url, init); };"},
        )  # fmt: skip
        _sign_in(browser, base, key, "/ui/jobs")
        row = browser.find_element(By.CSS_SELECTOR, f'tr[data-job="{job}"]')
        assert "PENDING" == row.find_element(By.CLASS_NAME, "status").text
        assert all(browser.find_elements(By.CSS_SELECTOR, f'tr[data-job="{other}"]') for other in others)
        browser.execute_script("window.jubenSamePage = true;")
        assert 1 == browser.execute_script("return window.jubenStreams;")  # three live rows, one stream
        completed_before = _shown_counts(browser).get("COMPLETED", 0)
        assert 3 <= _shown_counts(browser)["PENDING"]
    finally:
        console.worker.start()
    _until(lambda: "100%" == row.find_element(By.CLASS_NAME, "percent").text, timeout_s=90)
    assert "COMPLETED" == row.find_element(By.CLASS_NAME, "status").text
    assert "100" == row.find_element(By.TAG_NAME, "progress").get_attribute("value")
    # The counts per status move too: the three are counted COMPLETED, none is PENDING any more.
    _until(lambda: _shown_counts(browser).get("COMPLETED") == completed_before + 3, timeout_s=30)
    assert "PENDING" not in _shown_counts(browser)
    assert browser.execute_script("return window.jubenSamePage === true;")
    _shot(browser, "jobs-live")


def _shown_counts(browser: Any) -> dict[str, int]:
    """The jobs page's counts per status, as shown."""
    from selenium.webdriver.common.by import By

    return {
        li.get_attribute("data-status"): int(li.find_element(By.TAG_NAME, "b").text)
        for li in browser.find_elements(By.CSS_SELECTOR, "ul.counts li[data-status]")
    }


def _completed(base: str, key: str, **fields: Any) -> str:
    """Submit through the API and wait until the job completes; its id."""
    headers = {"Authorization": f"Bearer {key}"}
    job = httpx.post(f"{base}/v1/jobs", headers=headers, json={"text": SCRIPT, **fields}).json()["id"]
    _until(lambda: httpx.get(f"{base}/v1/jobs/{job}", headers=headers).json()["status"] == "COMPLETED")
    return str(job)


def test_rerun_a_completed_job_from_dedup_after_the_preview_by_keyboard(browser, console):
    """On a completed job's page an operator reaches the re-run form with the keyboard alone,
    previews the cost of re-running from dedup, confirms, and the job runs again to COMPLETED
    (run 2) while the page shows it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base, key = console.base, console.operator
    job = _completed(base, key, title="Kitchen")
    _sign_in(browser, base, key, f"/ui/jobs/{job}")
    _shot(browser, "job")

    reached = _by_keyboard(browser)  # every action, the re-run form's among them
    assert any('name="from_stage"' in c for c in reached) and any('name="dry_run"' in c for c in reached)

    stage = browser.find_element(By.NAME, "from_stage")
    stage.send_keys("dedup")  # a select takes typed text as its choice
    browser.find_element(By.CSS_SELECTOR, 'button[name="dry_run"]').send_keys(Keys.ENTER)
    preview = _until(lambda: browser.find_elements(By.CSS_SELECTOR, "section.preview"), timeout_s=10)[0]
    assert "Re-run from dedup" in preview.text and "LLM calls" in preview.text
    _shot(browser, "job-rerun-preview")
    preview.find_element(By.CSS_SELECTOR, 'button[name="confirm"]').send_keys(Keys.ENTER)
    _until(lambda: "Re-running from dedup" in browser.page_source, timeout_s=10)

    headers = {"Authorization": f"Bearer {key}"}

    def again() -> bool:
        view = httpx.get(f"{base}/v1/jobs/{job}", headers=headers).json()
        return bool(view["status"] == "COMPLETED" and view["run"] == 2)

    _until(again)
    browser.get(f"{base}/ui/jobs/{job}")
    assert "run 2" in browser.find_element(By.TAG_NAME, "main").text


def test_a_viewer_sees_no_actions_and_is_refused_them_and_another_tenants_job_is_not_found(browser, console):
    """A viewer key's pages have no action buttons, and a POST it forges anyway (with its own
    session and the right CSRF token) is refused; a job of another tenant is not found."""
    from selenium.webdriver.common.by import By

    from entrypoints.api.console import csrf_token

    base, operator, viewer = console.base, console.operator, _key(console.env, "viewer")
    job = _completed(base, operator)
    _sign_in(browser, base, viewer, f"/ui/jobs/{job}")
    assert not browser.find_elements(By.CSS_SELECTOR, "main form, main button")
    assert "COMPLETED" in browser.find_element(By.TAG_NAME, "main").text
    _shot(browser, "job-viewer")
    cookie = {"Cookie": f"juben_console={viewer}"}
    forged = httpx.post(
        f"{base}/ui/jobs/{job}/rerun",
        headers=cookie,
        data={"csrf": csrf_token(viewer), "from_stage": "dedup", "confirm": "1"},
    )
    assert 403 == forged.status_code and "viewer" in forged.text

    other = subprocess.run(
        [sys.executable, str(ROOT / "enqueue.py"), "keys", "create", "--tenant", "rival", "--role", "operator", "--json"],
        env=console.env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    rival = json.loads(other.stdout)["key"]
    browser.find_element(By.CSS_SELECTOR, "header form button").click()
    _until(lambda: browser.current_url.endswith("/ui/login"), timeout_s=10)
    _sign_in(browser, base, rival, f"/ui/jobs/{job}")
    assert "Not found" in browser.find_element(By.TAG_NAME, "h1").text


def test_a_failed_jobs_dead_letter_is_found_in_its_group_and_retried_from_the_page(browser, pg_template):
    """A model that refuses the key (401) fails the job into a dead letter; the letter is found in
    its fingerprint group with the model's error; once the cause is fixed, retrying it from the
    page (preview, then confirm) completes the job; purging resolved letters then takes it. All by
    keyboard, every page's controls reached by Tab."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from tests.fakes.llm_server import FakeLLM

    with (
        FakeLLM(seed=3, api_key="sk-right") as fake,
        _served(
            pg_template,
            JUBEN_EXTRACT__PROVIDER="openai",
            JUBEN_EXTRACT__BASE_URL=fake.url,
            JUBEN_EXTRACT__API_KEY_ENV="CONSOLE_TEST_LLM_KEY",
            CONSOLE_TEST_LLM_KEY="sk-wrong",
            JUBEN_RECONCILE__ENABLED="false",
        ) as served,
    ):
        base, key = served.base, served.operator
        headers = {"Authorization": f"Bearer {key}"}
        job = httpx.post(f"{base}/v1/jobs", headers=headers, json={"text": SCRIPT}).json()["id"]
        _until(lambda: httpx.get(f"{base}/v1/jobs/{job}", headers=headers).json()["status"] == "FAILED")

        # From here on, the keyboard alone: every page's controls are reached by Tab, links and
        # buttons are pressed with Enter.
        _sign_in(browser, base, key, "/ui/dead-letters")
        _by_keyboard(browser)
        group = browser.find_element(By.CSS_SELECTOR, "tr[data-fingerprint]")
        assert "extract" in group.text and "1" in group.text
        _shot(browser, "dead-letters")
        group.find_element(By.TAG_NAME, "a").send_keys(Keys.ENTER)
        letter = _until(lambda: browser.find_elements(By.CSS_SELECTOR, "tr[data-letter]"), timeout_s=10)[0]
        assert job in letter.text
        _by_keyboard(browser)
        letter.find_element(By.TAG_NAME, "a").send_keys(Keys.ENTER)
        _until(lambda: "Dead letter #" in browser.find_element(By.TAG_NAME, "h1").text, timeout_s=10)
        assert "401" in browser.find_element(By.CSS_SELECTOR, "dd.error").text
        _by_keyboard(browser)
        _shot(browser, "dead-letter")

        fake.configure(api_key=None)  # the cause fixed: the model takes the key now
        browser.find_element(By.CSS_SELECTOR, "form.retry button").send_keys(Keys.ENTER)
        row = _until(lambda: browser.find_elements(By.CSS_SELECTOR, f'tr[data-job="{job}"]'), timeout_s=10)[0]
        assert "yes" == row.find_element(By.CLASS_NAME, "done").text  # the preview: it would go
        assert "FAILED" == httpx.get(f"{base}/v1/jobs/{job}", headers=headers).json()["status"]
        _by_keyboard(browser)
        browser.find_element(By.CSS_SELECTOR, 'button[name="confirm"]').send_keys(Keys.ENTER)
        _until(lambda: "Retried" in browser.find_element(By.TAG_NAME, "h1").text, timeout_s=10)
        _until(lambda: httpx.get(f"{base}/v1/jobs/{job}", headers=headers).json()["status"] == "COMPLETED")

        # The retried letter is resolved: purging resolved letters (preview, then confirm) takes it.
        browser.get(f"{base}/ui/dead-letters")
        _by_keyboard(browser)
        browser.find_element(By.CSS_SELECTOR, 'form[action="/ui/dead-letters/purge"] button').send_keys(
            Keys.ENTER
        )
        _until(lambda: "Purge: a preview" in browser.find_element(By.TAG_NAME, "h1").text, timeout_s=10)
        assert "1 dead letters" in browser.find_element(By.TAG_NAME, "main").text
        _by_keyboard(browser)
        browser.find_element(By.CSS_SELECTOR, 'button[name="confirm"]').send_keys(Keys.ENTER)
        _until(
            lambda: [] == httpx.get(f"{base}/v1/dead-letters?resolved=true", headers=headers).json(),
            timeout_s=10,
        )
