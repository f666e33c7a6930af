"""The Redmine adapter: wires the client, the fetchers, the field updates, the wiki and the
doctor of one project into the adapter protocol (fetch, diff, apply, check)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import SecretStr

from tracker_bridge import errors
from tracker_bridge.adapters.protocol import AdapterFactory, FetchResult, TrackerAdapter
from tracker_bridge.adapters.redmine import checks
from tracker_bridge.adapters.redmine.client import RedmineClient
from tracker_bridge.adapters.redmine.context import Context
from tracker_bridge.adapters.redmine.fetch import Fetched, Fetcher
from tracker_bridge.adapters.redmine.fields import FieldResolver
from tracker_bridge.adapters.redmine.incremental import FullFetchNeeded, IncrementalFetcher
from tracker_bridge.adapters.redmine.settings import RedmineWebhookSettings
from tracker_bridge.adapters.redmine.style import RedminePageStyle
from tracker_bridge.adapters.redmine.updates import IssueUpdates
from tracker_bridge.adapters.redmine.webhooks import RedmineReceiver
from tracker_bridge.adapters.redmine.wiki import Wiki, wiki_title
from tracker_bridge.model import ApplyReport, ChangeSet, DesiredState, Finding, Snapshot
from tracker_bridge.settings import FieldNames, ProjectSettings, RiskSettings, TrackerSettings

if TYPE_CHECKING:
    import click

__all__ = ["RedmineAdapter"]

log = logging.getLogger(__package__)  # the package's logger: log lines name the adapter


def _setup_command() -> click.Command:
    """``tracker-bridge setup redmine`` (imported on use: it needs the command line)."""
    from tracker_bridge.adapters.redmine.setup_cli import setup_redmine

    return setup_redmine


class RedmineAdapter:
    """One Redmine (or Planio) project: fetch, diff, apply, check."""

    #: :meth:`fetch` accepts ``since`` and ``cached`` (incremental fetch); the pipeline asks.
    supports_incremental = True
    #: The webhook endpoint ``/hooks/<kind>`` (see its module).
    webhooks = RedmineReceiver
    #: No ``[projects.NAME.redmine]`` section; the ``[webhooks] redmine_*`` keys.
    settings_model = None
    webhook_settings_model = RedmineWebhookSettings

    setup_command: ClassVar[Callable[[], click.Command] | None] = _setup_command

    def __init__(
        self,
        tracker: TrackerSettings,
        project: ProjectSettings,
        field_names: FieldNames,
        api_key: SecretStr,
        *,
        progress: Callable[[int, int], None] | None = None,
        tracker_name: str = "redmine",
        risk: RiskSettings | None = None,
    ) -> None:
        if not tracker.url:
            raise errors.ConfigError(f"trackers.{tracker_name}.url: the Redmine URL is missing")
        self.tracker = tracker
        self.project = project
        self.field_names = field_names
        #: Names of the risk tracker and of the risk and three-point estimate fields.
        self.risk = risk if risk is not None else RiskSettings()
        self.tracker_name = tracker_name
        self.progress = progress
        self.base_url = tracker.url.rstrip("/")
        ctx = Context(
            tracker=tracker,
            project=project,
            field_names=field_names,
            risk=self.risk,
            tracker_name=tracker_name,
            base_url=self.base_url,
        )
        self._ctx = ctx
        self._client = RedmineClient(ctx, api_key.get_secret_value())
        #: The HTTP session every request goes through (tests hook into it).
        self._session = self._client.session
        self._fields = FieldResolver(ctx)
        self._fetcher = Fetcher(ctx, self._client, self._fields)
        self._incremental = IncrementalFetcher(ctx, self._client, self._fetcher, self._fields)
        self._updates = IssueUpdates(ctx, self._client, self._fields)
        self._wiki = Wiki(ctx, self._client)
        #: Requests the last :meth:`fetch` made.
        self.fetch_requests = 0
        #: Issues the last incremental fetch re-read (changed ones, plus those with new time
        #: entries); None after a full fetch.
        self.fetch_changed: int | None = None

    # ------------------------------------------------------------------ plumbing

    @property
    def requests_made(self) -> int:
        """HTTP requests this adapter has sent so far (assign 0 to start counting again)."""
        return self._session.count

    @requests_made.setter
    def requests_made(self, value: int) -> None:
        self._session.count = value

    @property
    def page_style(self) -> RedminePageStyle:
        """The project's text formatting (``markup`` in the tracker's settings), ``#42``."""
        return RedminePageStyle(self.tracker.markup)

    @property
    def notes(self) -> list[str]:
        """Things fetch noticed but did not fail on (relations leaving the project, ...)."""
        return self._ctx.notes

    @notes.setter
    def notes(self, value: list[str]) -> None:
        self._ctx.notes = value

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RedmineAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ fetch

    def fetch(
        self, *, since: dt.datetime | None = None, cached: Snapshot | None = None
    ) -> FetchResult:
        """Read the project into a Snapshot (issues, relations, versions, time entries).

        Contract: every issue of the project, open and closed (of its subprojects too when
        ``include_subprojects``), becomes a WorkItem keyed ``redmine:<id>`` — except issues
        of the risk tracker (``risk.risk_tracker``), which become :class:`Risk` entries (see
        below); ``precedes`` relations between work items become FS dependencies with
        ``lag_days = delay`` and ``blocks`` relations FS with lag 0 (other relation types are
        ignored; relations to issues outside the fetched set are dropped and noted in
        :attr:`notes`); versions become milestones keyed ``redmine:version:<id>``; time
        entries of the project are read in full (time logged on a risk counts for the
        project, without an item). For each of our logical fields (:class:`FieldNames`) an
        item carries ``fields[logical]`` = the raw stored string (None when never set) *only
        if* the issue has that custom field; the catalogue of custom-field names seen on
        issues goes to ``snapshot.custom_fields``.

        Three-point estimates: an issue with values in ``risk.optimistic_field`` and
        ``risk.pessimistic_field`` gets ``estimate_range`` (optimistic, likely = its estimated
        hours, pessimistic) when ``optimistic <= likely <= pessimistic``; otherwise (or when
        one of the three is missing) it keeps its single estimate and a note says why.

        Risk register: a risk issue's ``probability`` is ``risk.probability_field`` in percent
        (0..100; a risk without one is skipped, noted), ``impact_days``/``impact_cost`` come
        from ``risk.impact_days_field``/``risk.impact_cost_field`` (0 when empty),
        ``threatens`` = the work items related to it by any relation (relates, blocks,
        precedes, ... in either direction) and ``status`` is open/closed. Relations that
        touch a risk never become dependencies.

        With ``since`` *and* ``cached`` (``since`` is the ``cursor`` of the fetch that
        produced ``cached``) the fetch is incremental: it reads the issues changed since and
        merges them into ``cached``; what it cannot see, and when it falls back to a full
        fetch (``fallback_reason``), is in :mod:`.incremental`. The request budget of both is
        in the docstring of :mod:`.fetch`.

        The result's ``cursor`` is the ``since`` for the next incremental fetch: the latest
        ``updated_on`` read, but never later than the server's clock (``Date`` header) when
        this fetch started, so that an issue changed while the pages were being read is read
        again next time.
        """
        started = self.requests_made
        self.notes = []
        self.fetch_changed = None
        fallback_reason = ""
        server_start, project, versions_raw = self._fetcher.start()

        fetched: Fetched | None = None
        if since is not None and cached is not None:
            fetched, fallback_reason = self._try_incremental(project, versions_raw, since, cached)
        if fetched is None:
            fetched = self._fetcher.full(project, versions_raw, self.progress)
        else:
            self.fetch_changed = fetched.changed
        snapshot, latest = fetched.snapshot, fetched.latest
        if latest is not None and server_start is not None:
            latest = min(latest, server_start)
        self.fetch_requests = self.requests_made - started
        self._log_fetch(snapshot)
        return FetchResult(
            snapshot,
            mode="full" if self.fetch_changed is None else "incremental",
            cursor=latest if latest is not None else server_start,
            fallback_reason=fallback_reason,
        )

    def _try_incremental(
        self,
        project: dict[str, Any],
        versions_raw: list[dict[str, Any]],
        since: dt.datetime,
        cached: Snapshot,
    ) -> tuple[Fetched | None, str]:
        """The incremental fetch, or None and the reason a full fetch is needed."""
        try:
            return self._incremental.fetch(project, versions_raw, since, cached, self.progress), ""
        except FullFetchNeeded as e:
            self.notes = []
            log.info(
                "redmine %s: incremental fetch not possible (%s); full fetch", self._ctx.pid, e
            )
            return None, str(e)

    def _log_fetch(self, snapshot: Snapshot) -> None:
        """Logs what the fetch read and how many requests it took."""
        if self.fetch_changed is not None:  # incremental
            log.info(
                "redmine %s: incremental fetch: %d changed issues in %d requests "
                "(%d issues, %d dependencies, %d risks, %d time entries)",
                self._ctx.pid,
                self.fetch_changed or 0,
                self.fetch_requests,
                len(snapshot.items),
                len(snapshot.dependencies),
                len(snapshot.risks),
                len(snapshot.time_entries),
            )
        else:
            log.info(
                "redmine fetch %s: %d issues, %d dependencies, %d milestones, "
                "%d time entries in %d requests",
                self._ctx.pid,
                len(snapshot.items),
                len(snapshot.dependencies),
                len(snapshot.milestones),
                len(snapshot.time_entries),
                self.fetch_requests,
            )

    # ------------------------------------------------------------------ diff

    def diff(self, snapshot: Snapshot, desired: DesiredState) -> ChangeSet:
        """Changes that make the tracker show ``desired``; reads the current wiki page(s).

        Fields: for every item and logical field of ``desired.fields`` the value is formatted
        as Redmine stores it for the field's format (:func:`format_value` with
        :data:`EXPECTED_FORMATS`) and compared, normalised (:func:`values_equal`), with the
        value in the snapshot; only differences are kept. Only our logical fields
        (:class:`FieldNames`) are ever written. A required field (:meth:`FieldNames.required`)
        no issue carries raises ConfigError; an optional overlay field no issue carries is
        skipped silently (``check`` reports it); an issue whose tracker lacks a field is
        skipped (noted). Pages: ``GET /projects/:p/wiki/:title.json?include=attachments`` (404 means
        create); our block is merged with :func:`merge_block` and the page is kept only if its
        text (or one of its attachments) changes, or when chart files a newer one replaced are
        still on it (``obsolete_attachments``: deleted by ``apply``).
        """
        started = self.requests_made
        changes = self._updates.diff(snapshot, desired)
        pages = [
            change for page in desired.pages if (change := self._wiki.diff_page(page)) is not None
        ]
        log.info(
            "redmine diff %s: %d field changes on %d issues, %d page(s), %d requests",
            self._ctx.pid,
            len(changes),
            len({c.item for c in changes}),
            len(pages),
            self.requests_made - started,
        )
        return ChangeSet(fields=changes, pages=pages, pages_desired=list(desired.pages))

    # ------------------------------------------------------------------ apply

    def apply(self, changes: ChangeSet) -> ApplyReport:
        """Write ``changes``: one ``PUT /issues/:id.json`` per issue with all its changed
        custom fields, then each page (``POST /uploads.json`` per attachment, ``PUT
        /projects/:p/wiki/:title.json`` with ``version`` for updates, a re-read just before a
        create, then ``DELETE /attachments/:id.json`` for replaced same-named files).

        A 409 on a page re-reads it, re-merges our block into the person's new text and retries
        (at most 3 times; counted in ``conflicts_retried``). A 422 or 404 on one issue does not
        stop the others; they are raised together (RejectedError, ``.report`` = what was
        written) at the end. Other errors stop at once, also with ``.report``.
        """
        started = self.requests_made
        report = ApplyReport()
        try:
            failures = self._updates.apply(
                changes.fields, report, refresh=lambda: self.fetch().snapshot
            )
            desired = {wiki_title(p.title): p for p in changes.pages_desired}
            for page_change in changes.pages:
                self._wiki.apply_page(
                    page_change, desired.get(wiki_title(page_change.title)), report
                )
        except errors.TrackerBridgeError as e:
            report.requests = self.requests_made - started
            e.report = report
            raise

        report.requests = self.requests_made - started
        log.info(
            "redmine apply %s: %d issues (%d fields), %d pages, %d attachments, "
            "%d conflicts retried, %d requests",
            self._ctx.pid,
            report.issues_updated,
            report.fields_written,
            report.pages_written,
            report.attachments_uploaded,
            report.conflicts_retried,
            report.requests,
        )
        if failures:
            error = errors.RejectedError(
                f"{len(failures)} issue update(s) failed ({report.issues_updated} written): "
                + "; ".join(failures[:5])
                + (" ..." if len(failures) > 5 else "")
            )
            error.report = report
            raise error
        return report

    # ------------------------------------------------------------------ doctor

    def check(self) -> list[Finding]:
        """Doctor: connection, key, project, modules, permissions and our custom fields.

        Finding ids are stable: ``redmine.connect.failed``, ``redmine.rest.disabled`` (403 on
        ``/users/current.json`` for any key, verified on 5.0.4), ``redmine.auth.invalid_key``,
        ``redmine.auth.ok``, ``redmine.project.missing``, ``redmine.project.forbidden``,
        ``redmine.project.ok``, ``redmine.issues.disabled``, ``redmine.time_tracking.disabled``,
        ``redmine.wiki.disabled``, ``redmine.wiki.ok``, ``redmine.permissions.missing``,
        ``redmine.permissions.ok``, ``redmine.custom_field.missing``,
        ``redmine.custom_field.optional_missing`` (``ok`` True: an overlay field that does
        not exist is simply not written), ``redmine.custom_field.not_writable``,
        ``redmine.custom_field.format``, ``redmine.custom_field.unverified``,
        ``redmine.custom_field.ok``. Issues of the risk tracker (``risk.risk_tracker``) are
        not written, so the custom fields are not required on them.
        """
        return checks.findings(self._ctx, self._client, self._fields)


def conforms(adapter: RedmineAdapter) -> TrackerAdapter:
    """Never called: mypy checks here that the adapter implements the protocol."""
    return adapter


def factory_conforms() -> AdapterFactory:
    """Never called: mypy checks here that the class is a valid entry point."""
    return RedmineAdapter
