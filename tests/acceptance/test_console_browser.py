"""The operations console in a real browser: Debian's headless Chromium driven by selenium through
its chromedriver, against `python api.py` and `python worker.py` in subprocesses (server mode, the
test's PostgreSQL database and Redis namespace). Screenshots of each page go to
``tests/screenshots/`` (ignored by git) for review.

Needs ``apt-get install chromium chromium-driver`` (CI installs them); skipped, saying so, where
they are missing.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.test_api_server import _env, _key, api
from tests.conftest import ROOT

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
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or ""), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


@contextlib.contextmanager
def _worker(env: dict[str, str]) -> Iterator[None]:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "worker.py"), "--processes", "1", "--threads", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _shot(driver: Any, name: str) -> Path:
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def _until(check, timeout_s: float = 60, every_s: float = 0.25):
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(every_s)


def test_sign_in_see_a_submitted_job_complete_filter_and_sign_out(browser, pg_database, redis_namespace):
    """Sign in with a key through the form; a job submitted through the API (titled like markup)
    shows in the jobs list as text and reaches COMPLETED at 100%; the filters go into the URL and
    the counts link to them; signing out (the form's CSRF token) ends the session."""
    from selenium.webdriver.common.by import By

    env = _env(JUBEN_DATABASE__URL=pg_database, JUBEN_BROKER__NAMESPACE=redis_namespace)
    key = _key(env)
    with api(env) as (base, _), _worker(env):
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
        _shot(browser, "jobs")

        browser.find_element(By.CSS_SELECTOR, 'input[name="title"]').send_keys("nothing like this")
        browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
        _until(lambda: "title=nothing+like+this" in browser.current_url, timeout_s=10)
        assert not browser.find_elements(By.CSS_SELECTOR, f'tr[data-job="{job}"]')

        browser.find_element(By.CSS_SELECTOR, "header form button").click()
        _until(lambda: browser.current_url.endswith("/ui/login"), timeout_s=10)
        browser.get(f"{base}/ui/jobs")
        assert "/ui/login" in browser.current_url
