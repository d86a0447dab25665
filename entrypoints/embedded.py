"""The embedded mode: a private PostgreSQL + an in-process StubBroker and worker, the same actors
and SQL as production, no server to install."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import dramatiq

from entrypoints.localpg import embedded_settings
from entrypoints.testing import bind_actors
from pipeline import jobs
from pipeline.broker import setup_broker
from pipeline.errors import Interrupted
from pipeline.logs import configure_logging
from pipeline.schemas import JobView
from pipeline.settings import Settings, set_settings
from pipeline.states import TERMINAL, Status
from pipeline.webhooks import WebhookDispatcher

#: How long an interrupted ``run`` waits for its worker threads (ms) before it exits.
INTERRUPTED_STOP_MS = 2000
#: The first wait between two looks at a job's status; later ones grow to ``poll_s``.
FIRST_POLL_S = 0.01
#: Where the embedded mode writes its log (the terminal shows the progress bar instead).
LOG_FILE = Path(".juben/juben.log")


class EmbeddedRuntime:
    """The private PostgreSQL and an in-process broker and worker on it; use as a context manager.

    :attr:`settings` are the given ones pointed at the private server's database once entered.
    """

    def __init__(self, settings: Settings, *, log_file: Path | None = LOG_FILE) -> None:
        self.settings = settings
        self._log_file = log_file
        self._stack = contextlib.ExitStack()
        self.worker: dramatiq.Worker | None = None

    def __enter__(self) -> EmbeddedRuntime:
        configure_logging(self.settings, file=self._log_file)
        set_settings(self.settings)
        broker = setup_broker(self.settings, stub=True)
        try:
            # The actors (importing the stages) are bound while the private PostgreSQL starts.
            self.settings = self._stack.enter_context(
                embedded_settings(self.settings, meanwhile=lambda: bind_actors(broker))
            )
            set_settings(self.settings)
            broker.add_middleware(WebhookDispatcher(self.settings))  # job ends to their callback URLs
            broker.emit_after("process_boot")  # starts the time-limit watcher
            self.worker = dramatiq.Worker(
                broker,
                worker_threads=self.settings.embedded.worker_threads,
                worker_timeout=self.settings.broker.worker_timeout_ms,
            )
            self.worker.start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if self.worker is not None:
            # Interrupted: wait a moment, not for an LLM call's whole timeout; the job is
            # cancelled already, so whatever its threads still finish is discarded.
            interrupted = exc_type is not None and issubclass(exc_type, Interrupted | KeyboardInterrupt)
            self.worker.stop(timeout=INTERRUPTED_STOP_MS if interrupted else 600_000)
            self.worker = None
        self._stack.close()

    def wait(
        self,
        job_id: str,
        on_progress: Callable[[JobView], None] | None = None,
        poll_s: float = 0.1,
        *,
        stop: threading.Event | None = None,
    ) -> JobView | None:
        """Block until the job ends, calling ``on_progress`` with each new view.

        Polls every 10 ms at first, slowing to every ``poll_s``: a small script is done in a
        tenth of a second, which a fixed 100 ms poll rounded up to the next poll.

        Returns:
            The final view, or ``None`` as soon as ``stop`` is set.
        """
        last: tuple[str, float] | None = None
        stop = stop or threading.Event()
        delay = min(FIRST_POLL_S, poll_s)
        while not stop.is_set():
            view = jobs.get_status(job_id, settings=self.settings)
            if on_progress and (view.status, view.percent) != last:
                on_progress(view)
                last = (view.status, view.percent)
            if Status(view.status) in TERMINAL:
                return view
            stop.wait(delay)
            delay = min(delay * 1.5, poll_s)
        return None


@contextlib.contextmanager
def interrupt_event() -> Iterator[threading.Event]:
    """An event that Ctrl-C (SIGINT) sets instead of raising KeyboardInterrupt, for the block.

    A KeyboardInterrupt lands anywhere, e.g. inside a connection pool's lock, which the cancel
    that follows then waits on; the event is checked between polls, where stopping is safe.
    Outside the main thread (signals go to it only) the event is never set.
    """
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return
    previous = signal.signal(signal.SIGINT, lambda *_: event.set())
    try:
        yield event
    finally:
        signal.signal(signal.SIGINT, previous)


def write_report_files(job_id: str, settings: Settings, directory: Path | None = None) -> dict[str, Path]:
    """Write a completed job's stored report (HTML, JSON, scenes CSV) to files.

    Returns:
        Format → path written.
    """
    directory = directory or Path(settings.report.dir) / job_id
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for fmt, name in (("html", "report.html"), ("json", "report.json"), ("csv", "scenes.csv")):
        path = directory / name
        path.write_text(jobs.get_report(job_id, fmt, settings=settings), encoding="utf-8")
        written[fmt] = path
    return written


def run(
    paths: Sequence[str | Path],
    *,
    settings: Settings,
    project: str | None = None,
    title: str | None = None,
    on_progress: Callable[[JobView], None] | None = None,
    options: dict[str, Any] | None = None,
) -> tuple[JobView, dict[str, Path]]:
    """Break a script down in-process and write its report files.

    Returns:
        The final job view and the report files (empty unless the job COMPLETED).

    Raises:
        Interrupted: Ctrl-C while the job ran; the job was cancelled first (its in-process
            messages die with the process, so it could not resume).
    """
    with EmbeddedRuntime(settings) as runtime:
        settings = runtime.settings
        job_id = jobs.submit(paths, project=project, title=title, options=options, settings=settings)
        with interrupt_event() as interrupted:
            view = runtime.wait(job_id, on_progress, stop=interrupted)
        if view is None:
            jobs.cancel(job_id, settings=settings)
            raise Interrupted(f"job {job_id} cancelled; start it again with the same command")
        files = write_report_files(job_id, settings) if view.status == Status.COMPLETED else {}
    return view, files
