"""The GitHub adapter's config: ``[projects.NAME.github]`` (:class:`GitHubSettings`) and the
``[webhooks] github_*`` keys (:class:`GitHubWebhookSettings`); the core validates them with
these models, found through the adapter registry."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    SecretStr,
    field_validator,
)

from tracker_bridge.settings.base import _read_secret, _Section

__all__ = ["GitHubSettings", "GitHubWebhookSettings"]

_GITHUB_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_GITHUB_PROJECT_RE = re.compile(
    r"^(org|user):([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)/([1-9][0-9]*)$"
)


class GitHubSettings(_Section):
    """GitHub specifics of one project: repositories, Projects (v2) board, estimates, wiki.

    Estimate sources, first match wins: ``body_pattern`` (a line in the issue body, the only
    source of a three-point estimate), ``estimate_field`` (a Projects number field, hours),
    ``estimate_label_pattern`` (a label like ``estimate: 3d``), ``estimate_labels`` (a size
    label mapped to hours). Days are converted with ``hours_per_day``.
    """

    repositories: list[str] = Field(
        default_factory=list,
        description="'owner/repo' names whose issues form the project; default: the project id",
    )
    project_v2: str | None = Field(
        default=None, description="The Projects (v2) board: 'org:NAME/NUMBER' or 'user:NAME/NUMBER'"
    )
    estimate_field: str | None = Field(
        default=None, description="Name of a Projects number field that holds the estimate (h)"
    )
    estimate_labels: dict[str, float] = Field(
        default_factory=dict, description="Label -> hours, e.g. {'size: M' = 16}"
    )
    estimate_label_pattern: str = Field(
        default=(
            r"(?i)^estimate:\s*(?P<value>\d+(?:\.\d+)?)\s*"
            r"(?P<unit>h(?:ours?|rs?)?|d(?:ays?)?)?$"
        ),
        description="Regex for labels like 'estimate: 3d'; groups 'value' and optional 'unit'",
    )
    body_pattern: str = Field(
        default=(
            r"(?im)^[ \t>*_-]*estimate[*_]*:[*_ \t]*"
            r"(?P<value>\d+(?:\.\d+)?(?:[ \t]*[-/][ \t]*\d+(?:\.\d+)?){0,2})[ \t]*"
            r"(?P<unit>h(?:ours?|rs?)?|d(?:ays?)?)?\b"
        ),
        description="Regex for a body line like 'Estimate: 3d' or 'Estimate: 2-3-6d' "
        "(three-point); groups 'value' and optional 'unit'",
    )
    hours_per_day: float = Field(
        default=8.0,
        gt=0,
        le=24,
        description="Converts 'd' estimates; keep it equal to calendar.hours_per_day",
    )
    start_date_field: str | None = Field(
        default=None,
        description="Projects date field with the team's start date (compared, or a "
        "constraint with start_dates = 'constraint'); default: none",
    )
    due_date_field: str | None = Field(
        default=None,
        description="Projects date field with the team's due date (compared, or a deadline "
        "with due_dates = 'deadline'); default: none",
    )
    wiki_repository: str | None = Field(
        default=None, description="Whose wiki holds the plan page; default: the first repository"
    )
    wiki_remote: str | None = Field(
        default=None, description="Override of the wiki's git remote (a URL or a local path)"
    )
    wiki_author_name: str = "tracker-bridge"
    wiki_author_email: str = "tracker-bridge@users.noreply.github.com"
    wiki_push_retries: int = Field(default=3, ge=0, le=10)
    write_interval_seconds: float = Field(
        default=1.0, ge=0, description="Minimum pause between two writes (GitHub asks for >= 1 s)"
    )
    max_rate_limit_wait_seconds: float = Field(
        default=900, ge=0, description="Longest single wait for a rate limit; longer -> error"
    )
    secondary_rate_limit_wait_seconds: float = Field(
        default=60, ge=0, description="Wait after a secondary limit without Retry-After"
    )
    max_retries: int = Field(default=4, ge=0, le=20, description="Per request: limits and 5xx")
    retry_backoff_seconds: float = Field(
        default=2.0, ge=0, description="First backoff after a 5xx; doubles each retry"
    )

    @field_validator("repositories")
    @classmethod
    def _repositories(cls, value: list[str]) -> list[str]:
        bad = [r for r in value if not _GITHUB_REPO_RE.fullmatch(r)]
        if bad:
            raise ValueError(f"repositories must be 'owner/repo' names, got {bad}")
        return value

    @field_validator("wiki_repository")
    @classmethod
    def _wiki_repository(cls, value: str | None) -> str | None:
        if value is not None and not _GITHUB_REPO_RE.fullmatch(value):
            raise ValueError(f"wiki_repository must be an 'owner/repo' name, got {value!r}")
        return value

    @field_validator("project_v2")
    @classmethod
    def _project_v2(cls, value: str | None) -> str | None:
        if value is not None and not _GITHUB_PROJECT_RE.fullmatch(value.strip()):
            raise ValueError(
                "project_v2 must look like 'org:NAME/NUMBER' or 'user:NAME/NUMBER' (the "
                f"board's URL is .../orgs/NAME/projects/NUMBER), got {value!r}"
            )
        return value.strip() if value is not None else None

    @field_validator("estimate_label_pattern", "body_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as e:
            raise ValueError(f"not a valid regular expression: {e}") from None
        if "value" not in compiled.groupindex:
            raise ValueError("the regular expression needs a named group (?P<value>...)")
        return value

    def project_owner(self) -> tuple[Literal["org", "user"], str, int] | None:
        """``('org', 'acme', 7)`` from ``project_v2``, or None when no board is configured."""
        if self.project_v2 is None:
            return None
        match = _GITHUB_PROJECT_RE.fullmatch(self.project_v2)
        assert match is not None  # validated
        kind: Literal["org", "user"] = "org" if match.group(1) == "org" else "user"
        return kind, match.group(2), int(match.group(3))


class GitHubWebhookSettings(_Section):
    """``[webhooks] github_secret_env``/``_file``: the secret of the GitHub webhook
    (``X-Hub-Signature-256``), from an environment variable or a file, never from the config."""

    github_secret_env: str | None = Field(
        default=None, description="Default: TRACKER_BRIDGE_GITHUB_WEBHOOK_SECRET"
    )
    github_secret_file: Path | None = None

    def github_secret(self) -> SecretStr | None:
        """The GitHub webhook secret, or None when none is configured."""
        return _read_secret(
            "webhooks.github_secret",
            self.github_secret_env,
            self.github_secret_file,
            "TRACKER_BRIDGE_GITHUB_WEBHOOK_SECRET",
        )
