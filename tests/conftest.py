"""Test-wide settings.

Under CI (``CI`` set) hypothesis runs derandomized: the same examples on every run, so a CI
result depends on the code, not on the draw. Locally it explores new examples each run.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
