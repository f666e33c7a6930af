"""What differs between the two stores' SQL: SQLite (the default, one file) and PostgreSQL
(shared by many workers and servers). Everything else is one SQL text for both.

The schema is written once (:data:`tracker_bridge.store.database.MIGRATIONS`) with three
tokens that each dialect spells its own way: ``{id}`` (an integer key the database assigns),
``{real}`` (a float64: PostgreSQL's ``REAL`` is only float32, too coarse for epoch seconds)
and ``{json}`` (JSON kept as text, checked on write). Statements use ``?`` placeholders;
the PostgreSQL connection turns them into ``%s``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class Cursor(Protocol):
    """The part of a DB-API cursor the store uses."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The part of a connection the store uses (``sqlite3.Connection`` has it as it is)."""

    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Dialect:
    """How one database spells what the store needs."""

    name: str
    #: ``{id}``, ``{real}`` and ``{json}`` in the schema
    types: dict[str, str]
    #: starts a write transaction (SQLite: take the write lock up front)
    begin: str
    #: appended to a SELECT whose rows the transaction goes on to change
    for_update: str
    #: appended to the claim's SELECT: rows another worker is claiming are passed over
    skip_locked: str
    #: lists the tables of the store's schema
    tables_sql: str
    #: the text of a key of a JSON column (``json_field("data", "as_of")``)
    json_field: Callable[[str, str], str]
    #: the number of members of the JSON object under a key
    json_length: Callable[[str, str], str]
    #: the errors of the driver, translated into StoreError in one place
    errors: tuple[type[BaseException], ...]
    #: the one-line message for a driver error (``where``: the file or the redacted URL)
    message: Callable[[str, BaseException], str]
    #: serialise the writes about one project (its queue, its baselines) until the
    #: transaction ends (PostgreSQL; SQLite's write lock already does that)
    lock_key: Callable[[Connection, str], None]

    def ddl(self, statement: str) -> str:
        """A schema statement in this dialect."""
        return statement.format(**self.types)


def advisory_key(namespace: str, name: str) -> int:
    """A signed 64-bit key for PostgreSQL's advisory locks (stable across processes)."""
    digest = hashlib.sha256(f"tracker-bridge:{namespace}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
