"""What every command shares: the typer app, the consoles, exit codes and option types.

:mod:`entrypoints.cli` and :mod:`entrypoints.cli_ops` both register their commands on :data:`app`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from enum import IntEnum
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console

from pipeline.errors import InputError, Interrupted, JobNotFound, JubenError, SettingsError, Unavailable
from pipeline.settings import Settings, get_settings
from pipeline.states import STAGES, Status

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Juben (剧本): break screenplays down.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")
# soft_wrap: a line longer than the terminal is not broken with newlines (ids and errors are copied).
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class ExitCode(IntEnum):
    """What a command's exit status means (the README's table). Several ids: the largest."""

    #: Done; for a command that waits on a job, the job COMPLETED.
    OK = 0
    #: An unexpected error (a bug): one line here, the traceback with ``--verbose``.
    ERROR = 1
    #: Bad usage, input, option or setting; an idempotency key reused for another script; a
    #: re-run of a running job without ``--force``. Nothing was changed.
    USAGE = 2
    #: An unknown job or dead letter id.
    NOT_FOUND = 3
    #: The database or Redis cannot be reached (or the database is not migrated).
    UNAVAILABLE = 4
    #: The job ended FAILED.
    JOB_FAILED = 5
    #: The job ended CANCELLED.
    JOB_CANCELLED = 6
    #: Interrupted (Ctrl-C); ``run`` cancels its job first.
    INTERRUPTED = 130


def code_of(exc: JubenError) -> ExitCode:
    """The exit code of one of Juben's errors."""
    if isinstance(exc, JobNotFound):
        return ExitCode.NOT_FOUND
    if isinstance(exc, InputError | SettingsError):
        return ExitCode.USAGE
    if isinstance(exc, Unavailable):
        return ExitCode.UNAVAILABLE
    if isinstance(exc, Interrupted):
        return ExitCode.INTERRUPTED
    return ExitCode.ERROR


def code_for_status(status: str) -> ExitCode:
    """The exit code of a command that waited for a job that ended in ``status``."""
    return {
        Status.COMPLETED: ExitCode.OK,
        Status.FAILED: ExitCode.JOB_FAILED,
        Status.CANCELLED: ExitCode.JOB_CANCELLED,
    }.get(Status(status), ExitCode.ERROR)


def say(line: str) -> None:
    """Print one line to stderr as it is: no markup, no wrapping at the terminal's width."""
    sys.stderr.write(line.rstrip("\n") + "\n")
    sys.stderr.flush()


def finish(codes: Iterable[int]) -> None:
    """End a command on several items with the largest of their exit codes (0 if all went well)."""
    worst = max(codes, default=0)
    if worst:
        raise typer.Exit(worst)


def one_of(choices: Iterable[str], *, upper: bool = False) -> Callable[[str | None], str | None]:
    """A typer callback that refuses a value outside ``choices``, listing them (exit 2)."""
    allowed = tuple(choices)

    def check(value: str | None) -> str | None:
        if value is None:
            return None
        wanted = value.upper() if upper else value
        if wanted not in allowed:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}")
        return wanted

    return check


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
NoCacheOpt = Annotated[
    bool,
    typer.Option("--no-cache", help="Ask the LLM again instead of using cached answers (this run only)."),
]


def cli_settings() -> Settings:
    return get_settings()


def emit_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")


StatusOpt = Annotated[
    str | None,
    typer.Option(
        help=f"Only jobs in this status: {', '.join(STAGES.statuses)}.",
        callback=one_of(STAGES.statuses, upper=True),
    ),
]
