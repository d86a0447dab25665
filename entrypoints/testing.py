"""Helpers for tests and in-process runs, shipped with the code (as dramatiq ships StubBroker).

- :func:`bind_actors` re-declares already-imported actors on another broker;
- :func:`drain` runs a StubBroker's queues until they are empty;
- :func:`capture_logs` is structlog's, re-exported.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable

import dramatiq
from dramatiq.brokers.stub import StubBroker
from structlog.testing import capture_logs

from pipeline.broker import actor_options
from pipeline.middleware import stage_for_actor
from pipeline.settings import Settings

__all__ = ["bind_actors", "capture_logs", "drain"]


def bind_actors(
    broker: dramatiq.Broker, packages: Iterable[str] = ("stages",), settings: Settings | None = None
) -> list[dramatiq.Actor[..., None]]:
    """Import the stage packages and declare every actor they define on ``broker``.

    Actors bind to the global broker when ``@actor`` runs; a test (or the embedded mode) that
    makes a new broker afterwards calls this to move them over. Their retry and time-limit
    options are refreshed from ``settings`` (default: the process's), which may have changed
    since the stages were imported.

    Returns:
        The actors bound.
    """
    bound = []
    for package in packages:
        importlib.import_module(package)
        for name, module in list(sys.modules.items()):
            if module is None or not (name == package or name.startswith(package + ".")):
                continue
            for value in vars(module).values():
                if isinstance(value, dramatiq.Actor) and value not in bound:
                    value.options.update(actor_options(stage_for_actor(value.actor_name), settings))
                    value.broker = broker
                    broker.declare_actor(value)
                    bound.append(value)
    return bound


def drain(broker: StubBroker, worker: dramatiq.Worker, *, fail_fast: bool = False) -> None:
    """Process messages until every queue (delayed ones included) is empty.

    Args:
        broker: the stub broker.
        worker: a started worker on it.
        fail_fast: re-raise the first dead-lettered exception (dramatiq 2.x's default is True;
            ours is False because dead letters are state we assert on).
    """
    while True:
        for queue in list(broker.queues):
            broker.join(queue, fail_fast=fail_fast)
        worker.join()
        if all(broker.queues[q].unfinished_tasks == 0 for q in broker.queues):
            return
