"""Ops commands: dead letters (dlq), re-runs and the reconciler. Registered on :data:`entrypoints.cli.app`."""

from __future__ import annotations

import dataclasses
import getpass
import time
from typing import Annotated, Any

import typer
from rich.progress import Progress
from rich.table import Table

from entrypoints.cli_common import (
    ExitCode,
    JsonOpt,
    NoCacheOpt,
    StatusOpt,
    app,
    emit_json,
    err,
    finish,
    one_of,
    out,
    say,
)
from pipeline import deadletters, reruns
from pipeline.reconciler import reconcile as run_reconcile
from pipeline.settings import parse_option_pairs
from pipeline.states import STAGES
from pipeline.when import parse_duration, parse_when

dlq_app = typer.Typer(no_args_is_help=True, help="Dead letters: inspect, group, re-drive, purge.")
app.add_typer(dlq_app, name="dlq")


def _who() -> str:
    try:
        return getpass.getuser()
    except OSError:
        return "operator"


StageOpt = Annotated[
    str | None,
    typer.Option("--stage", help=f"One of {', '.join(STAGES.names)}.", callback=one_of(STAGES.names)),
]


@dlq_app.command("list")
def dlq_list(
    stage: StageOpt = None,
    error: Annotated[str | None, typer.Option(help="Text in the error type or message.")] = None,
    project: Annotated[str | None, typer.Option(help="Only this project's jobs.")] = None,
    since: Annotated[str | None, typer.Option(help="ISO time or a duration ago (2h, 7d).")] = None,
    group: Annotated[bool, typer.Option("--group", help="Fold by fingerprint with counts.")] = False,
    resolved: Annotated[bool, typer.Option("--resolved", help="Include resolved dead letters.")] = False,
    limit: Annotated[int, typer.Option(help="Most rows to show.")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """List dead letters, newest first, or grouped by fingerprint."""
    filters: dict[str, Any] = {
        "stage": stage,
        "error": error,
        "project": project,
        "since": parse_when(since),
        "resolved": resolved,
    }
    if group:
        groups = deadletters.group_dead_letters(**filters)
        if as_json:
            emit_json([g.model_dump(mode="json") for g in groups])
            return
        if not groups:
            out.print("no dead letters")
            return
        table = Table("count", "jobs", "stage", "error", "first seen", "last seen")
        table.add_column("fingerprint", no_wrap=True)
        for g in groups:
            table.add_row(
                str(g.count),
                str(g.jobs),
                g.stage or "",
                f"{g.error_type}: {g.error[:60]}",
                g.first_seen.isoformat(timespec="seconds"),
                g.last_seen.isoformat(timespec="seconds"),
                g.fingerprint,
            )
        out.print(table)
        return
    letters = deadletters.list_dead_letters(**filters, limit=limit)
    if as_json:
        emit_json([d.model_dump(mode="json") for d in letters])
        return
    if not letters:
        out.print("no dead letters")
        return
    table = Table("id", "stage", "error", "tries", "at", "project")
    table.add_column("job", no_wrap=True)
    for d in letters:
        table.add_row(
            str(d.id),
            d.stage or "",
            f"{d.error_type}: {d.error[:60]}",
            str(d.attempts),
            d.created_at.isoformat(timespec="seconds"),
            d.project or "",
            d.job_id or "",
        )
    out.print(table)


@dlq_app.command("show")
def dlq_show(letter_id: int, as_json: JsonOpt = False) -> None:
    """Everything about one dead letter: message, traceback and the job's event history."""
    detail = deadletters.show_dead_letter(letter_id)
    if as_json:
        emit_json(detail)
        return
    for key in (
        "id",
        "job_id",
        "project",
        "stage",
        "actor",
        "queue",
        "message_id",
        "error_type",
        "error",
        "attempts",
        "fingerprint",
        "created_at",
        "resolved_at",
        "resolved_by",
    ):
        out.print(f"[bold]{key}[/bold]: {getattr(detail, key)}", highlight=False)
    out.print("[bold]traceback[/bold]:")
    out.print(detail.traceback or "(none)", markup=False, highlight=False)
    for chunk in detail.failed_chunks:
        out.print(f"[bold]chunk {chunk['chunk']} failed[/bold]: {chunk['error']}", highlight=False)
        if chunk["raw_answer"]:
            out.print("[bold]the model's answer[/bold]:")
            out.print(chunk["raw_answer"][:4000], markup=False, highlight=False)
    table = Table("run", "from", "to", "at", "attempt", "detail")
    for e in detail.events:
        table.add_row(str(e["run"]), e["from"], e["to"], e["at"], str(e["attempt"] or ""), e["detail"] or "")
    out.print(table)


@dlq_app.command("retry")
def dlq_retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Dead letter ids.")] = None,
    fingerprint: Annotated[
        str | None, typer.Option(help="Every unresolved dead letter with this fingerprint.")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every unresolved dead letter (narrow with --stage).")
    ] = False,
    stage: StageOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be re-driven.")] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="KEY=VALUE recorded on the job (e.g. max_chunk_chars=3000)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-drive failed jobs from the stage that failed; completed work is kept."""
    results = deadletters.retry_dead_letters(
        ids,
        fingerprint=fingerprint,
        all_=all_,
        stage=stage,
        dry_run=dry_run,
        overrides=parse_option_pairs(set_),
        actor=_who(),
    )
    if as_json:
        emit_json([r.model_dump(mode="json") for r in results])
    else:
        _print_redrives(results)
    finish(ExitCode.OK if r.found else ExitCode.NOT_FOUND for r in results)


def _print_redrives(results: list[deadletters.Redrive]) -> None:
    for r in results:
        letters = ", ".join(map(str, r.dead_letter_ids))
        if not r.found:
            say(f"error: {r.reason}")
        elif r.job_id is None or not r.stage:
            say(f"dead letter {letters}: {r.reason}")
        else:
            verdict = "re-driven" if r.done else (r.reason or "")
            out.print(f"{r.job_id} from {r.stage}: {verdict} (dead letters {letters})", highlight=False)
    if not results:
        say("no unresolved dead letters matched")


@dlq_app.command("purge")
def dlq_purge(
    older_than: Annotated[
        str, typer.Option(help="Drop dead letters older than this (and all resolved ones): 7d, 12h.")
    ] = "7d",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Drop resolved dead letters and those older than --older-than (dramatiq's copies too)."""
    count = deadletters.purge_dead_letters(parse_duration(older_than), dry_run=dry_run)
    if as_json:
        emit_json({"purged" if not dry_run else "would_purge": count})
    else:
        out.print(f"{'would purge' if dry_run else 'purged'} {count} dead letters")


@app.command()
def rerun(
    job_ids: Annotated[list[str] | None, typer.Argument(help="Jobs to re-run.")] = None,
    from_stage: Annotated[
        str,
        typer.Option(
            "--from-stage", help=f"One of {', '.join(STAGES.names)}.", callback=one_of(STAGES.names)
        ),
    ] = "ingest",
    status: StatusOpt = None,
    project: Annotated[str | None, typer.Option(help="Select jobs of this project.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Select jobs created since (ISO time or duration ago).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Select jobs created until (ISO time or duration ago).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the jobs, change nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Cancel running jobs first.")] = False,
    rate: Annotated[
        float, typer.Option(help="Re-runs per second, so big batches do not flood the workers.", min=0)
    ] = 20.0,
    set_: Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE recorded on the jobs.")] = None,
    no_cache: NoCacheOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Re-run jobs from a stage: reset to the ready state before it, drop its and later output, enqueue.

    ``--dry-run`` lists the jobs with what re-extracting them would cost: chunks that would call
    the LLM, chunks the cache would answer, and the estimated tokens. Each job's outcome is
    printed; the exit code is the worst of them (3: an unknown id, 2: refused, e.g. running).
    """
    selected = reruns.targets(
        job_ids, status=status, project=project, since=parse_when(since), until=parse_when(until)
    )
    if not selected:
        say("no jobs matched")
        return
    if dry_run:
        _rerun_plan(selected, from_stage, no_cache=no_cache, as_json=as_json)
        return
    options = parse_option_pairs(set_)
    if no_cache:
        options["no_cache"] = True
    from pipeline.settings import validate_job_options

    validate_job_options(options)  # before the progress bar starts: a bad --set is one line
    with Progress(console=err, transient=as_json) as bar:
        task = bar.add_task(f"re-running from {from_stage}", total=len(selected))

        def step(_: reruns.RerunOutcome) -> None:
            bar.advance(task)
            time.sleep(1 / rate if rate > 0 else 0)

        outcomes = reruns.rerun_many(
            selected, from_stage, force=force, options=options, actor=_who(), after_each=step
        )
    done = [o.job_id for o in outcomes if o.done]
    refused = {o.job_id: o.reason or "" for o in outcomes if not o.done}
    if as_json:
        emit_json({"rerun": done, "refused": refused})
    else:
        out.print(f"re-running {len(done)} jobs from {from_stage}")
        for job_id, why in refused.items():
            say(f"{job_id}: {why}")
    finish(ExitCode.OK if o.done else ExitCode.NOT_FOUND if not o.found else ExitCode.USAGE for o in outcomes)


def _rerun_plan(targets: list[str], from_stage: str, *, no_cache: bool, as_json: bool) -> None:
    """Print what re-running ``targets`` from ``from_stage`` would cost in LLM calls and tokens."""
    import stages.extract.stage  # noqa: F401 (registers extract's cost estimate)

    plan = reruns.preview(targets, from_stage, use_cache=not no_cache)
    rows = [{"job_id": job_id, **dataclasses.asdict(cost)} for job_id, cost in plan.jobs.items()]
    totals = plan.totals()
    if as_json:
        emit_json(
            {
                "would_rerun": list(plan.jobs),
                "from_stage": from_stage,
                "jobs": rows,
                "total": totals,
                "not_found": plan.not_found,
            }
        )
    elif plan.jobs:
        _print_plan(list(plan.jobs), from_stage, rows, totals)
    for job_id in plan.not_found:
        say(f"error: no job {job_id}")
    finish([ExitCode.NOT_FOUND] if plan.not_found else [])


def _print_plan(
    targets: list[str], from_stage: str, rows: list[dict[str, Any]], totals: dict[str, Any]
) -> None:
    table = Table("provider", "chunks", "LLM calls", "from cache", "est. tokens (prompt + completion)")
    table.add_column("job", no_wrap=True, min_width=32)  # ids are copied from here: never truncate
    for r in rows:
        table.add_row(
            str(r["provider"] or "-"),
            str(r["chunks"]),
            str(r["llm_calls"]),
            str(r["from_cache"]),
            f"{r['est_prompt_tokens']:,} + {r['est_completion_tokens']:,}",
            str(r["job_id"]),
        )
    out.print(f"would re-run {len(targets)} jobs from {from_stage}:")
    out.print(table)
    out.print(
        f"total: {totals['llm_calls']} LLM calls, {totals['from_cache']} chunks from cache, "
        f"~{totals['est_prompt_tokens'] + totals['est_completion_tokens']:,} tokens"
        + (f", ~{totals['est_cost']:,.4f} {totals['currency']}" if "est_cost" in totals else "")
    )


@app.command()
def reconcile(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list stranded jobs.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Find jobs stranded longer than their stage allows and re-drive them (workers also do this)."""
    found = run_reconcile(dry_run=dry_run)
    if as_json:
        emit_json([s.model_dump(mode="json") for s in found])
        return
    table = Table("status", "stuck", "stage", "action")
    table.add_column("job", no_wrap=True)
    for s in found:
        table.add_row(s.status, f"{s.stuck_s:.0f}s", s.stage, "re-driven" if s.redriven else "-", s.job_id)
    out.print(table if found else "no stranded jobs")


@app.command()
def stats(as_json: JsonOpt = False) -> None:
    """Jobs by status, dead letters, stage durations, retries, re-drives and LLM use."""
    from pipeline.stats import collect_stats

    figures = collect_stats()
    if as_json:
        emit_json(figures)
        return
    jobs = Table("status", "jobs", title="jobs")
    for status, count in figures["jobs"].items():
        if count:
            jobs.add_row(status, str(count))
    out.print(jobs)
    stages = Table("stage", "finished", "p50", "p95", title="stage durations (recent)")
    for stage, d in figures["stage_durations"].items():
        stages.add_row(stage, str(d["count"]), f"{d['p50_s'] or 0:.2f}s", f"{d['p95_s'] or 0:.2f}s")
    out.print(stages)
    letters = ", ".join(f"{k}: {v}" for k, v in figures["dead_letters_unresolved"].items()) or "none"
    out.print(f"unresolved dead letters: {letters}")
    out.print(f"retries: {figures['retries']}   reconciler re-drives: {figures['reconciler_redrives']}")
    llm = figures["llm"]
    out.print(
        f"LLM tokens: {llm['prompt_tokens']} prompt, {llm['completion_tokens']} completion; cache hits {llm['cache_hits']}"
    )
