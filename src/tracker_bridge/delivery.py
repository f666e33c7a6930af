"""Reading a webhook delivery safely: signatures, tokens, hostile JSON, payload values.

Tracker-neutral tools for the adapters' webhook receivers (``adapters/*/webhooks.py``):
payloads come from outside, so a field of an unexpected type counts as absent, never as an
error (:func:`text_of`, :func:`list_of`, :func:`int_of`), and a body that is not plain JSON
text is refused with :class:`DeliveryRejected` (400), which the server answers as it says.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from typing import Any

from tracker_bridge.settings import Settings

__all__ = [
    "DeliveryRejected",
    "dict_of",
    "int_of",
    "list_of",
    "logical_fields",
    "login_of",
    "parse_json",
    "sign",
    "text_of",
    "token_ok",
    "verify_signature",
]


class DeliveryRejected(Exception):
    """An HTTP answer to a client mistake (or a missing configuration): 4xx or 503."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --------------------------------------------------------------------------- signatures


def sign(secret: bytes, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, body)>``: GitHub's and Redmine 7's signature."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the signature of the raw ``body`` (constant-time compare)."""
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


def token_ok(expected: bytes, given: str | None) -> bool:
    """Whether a shared-secret token matches (constant-time compare)."""
    return given is not None and hmac.compare_digest(expected, given.encode())


# --------------------------------------------------------------------------- JSON

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]", re.ASCII)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:30]} is out of range")
    return value


def parse_json(body: bytes) -> dict[str, Any]:
    """A delivery's JSON object; :class:`DeliveryRejected` (400) for anything else.

    Refused: invalid UTF-8 or JSON, ``NaN``/``Infinity`` and numbers out of float range,
    integers over Python's 4,300 digits, nesting deeper than the recursion limit, and lone
    UTF-16 surrogates (``\\ud800``): they are not text and could be neither stored nor
    echoed.
    """
    try:
        data = json.loads(body, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise DeliveryRejected(400, "body is not valid JSON: nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, our own and int limits
        raise DeliveryRejected(400, f"body is not valid JSON: {str(e)[:200]}") from None
    if not isinstance(data, dict):
        raise DeliveryRejected(400, "body must be a JSON object")
    if _SURROGATE_ESCAPE.search(body):  # rare: only then look for unpaired ones
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise DeliveryRejected(
                400, "body contains a lone UTF-16 surrogate (not text)"
            ) from None
    return data


# --------------------------------------------------------------------------- payload values


def dict_of(value: Any) -> dict[str, Any]:
    """A payload object; anything else counts as empty."""
    return value if isinstance(value, dict) else {}


def int_of(value: Any) -> int | None:
    """A payload integer (or its text); None for anything else."""
    try:
        return int(value)
    except (TypeError, ValueError):  # also a number over Python's 4,300 digits
        return None


def text_of(value: Any) -> str | None:
    """A payload scalar as text; None for null, objects and lists (never ``str()`` of them)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def list_of(value: Any) -> list[Any]:
    """A payload list; anything else counts as empty."""
    return value if isinstance(value, list) else []


def login_of(node: Any) -> str | None:
    """``node.login`` of a user or organisation object, when there is one."""
    return text_of(node.get("login")) or None if isinstance(node, dict) else None


def logical_fields(settings: Settings) -> dict[str, str]:
    """Configured field name (casefolded) or id (as text) -> logical field name."""
    out: dict[str, str] = {}
    for logical in settings.fields.logical_names():
        target = getattr(settings.fields, logical)
        out[str(target).strip().casefold()] = logical
    return out
