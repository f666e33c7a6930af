"""The GitHub adapter: wires the client, the board, the wiki and the fetcher of one project
into the adapter protocol (fetch, diff, apply, check) and ``setup github``."""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from pydantic import SecretStr

from tracker_bridge import errors
from tracker_bridge.adapters.github import checks
from tracker_bridge.adapters.github.client import DEFAULT_API, GitHubClient, Token
from tracker_bridge.adapters.github.context import Context, Notes
from tracker_bridge.adapters.github.fetch import Fetcher
from tracker_bridge.adapters.github.keys import IssueKeys, web_base
from tracker_bridge.adapters.github.projects import Projects
from tracker_bridge.adapters.github.settings import GitHubSettings, GitHubWebhookSettings
from tracker_bridge.adapters.github.style import GitHubPageStyle
from tracker_bridge.adapters.github.webhooks import GitHubReceiver
from tracker_bridge.adapters.github.wiki import Wiki
from tracker_bridge.adapters.protocol import AdapterFactory, FetchResult, TrackerAdapter
from tracker_bridge.model import (
    ApplyReport,
    ChangeSet,
    DesiredState,
    FieldChange,
    Finding,
    Snapshot,
)
from tracker_bridge.settings import (
    FieldNames,
    ProjectSettings,
    RiskSettings,
    TrackerSettings,
)

if TYPE_CHECKING:
    import click

__all__ = ["GitHubAdapter"]

log = logging.getLogger(__package__)  # the package's logger: log lines name the adapter


def _setup_command() -> click.Command:
    """``tracker-bridge setup github`` (imported on use: it needs the command line)."""
    from tracker_bridge.adapters.github.setup_cli import setup_github

    return setup_github


class GitHubAdapter:
    """One GitHub project (repositories, a Projects board, a wiki): fetch, diff, apply, check.

    ``sleep`` and ``clock`` are injectable so tests can assert waits without waiting.
    """

    #: GitHub has no cheap "changed since" feed covering relations and boards: always full.
    supports_incremental = False
    #: The webhook endpoint ``/hooks/<kind>`` (see its module).
    webhooks = GitHubReceiver
    #: ``[projects.NAME.github]`` and the ``[webhooks] github_*`` keys.
    settings_model = GitHubSettings
    webhook_settings_model = GitHubWebhookSettings

    setup_command: ClassVar[Callable[[], click.Command] | None] = _setup_command

    def __init__(
        self,
        tracker: TrackerSettings,
        project: ProjectSettings,
        field_names: FieldNames,
        api_key: SecretStr,
        *,
        progress: Callable[[int, int], None] | None = None,
        tracker_name: str = "github",
        risk: RiskSettings | None = None,  # GitHub has no risk register mapping yet
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tracker = tracker
        self.project = project
        self.field_names = field_names
        self.tracker_name = tracker_name
        self.progress = progress
        self.settings: GitHubSettings = project.options(GitHubSettings) or GitHubSettings()
        repositories = list(self.settings.repositories)
        if not repositories:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", project.project):
                raise errors.ConfigError(
                    f"project '{project.project}' on GitHub: set [projects.NAME.github] "
                    "repositories = [\"owner/repo\", ...] (or use 'owner/repo' as the project)"
                )
            repositories = [project.project]
        self.repositories = repositories
        self.api_base = (tracker.url or DEFAULT_API).rstrip("/")
        self.web_base = web_base(self.api_base)
        ctx = Context(
            name=project.project,
            settings=self.settings,
            field_names=field_names,
            repositories=repositories,
            keys=IssueKeys(repositories),
            api_base=self.api_base,
            web_base=self.web_base,
            notes=Notes(project.project),
            clock=clock,
            section=project.section,
        )
        self._ctx = ctx
        token = Token(api_key.get_secret_value())
        self._client = GitHubClient(ctx, tracker, token, tracker_name=tracker_name, sleep=sleep)
        self._projects = Projects(ctx, self._client)
        self._wiki = Wiki(ctx, token, timeout_seconds=tracker.timeout_seconds)
        self._fetcher = Fetcher(ctx, self._client, self._projects, project)

    # ------------------------------------------------------------------ plumbing

    @property
    def requests_made(self) -> int:
        """API requests (REST and GraphQL, retries included) this adapter has sent."""
        return self._client.requests_made

    @property
    def git_operations(self) -> int:
        """Git operations that talked to the wiki remote (clone, fetch, push, ls-remote)."""
        return self._wiki.git_operations

    @property
    def page_style(self) -> GitHubPageStyle:
        """GitHub Markdown (a GitHub wiki speaks nothing else), full links to issues."""
        return GitHubPageStyle(self.web_base)

    @property
    def notes(self) -> list[str]:
        """Things fetch, diff or apply noticed but did not fail on."""
        return self._ctx.notes.items

    @notes.setter
    def notes(self, value: list[str]) -> None:
        self._ctx.notes.items = value

    @property
    def items_added(self) -> list[str]:
        """Keys of issues ``apply`` added to the Projects board."""
        return self._projects.items_added

    @property
    def wiki_repository(self) -> str:
        return self._wiki.repository

    def close(self) -> None:
        self._wiki.close()
        self._client.close()

    def __enter__(self) -> GitHubAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _name(self) -> str:
        return self.project.project

    # ------------------------------------------------------------------ fetch

    def fetch(
        self, *, since: dt.datetime | None = None, cached: Snapshot | None = None
    ) -> FetchResult:
        """Read the repositories and the board into a Snapshot (always in full: ``since`` and
        ``cached`` are ignored, see ``supports_incremental``).

        Contract: every issue (open and closed, no pull requests) of the configured
        repositories becomes a WorkItem keyed ``github:owner/repo#N`` (``native_id`` = the
        issue's GraphQL node id); milestones become ``github:owner/repo:milestone:N`` with the
        due date read in US-Pacific; "blocked by" relations become FS dependencies (origin
        ``blocked_by``), sub-issues set ``parent``; ``Depends on`` / ``Blocked by`` lines in
        the body become FS dependencies (origin ``body``) when the predecessor is in the
        snapshot, else go to the result's ``external_dependencies`` (another tracker, e.g.
        ``redmine:123``, or a repository that is not configured). With a board configured, an
        issue on the board carries ``fields[logical]`` (the shown value or None) for each of
        our logical fields the board has; issues not on the board carry none. Estimates: see
        :func:`.estimates.estimate`. The request budget is in the docstring of :mod:`.fetch`.
        """
        self.notes = []
        snapshot = self._fetcher.fetch(self.progress)
        return FetchResult(
            snapshot, external_dependencies=list(self._fetcher.external_dependencies)
        )

    # ------------------------------------------------------------------ diff

    def diff(self, snapshot: Snapshot, desired: DesiredState) -> ChangeSet:
        """Changes that make the board and the wiki show ``desired``.

        Fields: each desired value is formatted for the board field's type
        (:func:`format_field_value`: ISO date, plain number, single-select option name) and
        compared, normalised, with the value in the snapshot; only differences are kept. An
        issue that is not on the board yet (no ``fields`` entries) gets every non-empty value
        with ``old = None``; ``apply`` adds it to the board first. A logical field the board
        lacks raises ConfigError (``setup github`` creates it); a single-select field without
        the needed option too. Pages: the wiki is cloned and our block merged into
        ``<Page>.md`` (:func:`merge_block`); the page is kept only if its text or one of its
        attachments changes.
        """
        started = self.requests_made
        changes: list[FieldChange] = []
        if desired.fields:
            if self.settings.project_v2 is None:
                self._ctx.notes.add(
                    "no Projects board configured (project_v2); field values are not written"
                )
            else:
                changes = self._projects.diff(snapshot, desired)
        pages = [c for page in desired.pages if (c := self._wiki.diff_page(page)) is not None]
        log.info(
            "github diff %s: %d field changes on %d issues, %d page(s), %d requests",
            self._name,
            len(changes),
            len({c.item for c in changes}),
            len(pages),
            self.requests_made - started,
        )
        return ChangeSet(fields=changes, pages=pages, pages_desired=list(desired.pages))

    # ------------------------------------------------------------------ apply

    def apply(self, changes: ChangeSet) -> ApplyReport:
        """Write ``changes``: add missing issues to the board (``addProjectV2ItemById``),
        then one GraphQL document per issue that updates (``updateProjectV2ItemFieldValue``)
        or clears (``clearProjectV2ItemFieldValue``) all its changed fields; then each page
        (commit and push to the wiki; a rejected push is fetched, re-merged and retried up to
        ``wiki_push_retries`` times, counted in ``conflicts_retried``). Writes are at least
        ``write_interval_seconds`` apart. Issues added to the board are in
        :attr:`items_added` and :attr:`notes`. An error stops at once and carries what was
        written before it (``error.report``).
        """
        started = self.requests_made
        report = ApplyReport()
        try:
            self._projects.apply(changes.fields, report, refresh=self.fetch)
            desired = {p.title: p for p in changes.pages_desired}
            for page_change in changes.pages:
                self._wiki.apply_page(page_change, desired.get(page_change.title), report)
        except errors.TrackerBridgeError as e:
            report.requests = self.requests_made - started
            e.report = report
            raise
        report.requests = self.requests_made - started
        log.info(
            "github apply %s: %d issues (%d fields, %d added to the board), %d pages, "
            "%d pushes retried, %d requests",
            self._name,
            report.issues_updated,
            report.fields_written,
            len(self.items_added),
            report.pages_written,
            report.conflicts_retried,
            report.requests,
        )
        return report

    # ------------------------------------------------------------------ doctor and setup

    def check(self) -> list[Finding]:
        """Doctor: token, repositories, board and its fields, wiki.

        Finding ids are stable: ``github.auth.failed``, ``github.auth.ok``,
        ``github.auth.scopes``, ``github.connect.failed``, ``github.repo.missing``,
        ``github.repo.ok``, ``github.repo.moved`` (renamed or transferred: the message names
        the new name), ``github.project.unconfigured``, ``github.project.missing``,
        ``github.project.ok``, ``github.project_field.missing`` (the message names the
        field), ``github.project_field.type``, ``github.project_field.ok``,
        ``github.wiki.disabled``, ``github.wiki.missing``, ``github.wiki.failed``,
        ``github.wiki.ok``.
        """
        return checks.findings(self._ctx, self._client, self._projects, self._wiki)

    def missing_project_fields(self) -> list[tuple[str, str, str]]:
        """``(logical, field name, data type)`` of our fields the board lacks."""
        return self._projects.missing_fields()

    def create_project_fields(self, fields: list[tuple[str, str, str]]) -> list[str]:
        """Create fields on the board with ``createProjectV2Field``; their names."""
        return self._projects.create_fields(fields)


def conforms(adapter: GitHubAdapter) -> TrackerAdapter:
    """Never called: mypy checks here that the adapter implements the protocol."""
    return adapter


def factory_conforms() -> AdapterFactory:
    """Never called: mypy checks here that the class is a valid entry point."""
    return GitHubAdapter
