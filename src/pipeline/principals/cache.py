"""Bearer tokens resolved once per process, forgotten the moment any principal is revoked.

Every API request authenticates; reading the principal is a database round trip the write path can do
without. On PostgreSQL each process keeps token hash → actor in memory and holds one ``LISTEN`` connection:
:func:`pipeline.principals.service.revoke_principal` sends ``NOTIFY`` in the revoking transaction, which
PostgreSQL delivers when it commits, and every process clears its cache on receipt (the revoking process at
once, when its transaction commits: :data:`REVOCATION_HOOKS`). While that connection is
not listening (starting, lost, reconnecting) nothing is cached and every request reads the table. SQLite
reads the table every time (it is in-process; revocations come from other processes with no signal).
令牌缓存：吊销主体时经 LISTEN/NOTIFY 立即失效。
"""

from __future__ import annotations

import logging
import threading

import psycopg
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pipeline.access import Actor
from pipeline.principals.service import CHANGES_CHANNEL, REVOCATION_HOOKS, authenticate, hash_token

log = logging.getLogger(__name__)


class PrincipalCache:
    def __init__(self, engine: Engine) -> None:
        self._entries: dict[str, Actor] = {}
        self._generation = 0
        self._listening = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._postgres = engine.dialect.name == "postgresql"
        self._url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def start(self) -> None:
        """Begin listening (PostgreSQL); until then, and on SQLite, nothing is cached."""
        if self._postgres and self._thread is None:
            REVOCATION_HOOKS.append(self.forget)
            self._stop = threading.Event()  # its own: a stopped thread still winding down keeps the old one
            self._thread = threading.Thread(target=self._listen, args=(self._stop,), name="principal-cache",
                                            daemon=True)
            self._thread.start()

    @property
    def listening(self) -> bool:
        return self._listening

    def lookup(self, session: Session, token: str) -> Actor | None:
        """The actor behind ``token`` (``None``: unknown or revoked), from memory when it is safe to."""
        key = hash_token(token)
        hit = self._entries.get(key)
        if hit is not None:
            return hit
        generation = self._generation
        actor = authenticate(session, token)
        if actor is not None and self._listening and generation == self._generation:
            self._entries[key] = actor
        return actor

    def forget(self) -> None:
        self._generation += 1
        self._entries.clear()

    def close(self) -> None:
        """Stop listening. Not waited for: the daemon thread notices within a second (its ``notifies`` wait),
        and nothing is cached meanwhile that could outlive the process."""
        self._stop.set()
        self._listening = False
        self.forget()
        self._thread = None
        if self.forget in REVOCATION_HOOKS:
            REVOCATION_HOOKS.remove(self.forget)

    def _listen(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as connection:
                    connection.execute(f"LISTEN {CHANGES_CHANNEL}")
                    self.forget()  # whatever happened before we listened is unknown
                    self._listening = stop is self._stop and not stop.is_set()
                    while not stop.is_set():
                        for _ in connection.notifies(timeout=1.0):
                            self.forget()
            except psycopg.Error as exc:
                if not stop.is_set():
                    log.warning("principal cache: not listening (%s); reading principals from the database", exc)
            finally:
                if stop is self._stop:
                    self._listening = False
                self.forget()
            stop.wait(1.0)
