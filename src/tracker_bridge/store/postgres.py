"""The PostgreSQL store's connection (psycopg 3, imported only when a ``postgresql://`` store
is configured), its dialect, its error messages, and the advisory locks that make project
locks hold across machines.

Every connection is in autocommit mode: a read is one statement, a write is an explicit
``BEGIN`` ... ``COMMIT`` (see ``Database._transaction``), as with SQLite. A connection that
died (the server restarted, the network dropped) raises :class:`StoreUnavailableError`; the
callers that live long (worker, webhook server) then open a fresh one.
"""

from __future__ import annotations

import functools
import os
import re
import socket
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from tracker_bridge.errors import StoreError, StoreUnavailableError
from tracker_bridge.store.dialect import Connection, Dialect, advisory_key

if TYPE_CHECKING:
    import psycopg

#: How long opening a connection may take before the server counts as unreachable.
CONNECT_TIMEOUT_SECONDS = 10
#: How long a statement waits for a row or advisory lock another transaction holds.
LOCK_TIMEOUT = "10s"


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - the extra is part of the dev install
        raise StoreError(
            "a postgresql:// store needs psycopg 3: pip install 'tracker-bridge[postgres]'"
        ) from None
    return psycopg


@functools.lru_cache(maxsize=512)
def _placeholders(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (our SQL has no ``?`` or ``%`` otherwise)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgConnection:
    """A psycopg connection with the small ``sqlite3.Connection`` surface the store uses."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return bool(self.raw.info.transaction_status != TransactionStatus.IDLE)

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        return self.raw.execute(_placeholders(sql), parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any:
        cursor = self.raw.cursor()
        cursor.executemany(_placeholders(sql), parameters)
        return cursor

    def close(self) -> None:
        self.raw.close()


def redact_url(url: str) -> str:
    """The URL as it may be shown: a password in it (which settings refuse anyway) removed."""
    return re.sub(r"(//[^/@:]*):[^/@]*@", r"\1@", url)


def connect(url: str, password: str | None, *, application: str = "") -> PgConnection:
    """Open an autocommit connection; one clear line (never the password) when we cannot."""
    psycopg = _psycopg()
    name = application or f"tracker-bridge {socket.gethostname()}:{os.getpid()}"
    try:
        conn = psycopg.connect(
            url,
            password=password,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            application_name=name[:63],
        )
    except psycopg.Error as e:
        raise StoreUnavailableError(
            f"cannot connect to the store {redact_url(url)}: {_reason(e, password)}"
        ) from None
    try:
        conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    except psycopg.Error as e:
        conn.close()
        raise StoreUnavailableError(pg_message(redact_url(url), e)) from None
    return PgConnection(conn)


def _reason(error: BaseException, password: str | None = None) -> str:
    """The server's or libpq's own words, on one line, without a password."""
    text = str(error).strip()
    text = re.sub(r"^connection failed:\s*", "", text)
    text = re.sub(r'connection to server at "[^"]*"(, port \d+)? failed:\s*', "", text)
    text = re.sub(r"^FATAL:\s*", "", text)
    text = " ".join(text.split())
    if password:
        text = text.replace(password, "***")
    if "password authentication failed" in text or "no password supplied" in text:
        text += (
            " (the password comes from [store] password_env, default "
            "TRACKER_BRIDGE_STORE_PASSWORD, or password_file)"
        )
    return text or type(error).__name__


def pg_message(where: str, error: BaseException) -> str:
    """One line for a psycopg error on an open connection."""
    psycopg = _psycopg()
    if isinstance(error, psycopg.OperationalError) and not _is_sql_error(error):
        return f"lost the connection to the store {where}: {_reason(error)}; will reconnect"
    return f"store {where}: {_reason(error)}"


def _is_sql_error(error: BaseException) -> bool:
    sqlstate = getattr(error, "sqlstate", None)
    # class 08: connection exception; 57P: operator intervention (admin shutdown, crash)
    return bool(sqlstate) and not (str(sqlstate).startswith(("08", "57P")))


def is_disconnect(error: BaseException) -> bool:
    """Whether ``error`` means the connection is gone (rather than a bad statement)."""
    psycopg = _psycopg()
    return isinstance(error, psycopg.OperationalError) and not _is_sql_error(error)


def driver_errors() -> tuple[type[BaseException], ...]:
    """psycopg's base error, for ``except``."""
    return (_psycopg().Error,)


def _lock_queue(conn: Connection, project: str) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(?)", (advisory_key("queue", project),))


def dialect() -> Dialect:
    """PostgreSQL's dialect."""
    psycopg = _psycopg()
    return Dialect(
        name="postgresql",
        types={
            "id": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            "real": "DOUBLE PRECISION",
            "json": "TEXT NOT NULL CHECK ((data::jsonb) IS NOT NULL)",
        },
        begin="BEGIN",
        for_update=" FOR UPDATE",
        skip_locked=" FOR UPDATE SKIP LOCKED",
        tables_sql=(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ),
        json_field=lambda column, key: f"(({column})::jsonb ->> '{key}')",
        json_length=lambda column, key: (
            f"(SELECT COUNT(*) FROM jsonb_each(({column})::jsonb -> '{key}'))"
        ),
        errors=(psycopg.Error,),
        message=pg_message,
        lock_key=_lock_queue,
    )


def try_advisory_lock(conn: PgConnection, key: int) -> bool:
    """Take the session-level advisory lock ``key`` if free (the server drops it when the
    connection dies: a killed worker never leaves a project locked)."""
    row = conn.execute("SELECT pg_try_advisory_lock(?)", (key,)).fetchone()
    return bool(row[0])


def lock_holder(conn: PgConnection, key: int) -> str | None:
    """Who holds advisory lock ``key``: the holder's application name (``host:pid``)."""
    row = conn.execute(
        "SELECT a.application_name FROM pg_locks AS l JOIN pg_stat_activity AS a "
        "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.classid::bigint = ? AND l.objid::bigint = ? AND l.objsubid = 1",
        ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
    ).fetchone()
    if row is None or not row[0]:
        return None
    return str(row[0]).removeprefix("tracker-bridge ")
