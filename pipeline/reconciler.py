"""The reconciler: re-drive jobs stranded in a state longer than it should take.

A job can strand when a message is lost: a crash between commit and send, a Redis restart, a
worker killed mid-stage whose message dramatiq will only redeliver minutes later. The database
says where every job is, so the reconciler looks for jobs whose ``updated_at`` is older than
the limit for their state (ready states: ``reconcile.ready_after_s``; running states: the
stage's time limit plus ``reconcile.grace_s``) and sends their stage's message again.

Safe when several run at once: each re-drive is a compare-and-set on ``updated_at``, so only one
reconciler wins a given job.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

import dramatiq
from dramatiq.middleware import Middleware
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from models import Job
from models.base import utcnow
from pipeline.db import as_utc, session_factory
from pipeline.logs import get_logger
from pipeline.metrics import metrics
from pipeline.settings import Settings, get_settings
from pipeline.states import STAGES, StageSpec, Status
from pipeline.transitions import record_note
from pipeline.uow import UnitOfWork, stage_message

log = get_logger(__name__)


class Stranded(BaseModel):
    job_id: str
    status: str
    stuck_s: float
    stage: str
    redriven: bool


@dataclass(frozen=True)
class _Rule:
    status: Status
    stage: StageSpec
    limit: timedelta


def _rules(settings: Settings) -> list[_Rule]:
    rules = []
    for spec in STAGES:
        ready_limit = timedelta(seconds=settings.reconcile.ready_after_s)
        running_limit = timedelta(
            seconds=settings.stages.for_stage(spec.name).time_limit_s + settings.reconcile.grace_s
        )
        rules.append(_Rule(spec.ready, spec, ready_limit))
        rules.append(_Rule(spec.running, spec, running_limit))
    return rules


def reconcile(*, settings: Settings | None = None, dry_run: bool = False, limit: int = 500) -> list[Stranded]:
    """Find stranded jobs and (unless ``dry_run``) re-send their stage's message.

    Returns:
        The stranded jobs found, each marked whether this call re-drove it.
    """
    settings = settings or get_settings()
    now = utcnow()
    found: list[Stranded] = []
    factory = session_factory(settings)
    for rule in _rules(settings):
        with factory() as session:
            rows = session.execute(
                select(Job.id, Job.updated_at, Job.options)
                .where(Job.status == rule.status.value, Job.updated_at < now - rule.limit)
                .order_by(Job.updated_at)
                .limit(limit)
            ).all()
        for job_id, updated_at, options in rows:
            stuck = (now - as_utc(updated_at)).total_seconds()
            own_limit = (options or {}).get("time_limit_s") if rule.status == rule.stage.running else None
            if own_limit and stuck < float(own_limit) + settings.reconcile.grace_s:
                continue  # the job was given a longer time limit (dlq retry --set time_limit_s=…)
            redriven = not dry_run and _redrive(factory, job_id, rule, updated_at, stuck)
            found.append(
                Stranded(
                    job_id=job_id,
                    status=rule.status.value,
                    stuck_s=round(stuck, 1),
                    stage=rule.stage.name,
                    redriven=redriven,
                )
            )
    if found:
        log.warning(
            "reconciler_found_stranded_jobs", count=len(found), redriven=sum(s.redriven for s in found)
        )
    return found


def _redrive(
    factory: sessionmaker[Session], job_id: str, rule: _Rule, seen_updated_at: datetime, stuck: float
) -> bool:
    with UnitOfWork(factory) as uow:
        won = uow.session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == rule.status.value, Job.updated_at == seen_updated_at)
            .values(updated_at=utcnow())
            .returning(Job.run, Job.options)
        ).one_or_none()
        if won is None:
            return False  # it moved on, or another reconciler took it
        run, options = won
        record_note(
            uow.session, job_id, run, rule.status, f"reconciler re-drive after {stuck:.0f}s in {rule.status}"
        )
        uow.send_after_commit(stage_message(rule.stage, job_id, job_options=options))
    metrics().redrives.labels(rule.status.value).inc()
    log.warning("job_redriven", job_id=job_id, status=rule.status.value, stuck_s=round(stuck, 1))
    return True


class PeriodicReconciler(Middleware):
    """Runs :func:`reconcile` every ``reconcile.interval_s`` (with jitter) in each worker process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="juben-reconciler", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()

    def _loop(self) -> None:
        interval = self.settings.reconcile.interval_s
        while not self._stop.wait(interval * random.uniform(0.5, 1.5)):
            try:
                reconcile(settings=self.settings)
            except Exception:
                log.exception("reconciler_failed")
