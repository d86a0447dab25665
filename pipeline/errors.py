"""The kinds of error Juben raises; the kind decides whether a message is retried.

Each class's docstring is its default message, as in procrastinate.
"""

from __future__ import annotations


class JubenError(Exception):
    """Juben failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class TransientError(JubenError):
    """A temporary fault (timeout, lost connection, rate limit); retrying may succeed."""


class PermanentError(JubenError):
    """A fault that retrying cannot fix; the job fails and is dead-lettered at once."""


class InputError(PermanentError):
    """The script cannot be processed as given."""


class IdempotencyConflict(InputError):
    """The idempotency key was used before for a different request."""


class JobBusy(InputError):
    """The job is running; the operation needs it ended (or ``--force``)."""


class IllegalTransition(PermanentError):
    """The job is not in the state this transition starts from."""


class JobNotFound(JubenError):
    """No job has this id."""


class NotFound(JobNotFound):
    """No such record (a dead letter, …)."""


class Unauthorized(JubenError):
    """No API key, or a malformed, unknown or revoked one (the HTTP API answers 401)."""


class Forbidden(JubenError):
    """This API key's role may not do that (a viewer submitting, a submitter cancelling)."""


class TooLarge(InputError):
    """The request body is over the limit (ingest.max_bytes); nothing was stored."""


class RateLimited(JubenError):
    """Over a rate limit (submissions per API key, sign-ins per address); try again after
    ``retry_after_s`` seconds."""

    def __init__(self, message: str | None = None, *, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Unavailable(JubenError):
    """A service Juben needs (the database, Redis) cannot be reached."""


class Interrupted(JubenError):
    """The command was interrupted (Ctrl-C)."""


class SettingsError(JubenError):
    """The settings are invalid."""


def is_transient(exc: BaseException) -> bool:
    """Tell whether retrying the message that raised ``exc`` may succeed.

    Transient: our :class:`TransientError`, time limits, lost database or Redis connections,
    database serialization failures and deadlocks, OS-level timeouts and connection errors.
    Anything else (bad input, a bug) is permanent: retrying a bug twenty times only delays the
    dead letter an operator needs to see.
    """
    from dramatiq.middleware import TimeLimitExceeded
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from sqlalchemy.exc import DBAPIError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(exc, PermanentError):
        return False
    if isinstance(
        exc, TransientError | TimeLimitExceeded | PoolTimeout | RedisConnectionError | RedisTimeoutError
    ):
        return True
    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "pgcode", None)
        # 40001 serialization_failure, 40P01 deadlock_detected, 57P01 admin_shutdown
        return bool(exc.connection_invalidated) or code in {"40001", "40P01", "57P01"}
    return isinstance(exc, ConnectionError | TimeoutError)
