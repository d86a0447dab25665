"""The command line: submit, run (embedded), status, watch, jobs, report, cancel, db.

Every command that shows something takes ``--json``. Errors print one clear line to stderr and
exit non-zero: 2 for bad input or settings, 3 for an unknown job, 1 for anything else.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline import jobs
from pipeline.errors import InputError, JobNotFound, JubenError, SettingsError
from pipeline.logs import configure_logging
from pipeline.schemas import JobView
from pipeline.settings import Settings, get_settings, load_settings, set_settings
from pipeline.states import TERMINAL, Status

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Juben (剧本): break screenplays down.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")
out = Console()
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
NoCacheOpt = Annotated[
    bool,
    typer.Option("--no-cache", help="Ask the LLM again instead of using cached answers (this run only)."),
]


def _settings() -> Settings:
    return get_settings()


def emit_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")


@app.callback()
def main(
    embedded: Annotated[
        bool, typer.Option("--embedded", help="Use the embedded database (where `run` keeps its jobs).")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log at the settings' level, not warnings only.")
    ] = False,
) -> None:
    """Juben: ingest → chunk → extract → dedup → storyboard → report."""
    settings = load_settings(mode="embedded") if embedded else load_settings()
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


@app.command()
def run(
    paths: Annotated[list[Path], typer.Argument(help="Script files, or a folder of episode files.")],
    project: Annotated[str, typer.Option(help="Project the job belongs to.")] = "default",
    title: Annotated[
        str | None, typer.Option(help="Title (default: the title page's, else the file name).")
    ] = None,
    no_cache: NoCacheOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Break a script down right here (embedded: SQLite and an in-process worker, no server)."""
    from pipeline import embedded

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
    if view.status != Status.COMPLETED:
        raise typer.Exit(1)


@app.command()
def submit(
    paths: Annotated[list[Path], typer.Argument(help="Script files, or a folder of episode files.")],
    project: Annotated[str, typer.Option(help="Project the job belongs to.")] = "default",
    title: Annotated[str | None, typer.Option(help="Title shown in listings and the report.")] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Submitting the same key again returns the same job.")
    ] = None,
    no_cache: NoCacheOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Submit a job to the workers (server mode) and print its id at once."""
    from pipeline.broker import setup_broker

    setup_broker(_settings())
    job_id = jobs.submit(
        paths,
        project=project,
        title=title,
        idempotency_key=idempotency_key,
        options={"no_cache": True} if no_cache else None,
    )
    if as_json:
        emit_json({"id": job_id})
    else:
        out.print(job_id)


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
    """Show a live progress bar until the job ends."""
    view = _watch(job_id, interval)
    if as_json:
        emit_json(view)
    if view.status != Status.COMPLETED:
        raise typer.Exit(1)


@app.command("jobs")
def list_jobs(
    status: Annotated[str | None, typer.Option(help="Only jobs in this status.")] = None,
    project: Annotated[str | None, typer.Option(help="Only jobs of this project.")] = None,
    limit: Annotated[int, typer.Option(help="Jobs per page.")] = 20,
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


@app.command()
def report(
    job_id: str,
    fmt: Annotated[str, typer.Option("--format", help="html, json or csv.")] = "html",
    table: Annotated[
        str, typer.Option(help="For csv: scenes, characters, locations, props or shots.")
    ] = "scenes",
    out_path: Annotated[Path | None, typer.Option("--out", help="File to write (default: stdout).")] = None,
) -> None:
    """Write a completed job's report."""
    if fmt == "csv" and table != "scenes":
        from stages.reporting import render_csv

        content = render_csv(json.loads(jobs.get_report(job_id, "json")), table)
    else:
        content = jobs.get_report(job_id, fmt)
    if out_path is None:
        sys.stdout.write(content)
    else:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(content, encoding="utf-8")
        err.print(f"wrote {out_path}")


@app.command()
def cancel(job_ids: list[str], as_json: JsonOpt = False) -> None:
    """Cancel jobs; their pending messages are dropped and late results discarded."""
    result = {job_id: jobs.cancel(job_id) for job_id in job_ids}
    if as_json:
        emit_json(
            {
                "cancelled": [j for j, ok in result.items() if ok],
                "already_ended": [j for j, ok in result.items() if not ok],
            }
        )
        return
    for job_id, ok in result.items():
        out.print(f"{job_id}: {'cancelled' if ok else 'already ended'}")


@db_app.command("upgrade")
def db_upgrade(as_json: JsonOpt = False) -> None:
    """Create the database if needed and apply every migration."""
    from pipeline import migrate

    migrate.upgrade(_settings())
    db_current(as_json)


@db_app.command("current")
def db_current(as_json: JsonOpt = False) -> None:
    """Print the database's schema revision."""
    from pipeline import migrate

    revision = migrate.current(_settings())
    if as_json:
        emit_json({"revision": revision})
    else:
        hint = "no schema: run `python enqueue.py db upgrade`"
        out.print(f"database at revision {revision}" if revision else hint)


# The ops commands (dlq, rerun, reconcile) live in their own module and register on `app`.
from pipeline import cli_ops  # noqa: E402, F401

#: Juben's error kinds → (exit code, label). Checked in order: subclasses first.
EXIT_CODES: tuple[tuple[type[JubenError], int, str], ...] = (
    (SettingsError, 2, "settings error"),
    (InputError, 2, "error"),
    (JobNotFound, 3, "error"),
    (JubenError, 1, "error"),
)


def entrypoint() -> int:  # noqa: PLR0911 (one exit code per kind of failure)
    """Run the CLI, turning Juben's errors into one clear line and an exit code."""
    import click
    from redis.exceptions import ConnectionError as RedisConnectionError
    from sqlalchemy.exc import DBAPIError

    try:
        app(standalone_mode=False)
    except JubenError as exc:
        code, label = next((c, lbl) for kind, c, lbl in EXIT_CODES if isinstance(exc, kind))
        err.print(f"{label}: {exc}", markup=False, highlight=False)
        return code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        return 130
    except click.ClickException as exc:  # usage errors
        exc.show()
        return exc.exit_code
    except DBAPIError as exc:  # the database is down, unreachable, not created or not migrated
        reason = " ".join(str(exc.orig or exc).split("\n")[0].split())
        hint = " (create or migrate it: python enqueue.py db upgrade)" if "does not exist" in reason else ""
        err.print(f"database error: {reason}{hint}", markup=False, highlight=False)
        return 4
    except RedisConnectionError as exc:
        err.print(f"redis error: {exc} (is Redis running at broker.url?)", markup=False, highlight=False)
        return 4
    return 0
