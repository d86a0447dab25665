"""The ``deliver_webhook`` actor: the shell of :func:`pipeline.webhooks.deliver` (not a stage of
the breakdown: it tells a job's callback URL that the job ended). Its retries are ``[webhooks]``'s."""

from __future__ import annotations

import dramatiq

from pipeline.broker import actor_options
from pipeline.runner import message_info
from pipeline.settings import get_settings
from pipeline.webhooks import ACTOR, QUEUE, deliver


@dramatiq.actor(actor_name=ACTOR, queue_name=QUEUE, **actor_options("webhook"))
def deliver_webhook(job_id: str, delivery_id: int) -> None:
    _, attempt = message_info()
    deliver(job_id, delivery_id, attempt=attempt, settings=get_settings())
