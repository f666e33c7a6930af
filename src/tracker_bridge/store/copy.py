"""Moving a store: every table of one store (an SQLite file) into another (a fresh
PostgreSQL database), rows, ids and all, in one transaction of the target."""

from __future__ import annotations

from tracker_bridge.errors import StoreError
from tracker_bridge.store.database import TABLES, Database

#: Rows read and written per round (snapshot caches can be large).
CHUNK_ROWS = 500
#: Tables whose ``id`` the database assigns: their counters go on after the copied ids.
_ID_TABLES = ("baselines", "jobs", "webhook_deliveries")


def copy_store(source: Database, target: Database) -> dict[str, int]:
    """Copy every row of ``source`` into ``target`` (both open, so both at the current schema
    version); the rows copied per table. The target must hold no rows yet: nothing in it is
    overwritten or merged, and a failure leaves it as it was."""
    if source.location == target.location:
        raise StoreError("the source and the target are the same store")
    with target._translated():
        filled = [
            t for t in TABLES if target._conn.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone()
        ]
    if filled:
        raise StoreError(
            f"the target store {target.where} already holds data (in {', '.join(filled)}); "
            "copy into an empty database"
        )
    copied: dict[str, int] = {}
    with target._transaction() as conn, source._translated():
        for table in TABLES:
            cursor = source._conn.execute(f"SELECT * FROM {table}")
            columns = [d[0] for d in cursor.description]
            insert = (
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})"
            )
            copied[table] = 0
            while rows := cursor.fetchmany(CHUNK_ROWS):
                conn.executemany(insert, [tuple(row) for row in rows])
                copied[table] += len(rows)
        if target.dialect.name == "postgresql":
            for table in _ID_TABLES:
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                )
    return copied
