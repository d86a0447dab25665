"""The command line: submit, run (embedded), status, watch, jobs, report, cancel, db.

Every command that shows something takes ``--json``. Errors print one line to stderr (never
wrapped, never a traceback) and exit with a code of :class:`ExitCode`, which the README lists.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from entrypoints.cli_common import (
    ExitCode,
    JsonOpt,
    NoCacheOpt,
    StatusOpt,
    app,
    cli_settings,
    code_for_status,
    code_of,
    db_app,
    emit_json,
    err,
    finish,
    one_of,
    out,
    say,
)
from pipeline import jobs
from pipeline.db import describe_database_error
from pipeline.errors import (
    Interrupted,
    JobNotFound,
    JubenError,
)
from pipeline.logs import configure_logging
from pipeline.schemas import JobView
from pipeline.settings import get_settings, load_settings, set_settings
from pipeline.states import TERMINAL, Status


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        out.print(f"juben {version('juben')}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    embedded: Annotated[
        bool,
        typer.Option(
            "--embedded", help="Use the embedded mode's private PostgreSQL (where `run` keeps its jobs)."
        ),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log at the settings' level, not warnings only.")
    ] = False,
) -> None:
    """Juben: ingest → chunk → extract → dedup → storyboard → report."""
    settings = load_settings(mode="embedded") if embedded else load_settings()
    if embedded and ctx.invoked_subcommand != "run":  # `run` starts the server itself
        from entrypoints.localpg import embedded_settings

        with contextlib.ExitStack() as stack:
            settings = stack.enter_context(embedded_settings(settings))
            ctx.call_on_close(stack.pop_all().close)
    set_settings(settings)
    configure_logging(settings, stream=sys.stderr, level=None if verbose else "WARNING")


def _fmt_eta(eta: float | None) -> str:
    if eta is None:
        return "unknown"
    minutes, seconds = divmod(int(eta), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _print_view(view: JobView) -> None:
    table = Table(show_header=False, box=None)
    table.add_row("job", view.id)
    table.add_row("project", view.project)
    table.add_row("title", view.title or "")
    table.add_row("status", f"{view.status} (run {view.run})")
    table.add_row("progress", f"{view.percent:.0f}%  {view.step}")
    if Status(view.status) not in TERMINAL:
        table.add_row("eta", _fmt_eta(view.eta_s))
    if view.chunks_total:
        table.add_row("chunks", f"{view.chunks_done}/{view.chunks_total}")
    if view.llm:
        u = view.llm
        table.add_row(
            "llm",
            f"{u['calls']} calls, {u['prompt_tokens']:,} prompt + {u['completion_tokens']:,} completion tokens, "
            f"{u['cache_hits']}/{u['chunks']} chunks from cache, {u['call_seconds']:.1f}s in calls",
        )
    if view.error:
        table.add_row("failed stage", view.failed_stage or "")
        table.add_row("error", view.error)
    table.add_row("created", view.created_at.isoformat(timespec="seconds"))
    if view.finished_at:
        table.add_row("finished", view.finished_at.isoformat(timespec="seconds"))
    for t in view.timings:
        table.add_row(f"  {t.stage}", f"{t.duration_s:.2f}s" if t.duration_s is not None else "running")
    out.print(table)


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.fields[status]:<13}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=err,
        transient=False,
    )


def _watch(job_id: str, interval: float) -> JobView:
    with _progress_bar() as bar:
        task = bar.add_task("", total=100, status="")
        while True:
            view = jobs.get_status(job_id)
            eta = f" · eta {_fmt_eta(view.eta_s)}" if view.eta_s else ""
            bar.update(task, completed=view.percent, description=view.step + eta, status=view.status)
            if Status(view.status) in TERMINAL:
                return view
            time.sleep(interval)


ProjectOpt = Annotated[
    str | None,
    typer.Option(
        help="Project the job belongs to; assets (characters, places) are shared within a project. "
        "Default: the script's own, named for its --title, else its file or folder name."
    ),
]


@app.command()
def run(
    paths: Annotated[list[Path], typer.Argument(help="Script files, or a folder of episode files.")],
    project: ProjectOpt = None,
    title: Annotated[
        str | None, typer.Option(help="Title (default: the title page's, else the file name).")
    ] = None,
    no_cache: NoCacheOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Break a script down right here (embedded: a private PostgreSQL and an in-process worker, no server).

    Exits 0 if the job completed, 5 if it failed, 6 if it was cancelled; Ctrl-C cancels the job and exits 130.
    """
    from entrypoints import embedded

    settings = load_settings(mode="embedded")
    options = {"no_cache": True} if no_cache else None
    if as_json:
        view, files = embedded.run(paths, settings=settings, project=project, title=title, options=options)
    else:
        with _progress_bar() as bar:
            task = bar.add_task("submitting", total=100, status="PENDING")

            def show(v: JobView) -> None:
                bar.update(task, completed=v.percent, description=v.step, status=v.status)

            view, files = embedded.run(
                paths, settings=settings, project=project, title=title, on_progress=show, options=options
            )
    if as_json:
        emit_json({**view.model_dump(mode="json"), "report_files": {k: str(v) for k, v in files.items()}})
    else:
        _print_view(view)
        for fmt, path in files.items():
            out.print(f"report ({fmt}): {path}")
    finish([code_for_status(view.status)])


@app.command()
def submit(
    paths: Annotated[list[Path], typer.Argument(help="Script files, or a folder of episode files.")],
    project: ProjectOpt = None,
    title: Annotated[str | None, typer.Option(help="Title shown in listings and the report.")] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            help="Submitting the same key with the same script again returns the same job; "
            "with a different script it is refused (exit 2)."
        ),
    ] = None,
    no_cache: NoCacheOpt = False,
    callback_url: Annotated[
        str | None,
        typer.Option(help="POST the job's end here, signed with the tenant's webhook secret."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit a job to the workers (server mode) and print its id at once.

    Once the id is printed the job is stored and will run. If Redis cannot be reached, the job
    still is stored, a warning says its start is delayed, and the workers' reconciler starts it
    once Redis is back: do not submit it again.
    """
    done = jobs.submit_job(
        paths,
        project=project,
        title=title,
        idempotency_key=idempotency_key,
        options={"no_cache": True} if no_cache else None,
        callback_url=callback_url,
    )
    if as_json:
        emit_json(
            {
                "id": done.job_id,
                "project": done.project,
                "created": done.created,
                "dispatched": done.dispatched,
            }
        )
    else:
        out.print(done.job_id)
    if not done.dispatched:
        say(
            f"warning: job {done.job_id} is stored, but Redis cannot be reached: it starts when Redis is "
            "back and a worker's reconciler sends it (reconcile.ready_after_s); do not submit it again"
        )


@app.command()
def status(job_id: str, as_json: JsonOpt = False) -> None:
    """Show a job's status, progress, current step, ETA, stage timings and error."""
    view = jobs.get_status(job_id)
    emit_json(view) if as_json else _print_view(view)


@app.command()
def watch(
    job_id: str,
    interval: Annotated[float, typer.Option(help="Seconds between polls.")] = 0.5,
    as_json: JsonOpt = False,
) -> None:
    """Show a live progress bar until the job ends.

    Exits 0 if it completed, 5 if it failed, 6 if it was cancelled; Ctrl-C stops watching (130) and leaves the job running.
    """
    try:
        view = _watch(job_id, interval)
    except KeyboardInterrupt:
        raise Interrupted(
            f"stopped watching job {job_id}; it goes on (python enqueue.py watch {job_id})"
        ) from None
    if as_json:
        emit_json(view)
    finish([code_for_status(view.status)])


@app.command("jobs")
def list_jobs(
    status: StatusOpt = None,
    project: Annotated[str | None, typer.Option(help="Only jobs of this project.")] = None,
    limit: Annotated[int, typer.Option(help="Jobs per page (1-1000).", min=1, max=1000)] = 20,
    cursor: Annotated[str | None, typer.Option(help="next_cursor from the previous page.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List jobs, newest first."""
    page = jobs.list_jobs(status=status, project=project, limit=limit, cursor=cursor)
    if as_json:
        emit_json(page)
        return
    table = Table("project", "title", "status", "progress", "created")
    table.add_column("job", no_wrap=True, min_width=32)  # ids are copied from here: never truncate
    for item in page.items:
        table.add_row(
            item.project,
            item.title or "",
            item.status,
            f"{item.percent:.0f}%",
            item.created_at.isoformat(timespec="seconds"),
            item.id,
        )
    out.print(table)
    if page.next_cursor:
        out.print(f"more: --cursor {page.next_cursor}")


#: The report's formats, and the CSV tables (``stages.report.render.CSV_TABLES``; a test keeps them equal:
#: importing ``stages`` here would bind every actor to a broker before the command sets one up).
REPORT_FORMATS = ("html", "json", "csv")
CSV_TABLES = ("scenes", "characters", "locations", "props", "background", "shots")


@app.command()
def report(
    job_id: str,
    fmt: Annotated[
        str, typer.Option("--format", help="html, json or csv.", callback=one_of(REPORT_FORMATS))
    ] = "html",
    table: Annotated[
        str,
        typer.Option(help=f"For csv: {', '.join(CSV_TABLES)}.", callback=one_of(CSV_TABLES)),
    ] = "scenes",
    out_path: Annotated[Path | None, typer.Option("--out", help="File to write (default: stdout).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a completed job's report (to stdout, or --out PATH).

    ``--json`` prints what was written as JSON instead (job, format, table, path, bytes; with
    no --out, the content too).
    """
    from stages.report.render import report_content

    content = report_content(job_id, fmt, table)
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(content, encoding="utf-8")
    if as_json:
        meta: dict[str, Any] = {
            "job_id": job_id,
            "format": fmt,
            "table": table if fmt == "csv" else None,
            "path": str(out_path) if out_path else None,
            "bytes": len(content.encode()),
        }
        emit_json(meta if out_path else {**meta, "content": content})
    elif out_path is None:
        sys.stdout.write(content)
    else:
        say(f"wrote {out_path}")


@app.command()
def cancel(job_ids: list[str], as_json: JsonOpt = False) -> None:
    """Cancel jobs; their pending messages are dropped and late results discarded.

    Each id gets its own line (or JSON entry); exits 3 if any id is unknown.
    """
    outcomes: dict[str, str] = {}
    codes = []
    for job_id in dict.fromkeys(job_ids):
        try:
            outcomes[job_id] = "cancelled" if jobs.cancel(job_id) else "already ended"
            codes.append(ExitCode.OK)
        except JobNotFound as exc:
            outcomes[job_id] = str(exc)
            codes.append(code_of(exc))
    if as_json:
        emit_json(
            {
                "cancelled": [j for j, o in outcomes.items() if o == "cancelled"],
                "already_ended": [j for j, o in outcomes.items() if o == "already ended"],
                "not_found": [j for j, o in outcomes.items() if o not in ("cancelled", "already ended")],
            }
        )
    else:
        for job_id, outcome in outcomes.items():
            if outcome in ("cancelled", "already ended"):
                out.print(f"{job_id}: {outcome}", highlight=False)
            else:
                say(f"error: {outcome}")
    finish(codes)


@db_app.command("upgrade")
def db_upgrade(as_json: JsonOpt = False) -> None:
    """Create the database if needed and apply every migration."""
    from pipeline import migrate

    migrate.upgrade(cli_settings())
    db_current(as_json)


@db_app.command("current")
def db_current(as_json: JsonOpt = False) -> None:
    """Print the database's schema revision."""
    from pipeline import migrate

    revision = migrate.current(cli_settings())
    if as_json:
        emit_json({"revision": revision})
    else:
        hint = "no schema: run `python enqueue.py db upgrade`"
        out.print(f"database at revision {revision}" if revision else hint)


# The ops commands (dlq, rerun, reconcile) live in their own module and register on `app`.
from entrypoints import cli_keys, cli_ops  # noqa: E402, F401


def _click_exception() -> type[Exception]:
    """The base class of typer's usage errors: click's ``ClickException``, which typer 0.29 and
    later vendor (``typer._click``, no ``click`` package installed) and earlier ones import."""
    return next(k for k in typer.BadParameter.__mro__ if k.__name__ == "ClickException")


def entrypoint(argv: list[str] | None = None) -> int:  # noqa: PLR0911 (one exit code per kind of failure)
    """Run the CLI, turning every failure into one line on stderr and an :class:`ExitCode`."""
    from redis.exceptions import RedisError
    from sqlalchemy.exc import DBAPIError

    verbose = any(a in ("-v", "--verbose") for a in (sys.argv[1:] if argv is None else argv))
    try:
        return int(app(args=argv, standalone_mode=False) or 0)
    except JubenError as exc:
        code = code_of(exc)
        say(f"{'interrupted' if code == ExitCode.INTERRUPTED else 'error'}: {exc}")
        return code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        say("interrupted")
        return ExitCode.INTERRUPTED
    except _click_exception() as exc:  # usage errors: typer's own, and our one_of callbacks
        ctx = getattr(exc, "ctx", None)
        where = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        message = exc.format_message()  # type: ignore[attr-defined]
        if message:  # (none when a bare group printed its help)
            say(f"usage error: {message}{where}")
        return int(getattr(exc, "exit_code", ExitCode.USAGE))
    except DBAPIError as exc:
        say(describe_database_error(exc, get_settings()))
        return ExitCode.UNAVAILABLE
    except RedisError as exc:
        from pipeline.broker import describe_redis_error

        say(describe_redis_error(exc, get_settings()))
        return ExitCode.UNAVAILABLE
    except Exception as exc:
        if verbose:
            import traceback

            traceback.print_exc()
        say(f"internal error: {type(exc).__name__}: {exc} (run with --verbose for the traceback)")
        return ExitCode.ERROR
