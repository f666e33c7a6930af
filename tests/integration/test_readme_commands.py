"""The README's commands as a newcomer types them, with the distribution's Python.

A copy of the checkout without a ``.venv``, ``PATH`` reduced to the system directories (so
``python3`` is ``/usr/bin/python3``, which PEP 668 marks externally managed on Debian 12 and
Ubuntu 24.04): ``./scripts/demo --preview`` must create the project's virtual environment,
install into it and write the plan page; ``./scripts/test`` must reuse that environment, add
the dev tools and run the linters, the type checker and pytest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = Path("/usr/bin/python3")
# Not copied: local state a fresh checkout does not have. mypy's cache is kept: it only
# makes the type check incremental (a CI cache would do the same), the result is the same.
IGNORED = shutil.ignore_patterns(
    ".venv", ".git", "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache", ".cache"
)
IGNORED_TOP = {".hypothesis", "demo-output"}


def _ignored(directory: str, names: list[str]) -> set[str]:
    top = {n for n in names if n in IGNORED_TOP} if Path(directory) == REPO else set()
    return set(IGNORED(directory, names)) | top


def _externally_managed_marker() -> Path:
    stdlib = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return Path(stdlib) / "EXTERNALLY-MANAGED"


def _run(checkout: Path, *command: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
    return subprocess.run(
        list(command),
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_the_readme_commands_work_with_the_system_python(tmp_path: Path) -> None:
    assert SYSTEM_PYTHON.exists(), "this test needs a Debian/Ubuntu system Python"
    assert _externally_managed_marker().is_file(), "the system Python should be PEP 668-managed"
    checkout = tmp_path / "tracker-bridge"
    shutil.copytree(REPO, checkout, ignore=_ignored, symlinks=True)

    demo = _run(checkout, "./scripts/demo", "--preview")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "setup: creating" in demo.stderr and "/usr/bin/python3" in demo.stderr
    assert "externally-managed-environment" not in demo.stderr
    page = checkout / "demo-output" / "plan.html"
    assert "Gantt chart of the plan" in page.read_text(encoding="utf-8")
    venv_python = (checkout / ".venv" / "bin" / "python").resolve()
    assert venv_python.parent == SYSTEM_PYTHON.resolve().parent  # built on the system Python

    tests = _run(
        checkout, "./scripts/test", "tests/unit/test_model.py", "-q", "-p", "no:cacheprovider"
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "setup: creating" not in tests.stderr  # the demo's environment is reused
    assert "All checks passed!" in tests.stdout  # ruff check
    assert "files already formatted" in tests.stdout  # ruff format --check
    assert "Success: no issues found" in tests.stdout  # mypy src
    assert " passed" in tests.stdout

    again = _run(checkout, "./scripts/demo", "--preview")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "setup:" not in again.stderr  # nothing to install the second time
