"""Doctor findings for a Redmine project: connection, key, project, modules, permissions and
our custom fields. Each finding says what is wrong and how to fix it; the ids are listed at
:meth:`RedmineAdapter.check`.
"""

from __future__ import annotations

from typing import Any

from tracker_bridge import errors
from tracker_bridge.adapters.redmine.client import RedmineClient
from tracker_bridge.adapters.redmine.context import Context
from tracker_bridge.adapters.redmine.fields import (
    EXPECTED_FORMATS,
    OPTIONAL_FIELD_PURPOSE,
    SETUP_COMMAND,
    FieldResolver,
)
from tracker_bridge.model import Finding

__all__ = ["NEEDED_PERMISSIONS", "findings"]

#: Every permission a pass uses in the project (Redmine 5.0 symbols) -> (the module and label
#: on Administration -> Roles and permissions, what the pass needs it for). Uploading the
#: charts needs no permission of its own: ``edit_wiki_pages`` allows ``POST /uploads.json``.
NEEDED_PERMISSIONS: dict[str, tuple[str, str]] = {
    "view_issues": ("Issue tracking: View Issues", "read issues and relations"),
    "edit_issues": ("Issue tracking: Edit issues", "write our custom fields"),
    "view_time_entries": ("Time tracking: View spent time", "read spent time"),
    "view_wiki_pages": ("Wiki: View wiki", "read the plan page"),
    "edit_wiki_pages": ("Wiki: Edit wiki pages", "write the plan page and upload its charts"),
    "delete_wiki_pages_attachments": (
        "Wiki: Delete attachments",
        "delete the chart files a pass replaced",
    ),
}


def _permission_list(permissions: list[str]) -> str:
    return ", ".join(
        f"'{NEEDED_PERMISSIONS[p][0]}' ({p}: {NEEDED_PERMISSIONS[p][1]})" for p in permissions
    )


def findings(ctx: Context, client: RedmineClient, resolver: FieldResolver) -> list[Finding]:
    """The findings of :meth:`RedmineAdapter.check`: the key first (nothing else when it
    fails), then the project and its modules, the permissions and the custom fields."""
    auth, user = _authenticate(ctx, client)
    if user is None:
        return [auth]
    found, project = _project(ctx, client, user)
    if project is None:
        return [auth, found]
    return [
        auth,
        found,
        *_modules(ctx, project),
        *_permissions(ctx, client, user, int(project["id"])),
        *_fields(ctx, client, resolver, user, project),
    ]


def _authenticate(ctx: Context, client: RedmineClient) -> tuple[Finding, dict[str, Any] | None]:
    """The key's finding, and the current user (None when the key or connection fails)."""
    try:
        user = client.current_user()
    except errors.AuthError as e:
        if e.status == 403:
            return Finding(
                id="redmine.rest.disabled",
                ok=False,
                message=str(e),
                fix="Administration -> Settings -> API: tick 'Enable REST web service' and save.",
            ), None
        return Finding(
            id="redmine.auth.invalid_key",
            ok=False,
            message=f"Redmine at {ctx.base_url} answers, but the API key is not accepted "
            "(the request ran as Anonymous).",
            fix="Copy the bot user's key from My account -> API access key into "
            f"{client.key_source()}; "
            "check that the bot user is not locked (Administration -> Users).",
        ), None
    except errors.TrackerError as e:
        return Finding(
            id="redmine.connect.failed",
            ok=False,
            message=str(e),
            fix=f"Check [trackers.{ctx.tracker_name}].url ({ctx.base_url}): open it in a "
            "browser from this machine; check proxies and TLS.",
        ), None
    return Finding(
        id="redmine.auth.ok",
        ok=True,
        message=f"authenticated as '{user.get('login')}'"
        + (" (administrator)" if user.get("admin") else ""),
    ), user


def _project(
    ctx: Context, client: RedmineClient, user: dict[str, Any]
) -> tuple[Finding, dict[str, Any] | None]:
    """The project's finding, and the project (None when it is missing or forbidden)."""
    try:
        project = client.project()
    except errors.NotFoundError as e:
        return Finding(
            id="redmine.project.missing",
            ok=False,
            message=str(e),
            fix=f"Set 'project' to the identifier shown in the project's URL "
            f"({ctx.base_url}/projects/<identifier>), or create the project.",
        ), None
    except errors.AuthError as e:
        return Finding(
            id="redmine.project.forbidden",
            ok=False,
            message=str(e),
            fix=f"Add '{user.get('login')}' as a member of the project (Settings -> "
            "Members) with a role that has: " + _permission_list(list(NEEDED_PERMISSIONS)),
        ), None
    return Finding(
        id="redmine.project.ok",
        ok=True,
        message=f"project '{ctx.pid}' ({project.get('name')}) found",
    ), project


def _modules(ctx: Context, project: dict[str, Any]) -> list[Finding]:
    """Findings for the issue tracking, time tracking and wiki modules of the project."""
    found: list[Finding] = []
    settings_url = f"{ctx.base_url}/projects/{ctx.pid}/settings/modules"
    modules = {m.get("name") for m in project.get("enabled_modules") or []}
    for module, finding_id, why in (
        ("issue_tracking", "redmine.issues.disabled", "there are no issues to plan"),
        (
            "time_tracking",
            "redmine.time_tracking.disabled",
            "spent time (actual cost, earned value) cannot be read",
        ),
    ):
        if module not in modules:
            found.append(
                Finding(
                    id=finding_id,
                    ok=False,
                    message=f"the {module} module is disabled in project '{ctx.pid}': {why}",
                    fix=f"Enable it in {settings_url} (Settings -> Modules).",
                )
            )
    if "wiki" in modules:
        found.append(Finding(id="redmine.wiki.ok", ok=True, message="the wiki module is enabled"))
    else:
        found.append(
            Finding(
                id="redmine.wiki.disabled",
                ok=False,
                message=f"the wiki module is disabled in project '{ctx.pid}': the plan page "
                f"'{ctx.project.wiki_page}' cannot be written",
                fix=f"Enable 'Wiki' in {settings_url} (Settings -> Modules).",
            )
        )
    return found


def _permissions(
    ctx: Context, client: RedmineClient, user: dict[str, Any], project_id: int
) -> list[Finding]:
    if user.get("admin"):
        return [
            Finding(
                id="redmine.permissions.ok",
                ok=True,
                message="the API user is an administrator (all permissions)",
            )
        ]
    data = client.get("/users/current.json", {"include": "memberships"}, what="membership list")
    memberships = (data.get("user") or {}).get("memberships") or []
    role_ids = {
        int(r["id"])
        for m in memberships
        if int((m.get("project") or {}).get("id", 0)) == project_id
        for r in m.get("roles") or []
    }
    login = user.get("login")
    if not role_ids:
        return [
            Finding(
                id="redmine.permissions.missing",
                ok=False,
                message=f"'{login}' is not a member of project '{ctx.pid}' (only public-project "
                "rights apply, which usually cannot edit issues or the wiki)",
                fix=f"Add '{login}' to the project (Settings -> Members) with a role that has: "
                + _permission_list(list(NEEDED_PERMISSIONS)),
            )
        ]
    granted: set[str] = set()
    role_names: list[str] = []
    for role_id in sorted(role_ids):
        role = client.get(f"/roles/{role_id}.json", what="role lookup").get("role") or {}
        granted.update(role.get("permissions") or [])
        role_names.append(str(role.get("name") or role_id))
    lacking = [p for p in NEEDED_PERMISSIONS if p not in granted]
    if lacking:
        labels = ", ".join(f"'{NEEDED_PERMISSIONS[p][0]}'" for p in lacking)
        return [
            Finding(
                id="redmine.permissions.missing",
                ok=False,
                message=f"'{login}' lacks in project '{ctx.pid}': " + _permission_list(lacking),
                fix=f"Administration -> Roles and permissions -> {' or '.join(role_names)} "
                f"(the bot's role in '{ctx.pid}'): tick {labels}, then Save.",
            )
        ]
    return [
        Finding(
            id="redmine.permissions.ok",
            ok=True,
            message=f"'{login}' has the permissions tracker-bridge needs",
        )
    ]


def _fields(
    ctx: Context,
    client: RedmineClient,
    resolver: FieldResolver,
    user: dict[str, Any],
    project: dict[str, Any],
) -> list[Finding]:
    """Findings for our custom fields: missing, optional and missing, or not on every tracker."""
    per_tracker, catalogue = _samples(ctx, client, project)
    if not per_tracker:
        return [
            Finding(
                id="redmine.custom_field.unverified",
                ok=False,
                message=f"project '{ctx.pid}' has no issues yet, so the custom fields cannot "
                "be checked",
                fix="Create an issue, then run doctor again.",
            )
        ]
    plan = resolver.resolve(catalogue)
    found: list[Finding] = []
    for logical, target in plan.missing.items():
        found.append(
            _field_finding(
                "missing",
                target,
                logical,
                f"is not visible on issues of project '{ctx.pid}'",
                fix=str(resolver.missing_error(logical, target)),
            )
        )
    for logical, target in plan.optional_missing.items():
        found.append(_optional_missing(ctx, logical, target))
    for logical, field_id in plan.ids.items():
        name = next((n for n, i in catalogue.items() if int(i) == field_id), str(field_id))
        found.append(_coverage(name, logical, field_id, per_tracker))
    if user.get("admin") and plan.ids:
        found.extend(_formats(client, plan.ids))
    return found


def _samples(
    ctx: Context, client: RedmineClient, project: dict[str, Any]
) -> tuple[dict[str, set[int]], dict[str, str]]:
    """Custom-field ids per (non-risk) tracker, and the name -> id catalogue, from samples."""
    project_id = int(project["id"])
    subprojects = "*" if ctx.project.include_subprojects else "!*"
    # one sample issue per tracker enabled in the project: its custom fields are the ones
    # enabled (and visible) for that tracker in this project
    per_tracker: dict[str, set[int]] = {}
    catalogue: dict[str, str] = {}
    for tracker in project.get("trackers") or []:
        data = client.get(
            "/issues.json",
            {
                "project_id": project_id,
                "status_id": "*",
                "tracker_id": tracker["id"],
                "limit": 1,
                "subproject_id": subprojects,
            },
            what="issue sample",
        )
        for raw in data.get("issues") or []:
            for cf in raw.get("custom_fields") or []:
                catalogue.setdefault(str(cf["name"]), str(cf["id"]))
            if ctx.is_risk(raw):
                continue  # risks are read, never written
            per_tracker[str(tracker["name"])] = {
                int(cf["id"]) for cf in raw.get("custom_fields") or []
            }
    return per_tracker, catalogue


def _optional_missing(ctx: Context, logical: str, target: str | int) -> Finding:
    """The finding for an optional field that is not on the project's issues."""
    what = f"custom field id {target}" if isinstance(target, int) else f"custom field '{target}'"
    purpose = OPTIONAL_FIELD_PURPOSE.get(logical, f"the {logical} values")
    return Finding(
        id="redmine.custom_field.optional_missing",
        ok=True,
        message=f"optional {what} (fields.{logical}) is not on issues of project "
        f"'{ctx.pid}': not written: create it to see {purpose}",
        fix=f"Optional. Administration -> Custom fields -> New -> Issues, named "
        f"'{target}', format {EXPECTED_FORMATS.get(logical, 'as documented')}, "
        "the trackers the project uses, 'For all projects' or enabled in the "
        f"project's Settings -> Issue tracking (on the Redmine host `{SETUP_COMMAND}` "
        "creates it); or set "
        f"fields.{logical} to the name the field has in Redmine",
    )


def _coverage(name: str, logical: str, field_id: int, per_tracker: dict[str, set[int]]) -> Finding:
    """Whether a resolved field is on the issues of every (non-risk) tracker in use."""
    lacking = sorted(t for t, ids in per_tracker.items() if field_id not in ids)
    if lacking:
        return _field_finding(
            "not_writable",
            name,
            logical,
            f"is missing on issues of tracker(s) {', '.join(lacking)}; values for them "
            "are not written",
            fix=f"Administration -> Custom fields -> {name}: tick the tracker(s) "
            f"{', '.join(lacking)}",
        )
    return _field_finding("ok", name, logical, "is on issues of every tracker in use", ok=True)


def _formats(client: RedmineClient, ids: dict[str, int]) -> list[Finding]:
    """Only administrators can read /custom_fields.json: check the formats then."""
    try:
        data = client.get("/custom_fields.json", what="custom field list")
    except errors.AuthError:
        return []
    formats = {
        int(cf["id"]): (str(cf.get("name")), str(cf.get("field_format")))
        for cf in data.get("custom_fields") or []
    }
    found: list[Finding] = []
    for logical, field_id in ids.items():
        expected = EXPECTED_FORMATS.get(logical)
        name, actual = formats.get(field_id, ("?", "?"))
        if expected and actual not in (expected, "?"):
            found.append(
                _field_finding(
                    "format",
                    name,
                    logical,
                    f"has format '{actual}', tracker-bridge writes '{expected}' values",
                    fix=f"Create a '{expected}' custom field (formats cannot be changed) and "
                    f"point fields.{logical} at it.",
                )
            )
    return found


def _field_finding(
    kind: str,
    name: str | int,
    logical: str,
    problem: str,
    *,
    fix: str | None = None,
    ok: bool = False,
) -> Finding:
    """A ``redmine.custom_field.<kind>`` finding: "custom field '<name>' (fields.<logical>)
    <problem>"."""
    return Finding(
        id=f"redmine.custom_field.{kind}",
        ok=ok,
        message=f"custom field '{name}' (fields.{logical}) {problem}",
        fix=fix,
    )
