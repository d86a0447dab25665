"""Requests-per-minute and tokens-per-minute limits shared by every worker process on every machine.

The algorithm is GCRA with reservations: each caller books the next free slot in one atomic
step and sleeps until it, so N waiting threads cost N Redis round trips in all, not a polling
storm. Requests are spaced strictly (``60 / rpm`` seconds apart, less 1% headroom, no burst),
which keeps every 60-second window under ``rpm``; tokens may burst up to ten seconds' worth and are corrected
after each answer with the real usage. Server mode keeps the state in Redis (clock: Redis's
``TIME``, so machines need not agree on time); embedded mode keeps it in the process.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from pipeline.errors import TransientError

#: A caller that would wait longer than this is turned away (its message is retried later).
DEFAULT_MAX_WAIT_S = 300.0
#: Requests are paced 1% under ``rpm``: slots are exact, but arrivals at the provider jitter by
#: some milliseconds, and at exactly ``rpm`` a late request followed by an on-time one can put
#: rpm + 1 into a provider's 60-second window (measured: 5 429s in 1,200 requests at 600 RPM).
HEADROOM = 0.99
TOKEN_BURST_S = 10.0

# KEYS[1] request slot, KEYS[2] token slot; ARGV: request interval, seconds per token,
# tokens, token burst seconds, max wait. Returns the wait (string), negative if refused.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local req_i = tonumber(ARGV[1])
local tok_i = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local at = now
local req_tat = now
local tok_tat = now
if req_i > 0 then
  req_tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
  at = math.max(at, req_tat)
end
if tok_i > 0 then
  tok_tat = math.max(tonumber(redis.call('GET', KEYS[2]) or '0'), now)
  at = math.max(at, tok_tat - tonumber(ARGV[4]))
end
local wait = at - now
if wait > tonumber(ARGV[5]) then
  return tostring(-wait)
end
if req_i > 0 then
  redis.call('SET', KEYS[1], string.format('%.6f', at + req_i), 'EX', math.ceil(wait + req_i + 60))
end
if tok_i > 0 then
  local tat = math.max(tok_tat, at) + n * tok_i
  redis.call('SET', KEYS[2], string.format('%.6f', tat), 'EX', math.ceil(tat - now + 60))
end
return tostring(wait)
"""

_SETTLE = """
local v = redis.call('GET', KEYS[1])
if v then
  redis.call('SET', KEYS[1], string.format('%.6f', tonumber(v) + tonumber(ARGV[1])), 'KEEPTTL')
end
return 0
"""


class RateLimitBacklog(TransientError):
    """So many calls are queued for this endpoint that this one would wait too long; retry later."""


@dataclass(frozen=True)
class Limits:
    rpm: int = 0
    tpm: int = 0
    max_wait_s: float = DEFAULT_MAX_WAIT_S

    @property
    def request_interval(self) -> float:
        return 60.0 / (self.rpm * HEADROOM) if self.rpm else 0.0

    @property
    def token_interval(self) -> float:
        return 60.0 / self.tpm if self.tpm else 0.0

    @property
    def enabled(self) -> bool:
        return bool(self.rpm or self.tpm)


class _Gcra(ABC):
    """The booking arithmetic; subclasses keep the slots somewhere."""

    def __init__(self, limits: Limits, sleep: Any = time.sleep) -> None:
        self.limits = limits
        self._sleep = sleep

    @abstractmethod
    def _reserve(self, key: str, tokens: int) -> float:
        """Book the next slot; return the seconds until it (negative: refused, that far away)."""

    @abstractmethod
    def _shift_tokens(self, key: str, seconds: float) -> None:
        """Move the token slot by ``seconds``."""

    def acquire(self, key: str, tokens: int) -> float:
        """Book the next slot for one request of ``tokens`` and sleep until it.

        Returns:
            The seconds waited.

        Raises:
            RateLimitBacklog: the slot is further away than ``max_wait_s``.
        """
        if not self.limits.enabled:
            return 0.0
        wait = self._reserve(key, tokens)
        if wait < 0:
            raise RateLimitBacklog(
                f"rate limit backlog: the next free slot is {-wait:.0f} s away (limit {self.limits})"
            )
        if wait > 0:
            self._sleep(wait)
        return wait

    def settle(self, key: str, estimated: int, actual: int) -> None:
        """Move the token slot by the difference between the estimated and the real usage."""
        if self.limits.tpm and actual != estimated:
            self._shift_tokens(key, (actual - estimated) * self.limits.token_interval)


class LocalRateLimiter(_Gcra):
    """The limit within one process (embedded mode)."""

    def __init__(self, limits: Limits, sleep: Any = time.sleep, clock: Any = time.monotonic) -> None:
        super().__init__(limits, sleep)
        self._clock: Any = clock
        self._lock = threading.Lock()
        self._slots: dict[str, float] = {}

    def _reserve(self, key: str, tokens: int) -> float:
        lim = self.limits
        with self._lock:
            now = float(self._clock())
            req_tat = max(self._slots.get(key + ":req", 0.0), now)
            tok_tat = max(self._slots.get(key + ":tok", 0.0), now)
            at = now
            if lim.rpm:
                at = max(at, req_tat)
            if lim.tpm:
                at = max(at, tok_tat - TOKEN_BURST_S)
            wait = at - now
            if wait > lim.max_wait_s:
                return -wait
            if lim.rpm:
                self._slots[key + ":req"] = at + lim.request_interval
            if lim.tpm:
                self._slots[key + ":tok"] = max(tok_tat, at) + tokens * lim.token_interval
            return wait

    def _shift_tokens(self, key: str, seconds: float) -> None:
        with self._lock:
            if key + ":tok" in self._slots:
                self._slots[key + ":tok"] += seconds


class RedisRateLimiter(_Gcra):
    """The limit across every process and machine sharing one Redis."""

    def __init__(self, client: Any, namespace: str, limits: Limits, sleep: Any = time.sleep) -> None:
        super().__init__(limits, sleep)
        self._client = client
        self._prefix = f"{namespace}:ratelimit:"
        self._reserve_script = client.register_script(_RESERVE)
        self._settle_script = client.register_script(_SETTLE)

    def _keys(self, key: str) -> list[str]:
        return [f"{self._prefix}{key}:req", f"{self._prefix}{key}:tok"]

    def _reserve(self, key: str, tokens: int) -> float:
        lim = self.limits
        answer = self._reserve_script(
            keys=self._keys(key),
            args=[lim.request_interval, lim.token_interval, tokens, TOKEN_BURST_S, lim.max_wait_s],
        )
        return float(answer)

    def _shift_tokens(self, key: str, seconds: float) -> None:
        self._settle_script(keys=self._keys(key)[1:], args=[seconds])
