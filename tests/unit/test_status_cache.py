"""The API's status cache's bookkeeping (entrypoints.api.status.StatusCache) with a stand-in for
the event hub: what it keeps, and when it refuses to, whatever order reads and notifications
come in."""

from __future__ import annotations

from collections.abc import Callable

from entrypoints.api.status import StatusCache
from pipeline.jobs import JobRecord


class Hub:
    def __init__(self) -> None:
        self.listening = True
        self.generation = 1
        self.on_job_change: list[Callable[[str], None]] = []

    def notify(self, job_id: str) -> None:
        for changed in self.on_job_change:
            changed(job_id)


def _record(tenant: int = 1) -> JobRecord:
    return JobRecord(row=None, tenant_id=tenant, timings=(), llm=None)


def test_a_record_is_kept_until_a_notification_about_its_job():
    hub = Hub()
    cache = StatusCache(hub, 10)
    record = _record()
    cache.put("a", record, cache.watermark())
    cache.put("b", _record(), cache.watermark())
    assert record is cache.get("a")
    hub.notify("a")
    assert cache.get("a") is None
    assert cache.get("b") is not None  # another job's notification leaves it


def test_a_record_read_while_its_job_changed_is_not_kept_but_another_jobs_change_does_not_matter():
    hub = Hub()
    cache = StatusCache(hub, 10)
    mark = cache.watermark()  # taken, then the database read …
    hub.notify("a")  # … during which the job changed
    cache.put("a", _record(), mark)
    assert cache.get("a") is None
    mark = cache.watermark()
    hub.notify("b")
    cache.put("a", _record(), mark)
    assert cache.get("a") is not None


def test_when_changes_are_forgotten_a_read_they_may_have_overlapped_is_not_kept():
    hub = Hub()
    cache = StatusCache(hub, 2)
    mark = cache.watermark()
    for job in ("x", "y", "z"):  # three changes for room for two: the oldest is forgotten
        hub.notify(job)
    cache.put("x", _record(), mark)
    assert cache.get("x") is None
    cache.put("x", _record(), cache.watermark())
    assert cache.get("x") is not None


def test_nothing_is_kept_or_trusted_across_a_lost_connection():
    hub = Hub()
    cache = StatusCache(hub, 10)
    cache.put("a", _record(), cache.watermark())
    hub.generation += 1  # the connection was lost (and perhaps is back): notifications missed
    assert cache.get("a") is None
    mark = cache.watermark()
    hub.listening = False
    cache.put("b", _record(), mark)
    hub.listening = True
    assert cache.get("b") is None


def test_it_holds_at_most_its_size_and_size_zero_keeps_nothing():
    hub = Hub()
    cache = StatusCache(hub, 2)
    for job in ("a", "b", "c"):
        cache.put(job, _record(), cache.watermark())
    assert [cache.get(j) is not None for j in ("a", "b", "c")] == [False, True, True]
    off = StatusCache(hub, 0)
    off.put("a", _record(), off.watermark())
    assert off.get("a") is None
