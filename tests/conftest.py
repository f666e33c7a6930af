"""Test-wide settings.

Under CI (``CI`` set) hypothesis runs derandomized: the same examples on every run, so a CI
result depends on the code, not on the draw. Locally it explores new examples each run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

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
