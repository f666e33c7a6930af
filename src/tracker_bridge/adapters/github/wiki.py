"""The repository's wiki, a git repository: clone it, merge our block into a page, commit, push.

A rejected push (someone pushed first) is fetched, re-merged and pushed again, up to
``wiki_push_retries`` times. The token goes to git in an ``http.<url>.extraHeader`` set through
the environment: never on the command line, in ``.git/config`` or in the remote URL, and it is
scrubbed from git's messages. Git operations that talk to the remote are counted
(:attr:`Wiki.git_operations`).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracker_bridge import errors
from tracker_bridge.adapters.github.client import Token
from tracker_bridge.adapters.github.context import Context
from tracker_bridge.adapters.values import lines_changed
from tracker_bridge.managed_block import merge_block
from tracker_bridge.model import ApplyReport, DesiredPage, PageChange

__all__ = ["MARKUP", "WIKI_COMMIT_MESSAGE", "Wiki", "wiki_filename"]

log = logging.getLogger(__package__)  # the package's logger: log lines name the adapter

MARKUP = "gfm"
WIKI_COMMIT_MESSAGE = "tracker-bridge: update {title}"

_WIKI_FORBIDDEN = re.compile(r'[\\/:*?"<>|]')


def wiki_filename(title: str) -> str:
    """The wiki file of a page title: ``Project Plan`` -> ``Project-Plan.md``."""
    name = re.sub(r"\s+", "-", title.strip())
    if not name or _WIKI_FORBIDDEN.search(name):
        raise errors.ConfigError(
            f'wiki page title {title!r} cannot be a GitHub wiki file name (avoid \\/:*?"<>|)'
        )
    return name + ".md"


@dataclass
class _WikiClone:
    root: Path
    path: Path
    branch: str
    cleanup: weakref.finalize[Any, Any]


class _GitError(Exception):
    def __init__(self, args: list[str], returncode: int, stderr: str) -> None:
        super().__init__(stderr)
        self.args_ = args
        self.returncode = returncode
        self.stderr = stderr


class Wiki:
    """The wiki of one repository (``wiki_repository``, else the first repository)."""

    def __init__(self, ctx: Context, token: Token, *, timeout_seconds: float) -> None:
        self._ctx = ctx
        self._token = token
        self._timeout_seconds = timeout_seconds
        self._clone: _WikiClone | None = None
        #: Git operations that talked to the wiki remote (clone, fetch, push, ls-remote).
        self.git_operations = 0

    @property
    def repository(self) -> str:
        return self._ctx.settings.wiki_repository or self._ctx.repositories[0]

    def remote(self) -> str:
        return self._ctx.settings.wiki_remote or f"{self._ctx.web_base}/{self.repository}.wiki.git"

    # ------------------------------------------------------------------ git

    def git_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "GIT_TERMINAL_PROMPT": "0",
                "LC_ALL": "C",
                "LANGUAGE": "C",
                "GIT_AUTHOR_NAME": self._ctx.settings.wiki_author_name,
                "GIT_AUTHOR_EMAIL": self._ctx.settings.wiki_author_email,
                "GIT_COMMITTER_NAME": self._ctx.settings.wiki_author_name,
                "GIT_COMMITTER_EMAIL": self._ctx.settings.wiki_author_email,
            }
        )
        # The same as `git -c KEY=VALUE`, but the token stays out of the command line (ps),
        # out of .git/config and out of the remote URL.
        config = [("commit.gpgsign", "false")]
        if self._token and self.remote().startswith(("http://", "https://")):
            config.append(
                (
                    f"http.{self._ctx.web_base}/.extraHeader",
                    f"Authorization: Basic {self._token.basic_auth()}",
                )
            )
        count = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
        for i, (key, value) in enumerate(config, start=count):
            env[f"GIT_CONFIG_KEY_{i}"] = key
            env[f"GIT_CONFIG_VALUE_{i}"] = value
        env["GIT_CONFIG_COUNT"] = str(count + len(config))
        return env

    def git(
        self, args: list[str], cwd: Path | None = None, *, network: bool = False, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        if network:
            self.git_operations += 1
        try:
            result = subprocess.run(
                ["git", *args],
                cwd=cwd,
                env=self.git_env(),
                capture_output=True,
                text=True,
                timeout=max(60.0, self._timeout_seconds * 4),
                check=False,
            )
        except FileNotFoundError:
            raise errors.ConfigError(
                "git is not installed; the GitHub wiki is a git repository and needs it"
            ) from None
        except subprocess.TimeoutExpired:
            raise errors.TrackerError(
                f"git {args[0]} of the wiki of {self.repository} timed out"
            ) from None
        if check and result.returncode != 0:
            raise _GitError(args, result.returncode, self._token.scrub(result.stderr or ""))
        return result

    def error(self, e: _GitError, action: str) -> errors.TrackerError:
        """A failed git ``action`` as our error: the wiki is missing, refused, or failed."""
        text = e.stderr.strip()
        low = text.lower()
        if "not found" in low or "does not exist" in low or "does not appear to be a git" in low:
            return errors.NotFoundError(
                f"the wiki of {self.repository} does not exist yet: create its first page "
                "in the web UI (GitHub only creates the wiki repository then)",
                method="GIT",
                path=action,
            )
        if (
            "authentication failed" in low
            or "could not read username" in low
            or "403" in low
            or "permission" in low
        ):
            return errors.AuthError(
                f"git {action} of the wiki of {self.repository} was refused: the token "
                "needs the 'repo' scope (classic) or Contents: write (fine-grained, app)",
                method="GIT",
                path=action,
                detail=text.splitlines()[-1] if text else None,
            )
        return errors.TrackerError(
            f"git {action} of the wiki of {self.repository} failed",
            method="GIT",
            path=action,
            detail=text.splitlines()[-1] if text else None,
        )

    def reach(self) -> errors.TrackerError | None:
        """``git ls-remote`` of the wiki: None when it answers, else the error (as
        :meth:`error`; git missing or timing out still raises)."""
        try:
            self.git(["ls-remote", "--heads", self.remote()], network=True)
        except _GitError as e:
            return self.error(e, "ls-remote")
        return None

    # ------------------------------------------------------------------ the clone

    def close(self) -> None:
        if self._clone is not None:
            self._clone.cleanup()
            self._clone = None

    def _clone_wiki(self) -> _WikiClone:
        self.close()
        root = Path(tempfile.mkdtemp(prefix="tracker-bridge-wiki-"))
        # removed by close(), or when the wiki is garbage-collected (no ResourceWarning)
        cleanup = weakref.finalize(self, shutil.rmtree, root, ignore_errors=True)
        path = root / "wiki"
        try:
            self.git(
                ["clone", "--quiet", "--depth", "1", "--no-tags", self.remote(), str(path)],
                network=True,
            )
            branch = self.git(["symbolic-ref", "--short", "HEAD"], path).stdout.strip()
        except _GitError as e:
            cleanup()
            raise self.error(e, "clone") from None
        self._clone = _WikiClone(root=root, path=path, branch=branch or "master", cleanup=cleanup)
        return self._clone

    @staticmethod
    def _page_path(clone: _WikiClone, title: str) -> Path:
        """``<Page>.md`` at the top, or wherever GitHub would find it in a subdirectory."""
        name = wiki_filename(title)
        top = clone.path / name
        if top.exists():
            return top
        for candidate in sorted(clone.path.rglob(name)):
            if ".git" not in candidate.relative_to(clone.path).parts:
                return candidate
        return top

    @staticmethod
    def _read_text(path: Path) -> str | None:
        if not path.exists():
            return None
        return path.read_bytes().decode("utf-8")

    # ------------------------------------------------------------------ pages

    def diff_page(self, page: DesiredPage) -> PageChange | None:
        """Clone the wiki and merge our block into the page; None when nothing changes."""
        clone = self._clone_wiki()
        path = self._page_path(clone, page.title)
        current = self._read_text(path)
        try:
            text = merge_block(current, page.body, MARKUP)
        except errors.InputError as e:
            raise errors.InputError(
                f"wiki page {self._ctx.web_base}/{self.repository}/wiki/"
                f"{wiki_filename(page.title)[:-3]}: {e}"
            ) from None
        stale = [
            a
            for a in page.attachments
            if not (clone.path / a.filename).exists()
            or (clone.path / a.filename).read_bytes() != a.data
        ]
        if current is None:
            return PageChange(
                title=page.title,
                action="create",
                lines_changed=len(text.splitlines()),
                text=text,
                attachments=list(page.attachments),
            )
        if text == current and not stale:
            return None
        return PageChange(
            title=page.title,
            action="update",
            lines_changed=lines_changed(current, text),
            text=text,
            attachments=stale,
        )

    def apply_page(
        self, change: PageChange, desired: DesiredPage | None, report: ApplyReport
    ) -> None:
        """Commit and push the page; a rejected push is fetched, re-merged and retried."""
        clone = self._clone or self._clone_wiki()
        text = change.text
        retries = self._ctx.settings.wiki_push_retries
        for attempt in range(retries + 1):
            path = self._page_path(clone, change.title)
            path.write_bytes(text.encode("utf-8"))
            names = [str(path.relative_to(clone.path))]
            for attachment in change.attachments:
                (clone.path / attachment.filename).write_bytes(attachment.data)
                names.append(attachment.filename)
            try:
                self.git(["add", "--", *names], clone.path)
                staged = self.git(["diff", "--cached", "--quiet"], clone.path, check=False)
                if staged.returncode == 0:
                    return  # the page already reads like this (someone pushed the same)
                self.git(
                    [
                        "commit",
                        "--quiet",
                        "--no-verify",
                        "-m",
                        WIKI_COMMIT_MESSAGE.format(title=change.title),
                    ],
                    clone.path,
                )
            except _GitError as e:
                raise self.error(e, "commit") from None
            push = self.git(
                ["push", "--quiet", "origin", f"HEAD:refs/heads/{clone.branch}"],
                clone.path,
                network=True,
                check=False,
            )
            if push.returncode == 0:
                report.pages_written += 1
                report.attachments_uploaded += len(change.attachments)
                return
            stderr = self._token.scrub(push.stderr or "")
            if "rejected" not in stderr and "fetch first" not in stderr:
                raise self.error(_GitError(["push"], push.returncode, stderr), "push")
            if attempt == retries:
                raise errors.ConflictError(
                    f"wiki page '{change.title}' of {self.repository}: the push was "
                    f"rejected {retries + 1} times (others keep pushing); run again",
                    method="GIT",
                    path="push",
                )
            if desired is None:
                raise errors.ConflictError(
                    f"wiki page '{change.title}' changed since the diff and the desired block "
                    "is not in the change set (pages_desired); run again",
                    method="GIT",
                    path="push",
                )
            report.conflicts_retried += 1
            log.info(
                "github %s: wiki push rejected (someone pushed first); re-merging", self._ctx.name
            )
            try:
                self.git(
                    ["fetch", "--quiet", "--depth", "1", "origin", f"refs/heads/{clone.branch}"],
                    clone.path,
                    network=True,
                )
                self.git(["reset", "--quiet", "--hard", "FETCH_HEAD"], clone.path)
            except _GitError as e:
                raise self.error(e, "fetch") from None
            current = self._read_text(self._page_path(clone, change.title))
            text = merge_block(current, desired.body, MARKUP)
