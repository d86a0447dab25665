"""Rate limits of the HTTP API: GCRA (a leaky bucket kept as one timestamp).

Submissions per API key, and the console's sign-in attempts per client address. Each subject
may act ``per_minute`` times a minute, up to ``burst`` at once: the state is the subject's
"theoretical arrival time" (TAT); an action is allowed when TAT − burst tolerance ≤ now, and
moves TAT one interval on. Refused, the caller learns how long to wait (``Retry-After``).
Server mode keeps TAT in Redis (one script call, clock: Redis's ``TIME``), so every API process
on every machine shares one limit per subject; the embedded mode keeps it in the process.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from pipeline.errors import RateLimited

# KEYS[1] the key's TAT; ARGV[1] interval (s), ARGV[2] tolerance (s). Returns the wait (string), "0" if allowed.
_ALLOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local wait = tat - tonumber(ARGV[2]) - now
if wait > 0 then
  return tostring(wait)
end
redis.call('SET', KEYS[1], string.format('%.6f', tat + interval), 'EX', math.ceil(tat + interval - now) + 1)
return '0'
"""


class RateLimit:
    """``per_minute`` actions a minute per subject, ``burst`` at once; 0 per minute: no limit.

    Args:
        name: what is limited, in the Redis key (``submit``: per API key; ``sign-in``: per address).
        refusal: the start of the refusal's message (``…; retry in N s`` follows).
        client: a Redis client (server mode), or ``None`` to keep the state in this process.
    """

    def __init__(
        self,
        per_minute: int,
        burst: int,
        *,
        name: str = "submit",
        refusal: str = "too many requests",
        client: Any = None,
        namespace: str = "juben",
        clock: Any = None,
    ) -> None:
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self.tolerance = self.interval * (max(burst, 1) - 1)
        self.refusal = refusal
        self._client = client
        self._prefix = f"{namespace}:api:{name}-tat:"
        self._script = client.register_script(_ALLOW) if client is not None else None
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock or time.monotonic

    def take(self, subject: str) -> None:
        """Count one action of ``subject`` (a key's submission request, a batch being one; an
        address's sign-in attempt).

        Raises:
            RateLimited: over the limit; nothing counted. ``retry_after_s`` says when to retry.
        """
        if not self.interval:
            return
        wait = self._allow(subject)
        if wait > 0:
            raise RateLimited(f"{self.refusal}; retry in {wait:.1f} s", retry_after_s=wait)

    def _allow(self, subject: str) -> float:
        if self._script is not None:
            return float(self._script(keys=[self._prefix + subject], args=[self.interval, self.tolerance]))
        with self._lock:
            now = self._clock()
            tat = max(self._tat.get(subject, 0.0), now)
            wait = tat - self.tolerance - now
            if wait > 0:
                return wait
            self._tat[subject] = tat + self.interval
            return 0.0
