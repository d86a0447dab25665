"""The console's server side without a browser: signing in (a bad key, where it goes after), the
report's links (the HTML sandboxed, the rest as files), bad input answered in plain text."""

from __future__ import annotations

import pytest

from entrypoints.api.app import create_app
from entrypoints.api.console import COOKIE, csrf_token
from entrypoints.testing import drain
from pipeline import jobs, keys
from tests.api_support import serve

SCRIPT = "INT. KITCHEN - NIGHT\n\nMARY pours coffee.\n\nMARY\nWho's there?\n"


@pytest.fixture
def signed_in(stub_worker, pg_settings):
    broker, worker = stub_worker
    _, key = keys.create_key("acme", "operator")
    who = keys.authenticate(key)
    job = jobs.submit("<b>bold</b> " + SCRIPT, project="p", tenant_id=who.tenant_id)
    drain(broker, worker)
    with serve(create_app(pg_settings, connect=False)) as client:
        yield client, key, job


def test_a_bad_key_is_refused_on_the_page_and_next_never_leaves_the_console(signed_in):
    client, key, _ = signed_in
    refused = client.post("/ui/login", data={"key": "jbn_nope"})
    assert 401 == refused.status_code and "API key" in refused.text
    assert COOKIE not in refused.cookies
    for target, lands in [("https://evil.example/", "/ui/jobs"), ("//evil.example", "/ui/jobs"),
                          ("/ui/jobs?status=FAILED", "/ui/jobs?status=FAILED")]:  # fmt: skip
        signed = client.post("/ui/login", data={"key": key, "next": target}, follow_redirects=False)
        assert 303 == signed.status_code and lands == signed.headers["location"], target
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie


def test_the_report_html_is_sandboxed_json_and_csv_are_files_bad_input_is_plain_text(signed_in):
    client, key, job = signed_in
    client.cookies.set(COOKIE, key)
    html = client.get(f"/ui/jobs/{job}/report", params={"format": "html"})
    assert 200 == html.status_code and "sandbox" in html.headers["content-security-policy"]
    assert "<b>bold</b>" not in html.text  # the script's markup is escaped in the report
    data = client.get(f"/ui/jobs/{job}/report", params={"format": "json"})
    assert 200 == data.status_code and "attachment" in data.headers["content-disposition"]
    bad = client.get(f"/ui/jobs/{job}/report", params={"format": "<svg onload=x>"})
    assert 400 == bad.status_code and bad.headers["content-type"].startswith("text/plain")
    stage = client.post(
        f"/ui/jobs/{job}/rerun", data={"csrf": csrf_token(key), "from_stage": "<i>nope</i>", "dry_run": "1"}
    )
    assert 400 == stage.status_code and stage.headers["content-type"].startswith("text/plain")


def test_the_job_page_shows_its_chunks_stages_and_events_and_escapes_the_script(signed_in):
    client, key, job = signed_in
    client.cookies.set(COOKIE, key)
    page = client.get(f"/ui/jobs/{job}")
    assert 200 == page.status_code
    assert 'class="chunk chunk-done' in page.text and ">1</li>" in page.text  # the grid: chunk 1 done
    assert page.text.count('class="lane"') == 6  # a bar per stage on the time line
    assert "REPORTING → COMPLETED" in page.text and "<b>bold</b>" not in page.text
    assert "Re-run from" in page.text  # an operator's actions


def test_the_overview_draws_the_tenants_figures(signed_in):
    """Jobs by status, jobs ended in the last hour, stage durations and LLM use, as SVG bars."""
    client, key, _ = signed_in
    client.cookies.set(COOKIE, key)
    page = client.get("/ui/overview")
    assert 200 == page.status_code
    assert "<title>COMPLETED: 1</title>" in page.text  # jobs by status
    assert "1 completed, 0 failed, 0 cancelled</title>" in page.text  # this hour's bar
    assert "extract p50" in page.text and "Prompt tokens" in page.text


def test_sign_in_attempts_over_the_addresss_rate_are_429_with_retry_after(stub_worker, pg_settings):
    """Guessing keys through the form is slowed: past ``api.sign_ins_per_minute`` (and the burst)
    the page refuses every attempt from the address, a right key's too, with 429 and Retry-After,
    in words; submissions through the API are another limit and go on."""
    _, key = keys.create_key("acme", "operator")
    limited = pg_settings.model_copy(
        update={"api": pg_settings.api.model_copy(update={"sign_ins_per_minute": 1, "sign_in_burst": 2})}
    )
    with serve(create_app(limited, connect=False)) as client:
        assert [401, 401] == [
            client.post("/ui/login", data={"key": f"jbn_guess{n}"}).status_code for n in range(2)
        ]
        refused = client.post("/ui/login", data={"key": key}, follow_redirects=False)
        assert 429 == refused.status_code and COOKIE not in refused.cookies
        assert 50 <= int(refused.headers["retry-after"]) <= 60
        assert "too many sign-in attempts from this address" in refused.text
        submitted = client.post("/v1/jobs", headers={"Authorization": f"Bearer {key}"}, json={"text": SCRIPT})
        assert 202 == submitted.status_code


def test_a_waiting_jobs_row_shows_the_eta_its_status_gives(signed_in, stub_worker):
    """The listing's ETA (the API's `GET /v1/jobs` items and the console's rows) is the one
    `status` gives, from the same recent stage times; an ended job's row shows none."""
    client, key, done = signed_in
    _, worker = stub_worker
    who = keys.authenticate(key)
    worker.pause()  # the job waits, PENDING, while the test looks
    try:
        waiting = jobs.submit(SCRIPT + "\nMARY leaves.\n", project="p", tenant_id=who.tenant_id)
        items = {item.id: item for item in jobs.list_jobs(tenant_id=who.tenant_id).items}
        client.cookies.set(COOKIE, key)
        page = client.get("/ui/jobs").text
        status = jobs.get_status(waiting)
    finally:
        worker.resume()

    assert "PENDING" == status.status == items[waiting].status

    assert items[waiting].eta_s is not None
    assert status.eta_s == items[waiting].eta_s
    row = page[page.index(f'<tr data-job="{waiting}"') :]
    assert f'<td class="eta">ETA {int(items[waiting].eta_s + 0.5)} s</td>' in row[: row.index("</tr>")]
    ended = page[page.index(f'<tr data-job="{done}"') :]
    assert '<td class="eta"></td>' in ended[: ended.index("</tr>")]
