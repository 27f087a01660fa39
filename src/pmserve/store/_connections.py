"""One database connection per thread, opened on first use and closed all together.

Both SQL stores hand each thread its own connection (neither sqlite3 nor psycopg connections may
be used by two threads at once) and must still close every one of them on shutdown.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class _Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)


class PerThread(Generic[C]):
    """This thread's connection, from ``connect`` when it has none (or ``alive`` says it died)."""

    def __init__(self, connect: Callable[[], C], alive: Callable[[C], bool] = lambda _c: True) -> None:
        self._connect = connect
        self._alive = alive
        self._local = threading.local()
        self._all: list[C] = []
        self._lock = threading.Lock()

    def get(self) -> C:
        conn: C | None = getattr(self._local, "conn", None)
        if conn is None or not self._alive(conn):
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def forget(self) -> None:
        """Open a new connection on this thread's next call (its current one was dropped)."""
        self._local.conn = None

    def close_all(self) -> None:
        with self._lock:
            for conn in self._all:
                with contextlib.suppress(Exception):  # closing on shutdown: a dead one is closed enough
                    conn.close()
            self._all.clear()
        self._local = threading.local()
