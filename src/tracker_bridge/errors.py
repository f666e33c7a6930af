"""One exception tree for tracker-bridge; the CLI maps each to one line and an exit code.

    TrackerBridgeError
    ├── ConfigError            a config file or option is wrong (file, key, what)
    ├── InputError             a snapshot file or other input is malformed
    ├── PlanError              the network cannot be planned
    │   ├── CycleError         dependencies form a cycle (keys in order)
    │   └── UnknownKeyError    a dependency names an item that does not exist
    ├── StoreError             the store (an SQLite file or PostgreSQL) cannot be used
    │   └── StoreUnavailableError  the database server cannot be reached (down, restarting)
    └── TrackerError           a tracker API call failed (method, path, status, tracker text)
        ├── AuthError          the key or token is missing, wrong or lacks rights
        ├── NotFoundError      the project, page or item does not exist
        ├── RateLimitedError   the tracker asked us to slow down
        ├── ConflictError      a concurrent edit won (e.g. wiki version)
        └── RejectedError      the tracker refused the data (422 and friends)

Messages never contain API keys or tokens.
"""

from __future__ import annotations


class TrackerBridgeError(Exception):
    """Base of every error tracker-bridge raises on purpose."""

    #: Set on an error that interrupted an adapter's ``apply``: what had been written before
    #: it (an ``ApplyReport``), so the caller can still record those writes.
    report: object | None = None


class ConfigError(TrackerBridgeError):
    """A config file or option is invalid."""


class InputError(TrackerBridgeError):
    """An input file (snapshot, baseline) is malformed."""


class PlanError(TrackerBridgeError):
    """The snapshot cannot be planned."""


class CycleError(PlanError):
    """Dependencies form a cycle; ``cycle`` lists the keys in order."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        chain = " -> ".join([*cycle, cycle[0]]) if cycle else "?"
        super().__init__(f"dependency cycle: {chain}")


class UnknownKeyError(PlanError):
    """A dependency refers to an item that is not in the snapshot."""

    def __init__(self, known: str, unknown: str) -> None:
        self.known = known
        self.unknown = unknown
        super().__init__(f"dependency of {known!r} refers to unknown item {unknown!r}")


class StoreError(TrackerBridgeError):
    """The local state store failed."""


class TrackerError(TrackerBridgeError):
    """A tracker API call failed."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        detail: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail
        parts = [message]
        if method or path:
            parts.append(f"({method or '?'} {path or '?'}" + (f" -> {status})" if status else ")"))
        if detail:
            parts.append(f": {detail}")
        super().__init__(" ".join(parts[:2]) + (parts[2] if len(parts) > 2 else ""))


class AuthError(TrackerError):
    """Authentication or authorisation failed."""


class NotFoundError(TrackerError):
    """The requested tracker object does not exist or is not visible."""


class RateLimitedError(TrackerError):
    """The tracker rate-limited us and the wait budget ran out."""


class ConflictError(TrackerError):
    """A concurrent change won the race."""


class RejectedError(TrackerError):
    """The tracker refused the data we sent."""


class StoreUnavailableError(StoreError):
    """The store's database server cannot be reached: down, restarting, refused the login.

    Long-running callers (worker, webhook server) open a fresh connection and go on."""
