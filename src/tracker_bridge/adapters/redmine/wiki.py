"""The plan page in the project's wiki: our managed block merged into the page, attachments.

Wiki writes use optimistic locking (``version``); a 409 is retried after re-merging our block
into the page a person just changed (at most :data:`MAX_CONFLICT_RETRIES` times). Attachments
carry a digest of their content in their description, so an unchanged chart is not uploaded
again; a replaced one is deleted after the new one is on the page, and one a pass left behind
(interrupted, or without the delete permission) is deleted by the next pass.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from tracker_bridge import errors
from tracker_bridge.adapters.redmine.client import RedmineClient
from tracker_bridge.adapters.redmine.context import Context
from tracker_bridge.adapters.values import lines_changed
from tracker_bridge.managed_block import merge_block
from tracker_bridge.model import ApplyReport, Attachment, DesiredPage, PageChange

__all__ = ["ATTACHMENT_TAG", "MAX_CONFLICT_RETRIES", "WIKI_COMMENT", "Wiki", "wiki_title"]

log = logging.getLogger(__package__)  # the package's logger: log lines name the adapter

MAX_CONFLICT_RETRIES = 3
WIKI_COMMENT = "tracker-bridge"
ATTACHMENT_TAG = "tracker-bridge sha256:"


def wiki_title(title: str) -> str:
    """Redmine's own title normalisation (Wiki.titleize): spaces -> '_', ',./?;|:' removed,
    first letter capitalised."""
    text = re.sub(r"\s+", "_", title.strip())
    text = re.sub(r"[,./?;|:]", "", text)
    return text[:1].upper() + text[1:]


def _attachment_digest(attachment: Attachment) -> str:
    return ATTACHMENT_TAG + hashlib.sha256(attachment.data).hexdigest()[:32]


@dataclass
class _Page:
    title: str
    text: str
    version: int
    attachments: list[dict[str, Any]] = field(default_factory=list)


class Wiki:
    """The wiki of one project: reading pages, diffing our block, writing pages."""

    def __init__(self, ctx: Context, client: RedmineClient) -> None:
        self._ctx = ctx
        self._client = client

    def _path(self, title: str) -> str:
        pid = quote(self._ctx.pid, safe="")
        return f"/projects/{pid}/wiki/{quote(wiki_title(title), safe='')}"

    def _read_page(self, title: str) -> _Page | None:
        path = self._path(title) + ".json"
        try:
            data = self._client.get(path, {"include": "attachments"}, what=f"wiki page '{title}'")
        except errors.NotFoundError:
            self._require_wiki()
            return None
        page = data.get("wiki_page") or {}
        return _Page(
            title=str(page.get("title") or title),
            text=str(page.get("text") or ""),
            version=int(page.get("version") or 0),
            attachments=list(page.get("attachments") or []),
        )

    def _require_wiki(self) -> None:
        ctx = self._ctx
        project = self._client.project_json or self._client.project()
        modules = {m.get("name") for m in project.get("enabled_modules") or []}
        if project.get("enabled_modules") is not None and "wiki" not in modules:
            raise errors.ConfigError(
                f"the wiki module is disabled in Redmine project '{ctx.pid}': enable it in "
                f"{ctx.base_url}/projects/{ctx.pid}/settings/modules (Settings -> Modules -> "
                "Wiki), or configure no wiki page for this project"
            )

    # ------------------------------------------------------------------ diff

    def diff_page(self, page: DesiredPage) -> PageChange | None:
        """The change that puts our block (and attachments) on ``page``; None: nothing to do."""
        current = self._read_page(page.title)
        markup = self._ctx.tracker.markup
        if current is None:
            text = merge_block(None, page.body, markup)
            return PageChange(
                title=page.title,
                action="create",
                lines_changed=len(text.splitlines()),
                text=text,
                base_version=None,
                attachments=list(page.attachments),
            )
        try:
            text = merge_block(current.text, page.body, markup)
        except errors.InputError as e:
            raise errors.InputError(
                f"wiki page {self._ctx.base_url}/projects/{self._ctx.pid}/wiki/{current.title}: {e}"
            ) from None
        stale = self._stale_attachments(page.attachments, current.attachments)
        obsolete = _obsolete_attachments(
            current.attachments, {a.filename for a in page.attachments}
        )
        if text == current.text and not stale and not obsolete:
            return None
        # 0 lines changed and no upload means "only delete leftovers" to apply_page, so a
        # text that differs (in line endings only, say) counts as at least one line
        changed = lines_changed(current.text, text) or int(text != current.text)
        return PageChange(
            title=page.title,
            action="update",
            lines_changed=changed,
            text=text,
            base_version=current.version,
            attachments=stale,
            obsolete_attachments=obsolete,
        )

    @staticmethod
    def _stale_attachments(
        desired: list[Attachment], existing: list[dict[str, Any]]
    ) -> list[Attachment]:
        """Desired attachments whose newest same-named file differs (or is missing)."""
        newest: dict[str, dict[str, Any]] = {}
        for a in existing:
            name = str(a.get("filename"))
            if name not in newest or int(a.get("id", 0)) > int(newest[name].get("id", 0)):
                newest[name] = a
        stale = []
        for attachment in desired:
            have = newest.get(attachment.filename)
            if (
                have is None
                or have.get("description") != _attachment_digest(attachment)
                or int(have.get("filesize", -1)) != len(attachment.data)
            ):
                stale.append(attachment)
        return stale

    # ------------------------------------------------------------------ apply

    def apply_page(
        self, change: PageChange, desired: DesiredPage | None, report: ApplyReport
    ) -> None:
        """Upload the attachments and write the page; a 409 re-reads, re-merges and retries."""
        title = change.title
        if change.action == "update" and not change.lines_changed and not change.attachments:
            # the page shows this plan already; only earlier charts are left over (a pass
            # was interrupted before it deleted them, or the bot could not)
            self._delete_attachments(change.obsolete_attachments, report)
            return
        text = change.text
        version = change.base_version
        action = change.action
        uploads = [self._upload(a) for a in change.attachments if a.data]
        report.attachments_uploaded += len(uploads)

        def remerge(current: _Page | None) -> str:
            if desired is None:
                raise errors.ConflictError(
                    f"wiki page '{title}' changed since the diff and the desired block is not "
                    "in the change set (pages_desired); run again"
                )
            return merge_block(
                current.text if current else None, desired.body, self._ctx.tracker.markup
            )

        for attempt in range(MAX_CONFLICT_RETRIES + 1):
            if action == "create":
                # Redmine has no create-only PUT: a page a person created since the diff
                # would be overwritten. Look again right before writing.
                current = self._read_page(title)
                if current is not None:
                    action, version, text = "update", current.version, remerge(current)
            try:
                self._put_page(title, text, version if action == "update" else None, uploads)
            except errors.ConflictError:
                if attempt == MAX_CONFLICT_RETRIES:
                    raise
                report.conflicts_retried += 1
                log.info(
                    "redmine %s: wiki page '%s' changed since the diff; re-merging",
                    self._ctx.pid,
                    title,
                )
                current = self._read_page(title)
                if current is None:
                    action, version, text = "create", None, remerge(None)
                else:
                    action, version, text = "update", current.version, remerge(current)
                continue
            report.pages_written += 1
            break
        if uploads:
            self._delete_replaced_attachments(title, {u["filename"] for u in uploads}, report)

    def _put_page(
        self, title: str, text: str, version: int | None, uploads: list[dict[str, str]]
    ) -> None:
        fields: dict[str, Any] = {"text": text, "comments": WIKI_COMMENT}
        if version is not None:
            fields["version"] = version
        if uploads:
            fields["uploads"] = [dict(u) for u in uploads]
        pid = self._ctx.pid
        with self._client.call(
            "PUT",
            self._path(title) + ".json",
            what=f"wiki page '{title}'",
            forbidden=(
                f"the API user may not edit wiki pages of project "
                f"'{pid}': give its role 'Edit wiki pages'"
            ),
        ):
            self._client.rm.wiki_page.update(
                quote(wiki_title(title), safe=""), project_id=pid, **fields
            )

    def _upload(self, attachment: Attachment) -> dict[str, str]:
        with self._client.call("POST", "/uploads.json", what=f"upload of {attachment.filename}"):
            token = self._client.rm.upload(
                io.BytesIO(attachment.data), filename=attachment.filename
            )["token"]
        return {
            "token": str(token),
            "filename": attachment.filename,
            "content_type": attachment.content_type,
            "description": _attachment_digest(attachment),
        }

    def _delete_replaced_attachments(
        self, title: str, filenames: set[str], report: ApplyReport
    ) -> None:
        page = self._read_page(title)
        if page is not None:
            self._delete_attachments(_obsolete_attachments(page.attachments, filenames), report)

    def _delete_attachments(self, ids: list[int], report: ApplyReport) -> None:
        for old in ids:
            with contextlib.suppress(errors.NotFoundError):  # already gone
                self._client.request(
                    "delete",
                    f"/attachments/{old}.json",
                    what=f"delete of old attachment {old}",
                    forbidden=(
                        "the API user may not delete wiki attachments: give its role "
                        "'Wiki: Delete attachments' (Administration -> Roles and "
                        "permissions), then run again; the new charts are on the page"
                    ),
                )
                report.attachments_deleted += 1


def _obsolete_attachments(existing: list[dict[str, Any]], filenames: set[str]) -> list[int]:
    """Ids of our chart files (tagged :data:`ATTACHMENT_TAG`) that a newer file of the same
    name replaced. Files a person attached are never deleted."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for a in existing:
        if str(a.get("filename")) in filenames:
            by_name.setdefault(str(a["filename"]), []).append(a)
    obsolete = []
    for same_name in by_name.values():
        for a in sorted(same_name, key=lambda a: int(a["id"]))[:-1]:
            if str(a.get("description") or "").startswith(ATTACHMENT_TAG):
                obsolete.append(int(a["id"]))
    return sorted(obsolete)
