"""How a replica learns, without asking on every request, that keys or models changed in PostgreSQL.

The rule (PMSERVE_STORE_STALE_S, default 1 s): a change committed through any replica, the CLI or
plain SQL - a refresh, a delete, a key added or revoked - is seen by every other replica within
that many seconds, and usually within milliseconds.

How: a statement trigger on ``keys`` and ``models`` counts every change in the one-row table
``changes`` (in the changing transaction, so the count is visible exactly when the change is) and
sends a NOTIFY.  A thread per process LISTENs on its own connection and reads the count whenever a
notification arrives and at least every half of the bound; each new count bumps the process's
generation (see :meth:`pmserve.store.Store.generation`), which is all a request reads.  When the
count could not be read for the whole bound (connection lost, database down), the generation is
None - "cannot tell" - and every request asks the database again, until the watcher reconnects.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

log = logging.getLogger("pmserve.store")

CHANNEL = "pmserve_changes"


def schema_sql(schema: str) -> str:
    """The counter, the trigger function and the triggers (idempotent; run under the DDL lock)."""
    quoted = f'"{schema}"'
    triggers = "\n".join(f"""
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'pmserve_{table}_changed'
                   AND tgrelid = '{quoted}.{table}'::regclass) THEN
        CREATE TRIGGER pmserve_{table}_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {quoted}.{table}
            FOR EACH STATEMENT EXECUTE FUNCTION {quoted}.pmserve_changed();
    END IF;""" for table in ("keys", "models"))
    return f"""
CREATE TABLE IF NOT EXISTS {quoted}.changes (id INT PRIMARY KEY CHECK (id = 1), n BIGINT NOT NULL);
INSERT INTO {quoted}.changes VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
CREATE OR REPLACE FUNCTION {quoted}.pmserve_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE {quoted}.changes SET n = n + 1 WHERE id = 1;
    PERFORM pg_notify('{CHANNEL}', '{schema}');
    RETURN NULL;
END $$;
DO $$ BEGIN {triggers}
END $$;
"""


#: Taken first by every transaction that changes keys or models: the trigger updates the counter
#: row at the end of a statement, and a writer holding other locks by then could deadlock.
LOCK_COUNTER_SQL = "SELECT n FROM changes WHERE id = 1 FOR UPDATE"


class ChangeWatcher:
    """One thread keeping this process's generation of a PostgreSQL store up to date."""

    def __init__(self, connect: Any, schema: str, stale_s: float) -> None:
        self._connect = connect  # () -> a new autocommit psycopg connection on the schema
        self.schema = schema
        self.stale_s = stale_s
        self._generation = 0
        self._count: int | None = None
        self._confirmed_at = float("-inf")  # monotonic time a count read that succeeded was sent
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conn: Any = None
        self._thread = threading.Thread(target=self._run, name="pmserve-store-watch", daemon=True)
        self._thread.start()

    def generation(self) -> int | None:
        """The process's generation, or None when the bound cannot be promised right now."""
        if time.monotonic() - self._confirmed_at > self.stale_s:
            return None
        return self._generation

    def bump(self) -> None:
        """This process changed something itself: what it kept is stale now."""
        with self._lock:
            self._generation += 1

    def wait_confirmed(self, timeout: float) -> bool:
        """Wait until the count has been read once (start-up); False when it could not be."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.generation() is not None:
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self._stop.set()
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.cancel_safe(timeout=1.0)
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._conn = self._connect()
                with self._conn as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._watch(conn)
            except Exception as exc:  # any failure: say "cannot tell", reconnect
                if self._stop.is_set():
                    return
                self._confirmed_at = float("-inf")
                self.bump()
                log.warning("watching the PostgreSQL store for changes failed (%s); retrying", exc)
                self._stop.wait(min(self.stale_s / 2, 1.0))
            finally:
                self._conn = None

    def _watch(self, conn: Any) -> None:
        interval = self.stale_s / 2
        while not self._stop.is_set():
            sent = time.monotonic()
            row = conn.execute("SELECT n FROM changes WHERE id = 1").fetchone()
            count = int(row[0]) if row else -1
            with self._lock:
                if count != self._count:
                    self._count = count
                    self._generation += 1
            self._confirmed_at = sent
            # Wake on the first notification (of any schema: a spare read costs little), or after
            # half the bound to confirm the connection still answers.
            for _ in conn.notifies(timeout=interval, stop_after=1):
                pass
