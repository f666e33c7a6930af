"""What a local instance is prepared with, and who may do what in it.

One ``rails runner`` call (about 3-4 s, nearly all of it Rails boot) prepares a fresh
database copy: REST on, Textile formatting, the admin's API key, tracker-bridge's issue custom
fields, a non-admin user ``planbot`` with an API key and a ``Planner`` role. Tests add members
and further role users to a running instance with :func:`add_member` and
:func:`add_role_user`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from tracker_bridge.demo.rails import (
    RESULT_MARKER,
    LocalRedmineError,
    rails_runner,
    runner_result,
)
from tracker_bridge.plan_fields import PLAN_FIELDS

if TYPE_CHECKING:
    from tracker_bridge.demo.instance import LocalRedmine

#: The custom fields a local instance gets: ours, and the three-point estimate inputs.
OUR_CUSTOM_FIELDS: list[tuple[str, str]] = [
    *((f.label, f.kind) for f in PLAN_FIELDS),
    ("Optimistic (h)", "float"),
    ("Pessimistic (h)", "float"),
]

BOT_LOGIN = "planbot"
BOT_PASSWORD = "planbot-local-only-1"  # loopback test instance only
PLANNER_ROLE = "Planner"

#: Redmine 5.0 permission symbols of the Planner role (checked against
#: ``Redmine::AccessControl.permissions`` in the set-up script; an unknown one fails loudly).
#: There is no separate "add attachments" permission: ``POST /uploads.json`` is allowed by any
#: permission that maps ``attachments#upload`` (add_issues, edit_issues, edit_wiki_pages,
#: manage_files, ...); deleting a wiki page's attachment needs ``delete_wiki_pages_attachments``.
PLANNER_PERMISSIONS: tuple[str, ...] = (
    # project-level
    "view_members",
    "manage_versions",
    "save_queries",
    # issue_tracking
    "view_issues",
    "add_issues",
    "edit_issues",
    "add_issue_notes",
    "manage_issue_relations",
    "manage_subtasks",
    "view_issue_watchers",
    # time_tracking
    "view_time_entries",
    "log_time",
    "edit_own_time_entries",
    # wiki
    "view_wiki_pages",
    "view_wiki_edits",
    "export_wiki_pages",
    "edit_wiki_pages",
    "rename_wiki_pages",
    "delete_wiki_pages_attachments",
    # files
    "view_files",
    "manage_files",
    # calendar / gantt
    "view_calendar",
    "view_gantt",
)

DEFAULT_PROJECT_MODULES: tuple[str, ...] = (
    "issue_tracking",
    "time_tracking",
    "wiki",
    "files",
    "calendar",
    "gantt",
)

# Everything Redmine needs for tracker-bridge, in one Rails boot. Parameters come in as JSON
# through the environment (no quoting games); results go out as one marked JSON line.
_SETUP_RUBY = r"""
require 'json'
cfg = JSON.parse(ENV.fetch('TB_SETUP'))
t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
out = {}
ActiveRecord::Base.transaction do
  if Tracker.none? || IssueStatus.none? || IssuePriority.none?
    if Redmine::DefaultData::Loader.no_data?
      Redmine::DefaultData::Loader.load('en')
    else
      raise "database has some but not all default data (trackers/statuses/priorities)"
    end
  end
  trackers = Tracker.sorted.to_a

  Setting.rest_api_enabled = '1'
  Setting.text_formatting = 'textile'
  Setting.default_projects_modules = cfg['project_modules']
  Setting.default_projects_tracker_ids = trackers.map { |t| t.id.to_s }

  admin = User.find_by(login: 'admin') || raise("no admin user in the database")
  admin.update_columns(must_change_passwd: false, status: User::STATUS_ACTIVE)
  out['admin_key'] = admin.api_key  # creates the api token when missing

  out['custom_fields'] = cfg['custom_fields'].map do |name, format|
    cf = IssueCustomField.find_by(name: name) || IssueCustomField.new(name: name)
    cf.field_format = format
    cf.is_for_all = true
    cf.is_filter = true
    cf.visible = true
    cf.editable = true
    cf.is_required = false
    cf.searchable = false
    cf.edit_tag_style = 'check_box' if format == 'bool'
    cf.trackers = trackers
    cf.save!
    {'id' => cf.id, 'name' => cf.name, 'field_format' => cf.field_format}
  end

  known = Redmine::AccessControl.permissions.map(&:name)
  perms = cfg['permissions'].map(&:to_sym)
  unknown = perms - known
  raise "unknown Redmine permissions: #{unknown.inspect}" if unknown.any?
  role = Role.find_by(name: cfg['role']) || Role.new(name: cfg['role'])
  role.permissions = perms
  role.assignable = true
  role.issues_visibility = 'all'
  role.time_entries_visibility = 'all'
  role.users_visibility = 'all'
  role.save!
  if WorkflowTransition.where(role_id: role.id).none?
    source = Role.find_by(name: 'Manager')
    if source && WorkflowTransition.where(role_id: source.id).exists?
      role.copy_workflow_rules(source)
    else
      statuses = IssueStatus.sorted.to_a
      trackers.each do |t|
        statuses.each do |from|
          statuses.each do |to|
            next if from == to
            WorkflowTransition.create!(tracker_id: t.id, role_id: role.id,
                                       old_status_id: from.id, new_status_id: to.id)
          end
        end
      end
    end
  end
  out['role_id'] = role.id

  bot = User.find_by(login: cfg['bot_login']) || User.new
  bot.login = cfg['bot_login']
  bot.firstname = 'Plan'
  bot.lastname = 'Bot'
  bot.mail = "#{cfg['bot_login']}@example.net" if bot.mail.blank?
  bot.password = cfg['bot_password']
  bot.password_confirmation = cfg['bot_password']
  bot.admin = false
  bot.status = User::STATUS_ACTIVE
  bot.language = 'en'
  bot.mail_notification = 'none'
  bot.must_change_passwd = false
  bot.save!
  out['bot_id'] = bot.id
  out['bot_key'] = bot.api_key
end
out['setup_seconds'] = (Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0).round(3)
out['redmine_version'] = Redmine::VERSION.to_s
puts "__MARKER__" + out.to_json
""".replace("__MARKER__", RESULT_MARKER)


def prepare_database(db_path: Path, custom_fields: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Prepare a fresh database copy (see the module's doc); returns what the script printed."""
    params = {
        "custom_fields": [[name, fmt] for name, fmt in custom_fields],
        "permissions": list(PLANNER_PERMISSIONS),
        "role": PLANNER_ROLE,
        "bot_login": BOT_LOGIN,
        "bot_password": BOT_PASSWORD,
        "project_modules": list(DEFAULT_PROJECT_MODULES),
    }
    stdout = rails_runner(_SETUP_RUBY, db_path, {"TB_SETUP": json.dumps(params)})
    return runner_result(stdout, "set-up")


def _admin_request(instance: LocalRedmine, method: str, path: str, **kwargs: Any) -> Any:
    headers = {"X-Redmine-API-Key": instance.admin_key}
    resp = requests.request(method, instance.url + path, headers=headers, timeout=30, **kwargs)
    if resp.status_code >= 400:
        raise LocalRedmineError(f"{method} {path} -> {resp.status_code}: {resp.text[:500]}")
    return resp.json() if resp.content else None


def add_member(
    instance: LocalRedmine,
    project_identifier: str,
    login: str = BOT_LOGIN,
    role: str = PLANNER_ROLE,
) -> None:
    """Make ``login`` a member of the project with ``role`` (REST, as admin). Idempotent."""
    users = _admin_request(
        instance, "GET", "/users.json", params={"name": login, "status": "", "limit": 100}
    )["users"]
    user_id = next((u["id"] for u in users if u.get("login") == login), None)
    if user_id is None:
        raise LocalRedmineError(f"no Redmine user with login {login!r}")
    roles = _admin_request(instance, "GET", "/roles.json")["roles"]
    role_id = next((r["id"] for r in roles if r["name"] == role), None)
    if role_id is None:
        raise LocalRedmineError(f"no Redmine role named {role!r}")

    path = f"/projects/{project_identifier}/memberships.json"
    headers = {"X-Redmine-API-Key": instance.admin_key}
    resp = requests.post(
        instance.url + path,
        headers=headers,
        timeout=30,
        json={"membership": {"user_id": user_id, "role_ids": [role_id]}},
    )
    if resp.status_code == 201:
        return
    if resp.status_code == 422:  # already a member: make sure the role is there
        members = _admin_request(instance, "GET", path, params={"limit": 100})["memberships"]
        for m in members:
            if m.get("user", {}).get("id") == user_id:
                role_ids = {r["id"] for r in m.get("roles", []) if not r.get("inherited")}
                if role_id not in role_ids:
                    _admin_request(
                        instance,
                        "PUT",
                        f"/memberships/{m['id']}.json",
                        json={"membership": {"role_ids": sorted(role_ids | {role_id})}},
                    )
                return
    raise LocalRedmineError(f"POST {path} -> {resp.status_code}: {resp.text[:500]}")


# A role with exactly the given permissions and a non-admin user holding it; idempotent.
_ROLE_USER_RUBY = r"""
require 'json'
cfg = JSON.parse(ENV.fetch('TB_ROLE_USER'))
perms = cfg['permissions'].map(&:to_sym)
unknown = perms - Redmine::AccessControl.permissions.map(&:name)
raise "unknown Redmine permissions: #{unknown.inspect}" if unknown.any?
role = Role.find_by(name: cfg['role']) || Role.new(name: cfg['role'])
role.permissions = perms
role.issues_visibility = 'all'
role.save!
user = User.find_by(login: cfg['login']) || User.new
user.login = cfg['login']
user.firstname = 'Bot'
user.lastname = cfg['login']
user.mail = "#{cfg['login']}@example.net" if user.mail.blank?
user.password = user.password_confirmation = cfg['password']
user.status = User::STATUS_ACTIVE
user.mail_notification = 'none'
user.must_change_passwd = false
user.save!
puts "__MARKER__" + {'key' => user.api_key}.to_json
""".replace("__MARKER__", RESULT_MARKER)


def add_role_user(instance: LocalRedmine, login: str, role: str, permissions: Sequence[str]) -> str:
    """Create (or reset) ``role`` with exactly ``permissions`` and a non-admin user ``login``
    who is to hold it (add it to projects with :func:`add_member`); returns the user's API key.
    One ``rails runner`` call (about 3-4 s)."""
    params = {
        "login": login,
        "role": role,
        "permissions": list(permissions),
        "password": BOT_PASSWORD,
    }
    stdout = rails_runner(_ROLE_USER_RUBY, instance.db_path, {"TB_ROLE_USER": json.dumps(params)})
    return str(runner_result(stdout, "role/user")["key"])
