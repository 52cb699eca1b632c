"""Process-wide settings that bulk work changes while it runs and puts back when it ends.

An API server runs several imports (and their writer threads) at once: the first to start makes the change, the last
to end puts back what was there before, and those in between leave it alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class SharedSetting:
    """A process-wide setting held changed while any holder is inside :meth:`held`.

    ``change()`` makes the change and returns what puts it back; it runs when the first holder enters, and what it
    returned when the last one leaves."""

    def __init__(self, change: Callable[[], Callable[[], None]]) -> None:
        self._change = change
        self._lock = threading.Lock()
        self._holders = 0
        self._restore: Callable[[], None] | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            if self._holders == 0:
                self._restore = self._change()
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0 and self._restore is not None:
                    restore, self._restore = self._restore, None
                    restore()
