"""Per-key submission limits for the HTTP API: GCRA (a leaky bucket kept as one timestamp).

Each key may submit ``per_minute`` jobs a minute, up to ``burst`` at once: the state is the
key's "theoretical arrival time" (TAT); a submission is allowed when TAT − burst tolerance ≤
now, and moves TAT one interval on. Refused, the caller learns how long to wait (``Retry-After``).
Server mode keeps TAT in Redis (one script call, clock: Redis's ``TIME``), so every API process
on every machine shares one limit per key; the embedded mode keeps it in the process.
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


class SubmitQuota:
    """``per_minute`` submissions a minute per key, ``burst`` at once; 0 per minute: no limit.

    Args:
        client: a Redis client (server mode), or ``None`` to keep the state in this process.
    """

    def __init__(
        self, per_minute: int, burst: int, *, client: Any = None, namespace: str = "juben", clock: Any = None
    ) -> None:
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self.tolerance = self.interval * (max(burst, 1) - 1)
        self._client = client
        self._prefix = f"{namespace}:api:submit-tat:"
        self._script = client.register_script(_ALLOW) if client is not None else None
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock or time.monotonic

    def take(self, key: str) -> None:
        """Count one submission request for ``key`` (a batch is one request).

        Raises:
            RateLimited: over the limit; nothing counted. ``retry_after_s`` says when to retry.
        """
        if not self.interval:
            return
        wait = self._allow(key)
        if wait > 0:
            raise RateLimited(
                f"too many submissions with this key (api.submits_per_minute = {60 / self.interval:g});"
                f" retry in {wait:.1f} s",
                retry_after_s=wait,
            )

    def _allow(self, key: str) -> float:
        if self._script is not None:
            return float(self._script(keys=[self._prefix + key], args=[self.interval, self.tolerance]))
        with self._lock:
            now = self._clock()
            tat = max(self._tat.get(key, 0.0), now)
            wait = tat - self.tolerance - now
            if wait > 0:
                return wait
            self._tat[key] = tat + self.interval
            return 0.0
