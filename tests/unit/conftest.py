"""Fixtures shared by the webhook tests: GitHub's real webhook payloads."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ADAPTER_TESTS = Path(__file__).resolve().parents[1] / "adapters"


def _contract_module() -> ModuleType:
    """The adapters' contract helper (one download, one cache), imported by path."""
    if "github_contract" in sys.modules:
        return sys.modules["github_contract"]
    spec = importlib.util.spec_from_file_location(
        "github_contract", ADAPTER_TESTS / "github_contract.py"
    )
    assert spec is not None and spec.loader is not None, "tests/adapters/github_contract.py"
    module = importlib.util.module_from_spec(spec)
    sys.modules["github_contract"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def contract() -> Any:
    module = _contract_module()
    return module.Contract(module.contract_files())


@pytest.fixture(scope="session")
def examples(contract: Any) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = contract.webhooks
    return found
