"""What an API process keeps in memory while the database would tell it of a change.

The event hub (:class:`entrypoints.api.events.EventHub`) LISTENs for changes of keys and jobs on
one connection. A value read from the database may be kept as long as that connection has stayed
up since it was read (its ``generation``): a notification lost while it was down could have been
about the value. The key cache and the status cache keep their values so.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

V = TypeVar("V")


class Kept(Generic[V]):
    """Values by key, each trusted only while the hub's connection is the one it was read under;
    at most ``size`` (the oldest goes first; 0 keeps nothing).

    Used only from the event loop's thread (the hub's notifications arrive there), so its checks
    and updates never interleave.
    """

    def __init__(self, hub: Any, size: int) -> None:
        self.hub = hub
        self.size = size
        self._kept: dict[str, tuple[int, V]] = {}

    def get(self, key: str) -> V | None:
        found = self._kept.get(key)
        if found is None or not self.hub.listening or found[0] != self.hub.generation:
            return None
        return found[1]

    def keep(self, key: str, value: V, generation: int) -> None:
        """Keep ``value``, read while the connection of ``generation`` was up, if it still is."""
        if not self.size or not self.hub.listening or generation != self.hub.generation:
            return
        if len(self._kept) >= self.size:
            del self._kept[next(iter(self._kept))]  # the oldest kept
        self._kept[key] = (generation, value)

    def forget(self, key: str) -> None:
        self._kept.pop(key, None)
