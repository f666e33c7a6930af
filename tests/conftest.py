"""Test-wide settings and the PostgreSQL server the store tests run against.

Under CI (``CI`` set) hypothesis runs derandomized: the same examples on every run, so a CI
result depends on the code, not on the draw. Locally it explores new examples each run.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings

from tracker_bridge.demo.postgres import LocalPostgres
from tracker_bridge.demo.postgres import start as start_postgres

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _private_user_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point the default store (``<user data dir>/tracker-bridge``) at a temporary directory.

    A test that runs a command without ``[store] path`` must neither read nor write the
    store of the person running the tests (an older or newer schema there would fail it).
    """
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("user-data")))
    yield
    patch.undo()


# ------------------------------------------------------------------- PostgreSQL store
# One throw-away cluster per test session, started on first use (about a second; Debian's
# postgresql is installed first when missing, which needs root: never a skip). Each test
# gets a schema of its own in the one database, so tests never see each other's rows.

_schemas = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def pg_url(postgres_server: LocalPostgres, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store URL for a fresh, empty schema; the password is in the environment."""
    schema = f"t{os.getpid()}_{next(_schemas)}"
    with psycopg.connect(
        postgres_server.url, password=postgres_server.password, autocommit=True
    ) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    monkeypatch.setenv("TRACKER_BRIDGE_STORE_PASSWORD", postgres_server.password)
    return f"{postgres_server.url}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_section(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The ``[store]`` section of a config, once per backend."""
    if request.param == "sqlite":
        return {"path": str(tmp_path / "state.sqlite3")}
    return {"url": request.getfixturevalue("pg_url")}
