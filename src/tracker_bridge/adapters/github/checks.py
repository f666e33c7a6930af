"""Doctor findings for a GitHub project: the token and its scopes, the repositories, the
Projects board and its fields, the wiki. Each finding says what is wrong and how to fix it;
the ids are listed at :meth:`GitHubAdapter.check`.
"""

from __future__ import annotations

from tracker_bridge import errors
from tracker_bridge.adapters.github.board import ProjectField
from tracker_bridge.adapters.github.client import GitHubClient
from tracker_bridge.adapters.github.context import Context
from tracker_bridge.adapters.github.projects import CRITICAL_OPTIONS, FIELD_TYPES, Projects
from tracker_bridge.adapters.github.wiki import Wiki
from tracker_bridge.model import Finding

__all__ = ["NEEDED_SCOPES", "findings"]

NEEDED_SCOPES = {"repo": "read issues, push the wiki", "project": "write Projects fields"}


def findings(ctx: Context, client: GitHubClient, projects: Projects, wiki: Wiki) -> list[Finding]:
    """The findings of :meth:`GitHubAdapter.check`: the token first (nothing else when it
    fails), then each repository, the board and its fields, and the wiki."""
    found, token_ok = _token(ctx, client)
    if not token_ok:
        return found
    wiki_repo_ok = True
    for repo in ctx.repositories:
        repo_found, repo_ok = _repository(ctx, client, wiki, repo)
        found.extend(repo_found)
        wiki_repo_ok = wiki_repo_ok and (repo_ok or repo != wiki.repository)
    found.extend(_board(ctx, projects))
    if wiki_repo_ok:
        found.append(_wiki(ctx, wiki))
    return found


def _token(ctx: Context, client: GitHubClient) -> tuple[list[Finding], bool]:
    """The token's findings (who, which scopes), and whether it works at all."""
    try:
        headers, user = client.rest("GET", "/user", what="token check")
    except errors.AuthError as e:
        return [
            Finding(
                id="github.auth.failed",
                ok=False,
                message=str(e),
                fix=f"Put a valid token into {client.token_source()}: classic token with the "
                "scopes 'repo' and 'project', or a fine-grained token with Issues, "
                "Contents and Projects (organisation) read/write.",
            )
        ], False
    except errors.TrackerError as e:
        return [
            Finding(
                id="github.connect.failed",
                ok=False,
                message=str(e),
                fix=f"Check [trackers.{client.tracker_name}].url ({ctx.api_base}) and the "
                "network (proxies, TLS).",
            )
        ], False
    scopes_header = headers.get("x-oauth-scopes")
    scopes = (
        [s.strip() for s in str(scopes_header).split(",") if s.strip()]
        if scopes_header is not None
        else None
    )
    client.oauth_scopes = scopes
    login = user.get("login") if isinstance(user, dict) else None
    shown = (
        f"token scopes: {', '.join(scopes) or 'none'}"
        if scopes is not None
        else "token scopes not reported: a fine-grained token or an app"
    )
    found = [Finding(id="github.auth.ok", ok=True, message=f"authenticated as '{login}' ({shown})")]
    if scopes is not None:
        have = set(scopes)
        lacking = [
            s
            for s in NEEDED_SCOPES
            if s not in have and not (s == "repo" and "public_repo" in have)
        ]
        if lacking:
            found.append(
                Finding(
                    id="github.auth.scopes",
                    ok=False,
                    message="the token lacks the scope(s) "
                    + ", ".join(f"'{s}' ({NEEDED_SCOPES[s]})" for s in lacking),
                    fix="Edit the token at Settings -> Developer settings -> Personal access "
                    "tokens and tick them.",
                )
            )
    return found, True


def _repository(
    ctx: Context, client: GitHubClient, wiki: Wiki, repo: str
) -> tuple[list[Finding], bool]:
    """One repository's findings, and whether its wiki (if it holds ours) can be checked."""
    try:
        _, data = client.rest(
            "GET",
            f"/repos/{repo}",
            what=f"repository {repo}",
            not_found=f"repository {repo} not found",
        )
    except (errors.NotFoundError, errors.AuthError) as e:
        return [
            Finding(
                id="github.repo.missing",
                ok=False,
                message=str(e),
                fix=f"Check repositories in [projects.{ctx.section}.github] (owner/repo), "
                "and that the token can see it (a fine-grained token must list it).",
            )
        ], False
    found: list[Finding] = []
    moved_to = str(data.get("full_name") or "") if isinstance(data, dict) else ""
    if moved_to and moved_to.casefold() != repo.casefold():
        where = (
            f"repositories in [projects.{ctx.section}.github]"
            if ctx.settings.repositories
            else f"project in [projects.{ctx.section}]"
        )
        found.append(
            Finding(
                id="github.repo.moved",
                ok=False,
                message=f"repository {repo} moved to {moved_to}",
                fix=f"Update {where}: {repo} -> {moved_to} (GitHub redirects for now; "
                "the old name can be taken by a new repository at any time).",
            )
        )
    else:
        found.append(Finding(id="github.repo.ok", ok=True, message=f"repository {repo} found"))
    if repo == wiki.repository and isinstance(data, dict) and data.get("has_wiki") is False:
        found.append(
            Finding(
                id="github.wiki.disabled",
                ok=False,
                message=f"the wiki of {repo} is switched off",
                fix=f"Tick Settings -> Features -> Wikis in {ctx.web_base}/{repo}.",
            )
        )
        return found, False
    return found, True


def _board(ctx: Context, projects: Projects) -> list[Finding]:
    """Findings for the Projects board: configured, found, and each of our fields on it."""
    if ctx.settings.project_v2 is None:
        return [
            Finding(
                id="github.project.unconfigured",
                ok=False,
                message="no Projects (v2) board configured: the computed fields are not "
                "written (the wiki page still is)",
                fix=f'Set project_v2 = "org:NAME/NUMBER" in [projects.{ctx.section}.github].',
            )
        ]
    try:
        board = projects.load(with_items=False)
    except (errors.NotFoundError, errors.AuthError) as e:
        return [
            Finding(
                id="github.project.missing",
                ok=False,
                message=str(e),
                fix="Check project_v2 (the board URL is .../orgs/NAME/projects/"
                "NUMBER) and the token's 'project' scope.",
            )
        ]
    label = projects.label()
    result = [
        Finding(
            id="github.project.ok",
            ok=True,
            message=f"Projects board {label} ('{board.title}') found",
        )
    ]
    found, missing = projects.resolve_fields(board)
    required = set(ctx.field_names.required())
    for logical, field_name in missing.items():
        result.append(_missing_field(ctx, label, logical, field_name, logical in required))
    for logical, target in found.items():
        result.append(_field_type(logical, target))
    return result


def _missing_field(
    ctx: Context, label: str, logical: str, field_name: str, required: bool
) -> Finding:
    """The finding for one of our fields that the board lacks (optional ones are ok)."""
    if not required:
        return Finding(
            id="github.project_field.optional_missing",
            ok=True,
            message=f"optional Projects field '{field_name}' (fields.{logical}) is not "
            f"on board {label}; its values are not written",
            fix=f"Run `tracker-bridge setup github --project {ctx.section} "
            "--overlay-fields` to add it.",
        )
    return Finding(
        id="github.project_field.missing",
        ok=False,
        message=f"Projects field '{field_name}' (fields.{logical}) is missing on board {label}",
        fix=f"Run `tracker-bridge setup github --project {ctx.section}` (creates it as "
        f"{FIELD_TYPES.get(logical, 'NUMBER')}), or set fields.{logical}.",
    )


def _field_type(logical: str, target: ProjectField) -> Finding:
    """Whether a board field has a type (and, for a single select, the options) we can write."""
    expected = FIELD_TYPES.get(logical)
    allowed = {expected, "TEXT"} if expected else {"NUMBER", "DATE", "TEXT", "SINGLE_SELECT"}
    if target.data_type not in allowed:
        return Finding(
            id="github.project_field.type",
            ok=False,
            message=f"Projects field '{target.name}' (fields.{logical}) has type "
            f"{target.data_type}; tracker-bridge writes {expected}",
            fix="Delete it and run `tracker-bridge setup github`, or point "
            f"fields.{logical} at a {expected} field.",
        )
    if target.data_type == "SINGLE_SELECT" and not all(
        option.casefold() in target.options for option, _ in CRITICAL_OPTIONS
    ):
        return Finding(
            id="github.project_field.type",
            ok=False,
            message=f"single-select field '{target.name}' needs the options 'Yes' and 'No'",
            fix="Add them in the board's field settings.",
        )
    return Finding(
        id="github.project_field.ok",
        ok=True,
        message=f"Projects field '{target.name}' (fields.{logical}) is a {target.data_type} field",
    )


def _wiki(ctx: Context, wiki: Wiki) -> Finding:
    error = wiki.reach()
    if isinstance(error, errors.NotFoundError):
        return Finding(
            id="github.wiki.missing",
            ok=False,
            message=str(error),
            fix=f"Open {ctx.web_base}/{wiki.repository}/wiki and save a first page (any text).",
        )
    if error is not None:
        return Finding(
            id="github.wiki.failed",
            ok=False,
            message=str(error),
            fix="The token needs the 'repo' scope or Contents: write.",
        )
    return Finding(
        id="github.wiki.ok",
        ok=True,
        message=f"the wiki of {wiki.repository} is reachable with git",
    )
