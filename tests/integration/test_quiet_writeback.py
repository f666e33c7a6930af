"""Ten working days of nightly passes with nobody editing: journals and notification mails,
counted on a real Redmine 5.0.4 that delivers its mails to files.

The MedCo example is seeded once per scenario, with people set up as a team would have them:
every issue has an author (a lead) and an assignee (notifications "only for things I watch or
I'm involved in", Redmine's default), a stakeholder watches every issue, and a manager gets
mail "for any event". The bot's own notifications are off. Then a pass runs on the status
date and on each of the next ten working days (``--as-of``):

- **daily** (``[write_back] cadence = "daily"``): what every pass wrote before write-back had
  a cadence: a journal per open issue per working day;
- **default** ``[write_back]`` (weekly): the issues show the plan as of Monday, so with nobody
  editing they are written on Mondays only, at most one journal per open issue per week;
- **quiet set-up**: the fields visible to the bot's role only (the packaged field script with
  ``--visible-to``): no mail to anybody but the bot.

Run with ``-s`` to see the measured figures (they are in the README).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from click.testing import CliRunner

from tracker_bridge.adapters.redmine.fields import EXPECTED_FORMATS
from tracker_bridge.cli import main
from tracker_bridge.demo.example import load_example
from tracker_bridge.demo.install import ensure_installed
from tracker_bridge.demo.instance import LocalRedmine, start
from tracker_bridge.demo.prepare import BOT_LOGIN, PLANNER_ROLE
from tracker_bridge.demo.rails import RedmineNotInstalledError
from tracker_bridge.demo.seed import seed

DAYS = 10

DAILY = "[write_back]\ncadence = 'daily'\n"


@pytest.fixture(scope="module")
def mailing_redmine() -> Iterator[LocalRedmine]:
    """A Redmine of its own: it mails (to files), and the quiet scenario changes who sees our
    custom fields, which other tests must not see."""
    try:
        ensure_installed()
    except RedmineNotInstalledError as exc:  # pragma: no cover - CI=true makes it a failure
        pytest.fail(f"local Redmine unavailable: {exc}")
    # not under pytest's base temp: on a shared machine another session may prune it
    workdir = Path(tempfile.mkdtemp(prefix="tb-mailing-redmine-"))
    try:
        instance = start(workdir, mail_dir=workdir / "mail")
        try:
            # new issues start on their creation day by default; this example brings its own
            instance.runner("Setting.default_issue_start_date_to_creation_date = '0'")
            yield instance
        finally:
            instance.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# People as a team has them: the first assignee is the lead who wrote every issue.
_PEOPLE_RUBY = """
p = Project.find_by!(identifier: '%(project)s')
bot = User.find_by!(login: '%(bot)s')
devs = p.users.where.not(id: bot.id).sort_by(&:id)
devs.each { |u| u.update_columns(mail_notification: 'only_my_events') }
issues = Issue.where(project_id: p.id)
issues.update_all(author_id: devs.first.id)
# Redmine 5 makes an issue's creator watch it; the admin who seeded them is no team member:
# the lead who "wrote" them watches them instead
Watcher.where(watchable_type: 'Issue', watchable_id: issues.select(:id),
              user_id: User.find_by!(login: 'admin').id).update_all(user_id: devs.first.id)
def person(login, mode, role, p)
  u = User.find_by(login: login) || User.new
  u.login = login; u.firstname = login; u.lastname = 'Person'
  u.mail = "#{login}@medco.example" if u.mail.blank?
  u.password = u.password_confirmation = 'medco-demo-123'
  u.mail_notification = mode
  u.save!
  Member.create!(project: p, user: u, roles: [Role.find_by!(name: role)])
  u
end
watcher = person('stake.holder', 'only_my_events', 'Reporter', p)
person('pm.all', 'all', 'Manager', p)
issues.each { |i| Watcher.create!(watchable: i, user: watcher) }
"""


@dataclass
class Measured:
    """What ten working days of passes did."""

    open_issues: int = 0
    #: (status date, issue key) of every issue written after the first pass
    writes: list[tuple[dt.date, str]] = field(default_factory=list)
    #: status date -> the field changes written that day (for failure messages)
    changes: dict[dt.date, list[dict[str, Any]]] = field(default_factory=dict)
    #: recipient -> mails, over all passes including the first
    mails: Counter[str] = field(default_factory=Counter)
    mails_after_first: int = 0
    journals_by_bot: int = 0

    def per_issue_week(self) -> Counter[tuple[str, tuple[int, int]]]:
        return Counter((key, day.isocalendar()[:2]) for day, key in self.writes)


def _mail_count(instance: LocalRedmine) -> Counter[str]:
    assert instance.mail_dir is not None
    counts: Counter[str] = Counter()
    for path in instance.mail_dir.glob("*.eml"):
        for recipient in path.stem.split("-", 1)[1].split(","):
            counts[recipient] += 1
    return counts


def _clear_mail(instance: LocalRedmine) -> None:
    assert instance.mail_dir is not None
    for path in instance.mail_dir.glob("*.eml"):
        path.unlink()


def _bot_journals(instance: LocalRedmine, issue_ids: list[int], since: str) -> int:
    total = 0
    for issue_id in issue_ids:
        issue = requests.get(
            f"{instance.url}/issues/{issue_id}.json",
            params={"include": "journals"},
            headers={"X-Redmine-API-Key": instance.admin_key},
            timeout=30,
        ).json()["issue"]
        total += sum(
            1
            for j in issue.get("journals") or []
            if j["user"]["name"] == "Plan Bot" and j["created_on"] >= since
        )
    return total


def simulate(instance: LocalRedmine, tmp_path: Path, write_back: str = "") -> Measured:
    """Seed MedCo with its people, then a pass on the status date and on each of the next
    ten working days; count what Redmine journaled and mailed."""
    seeded = seed(instance, load_example(), dt.date.today(), identifier=f"q-{secrets.token_hex(3)}")
    instance.runner(_PEOPLE_RUBY % {"project": seeded.identifier, "bot": BOT_LOGIN})
    key_file = tmp_path / "bot.key"
    key_file.write_text(instance.bot_key, encoding="utf-8")
    config = tmp_path / "tracker-bridge.toml"
    config.write_text(
        f'[trackers.local]\nkind = "redmine"\nurl = "{instance.url}"\n'
        f'api_key_file = "{key_file}"\n\n'
        f'[projects.medco]\ntracker = "local"\nproject = "{seeded.identifier}"\n\n'
        f'[store]\npath = "{tmp_path / "state.sqlite3"}"\n\n'
        # fewer Monte Carlo trials than the default, for speed: the cadence is what is measured
        "[risk]\ntrials = 500\n\n" + write_back,
        encoding="utf-8",
    )
    days = [seeded.as_of] + [
        np.busday_offset(seeded.as_of, k, roll="forward").astype(dt.date)
        for k in range(1, DAYS + 1)
    ]
    _clear_mail(instance)
    measured = Measured()
    since = ""
    for n, day in enumerate(days):
        result = CliRunner().invoke(
            main, ["run", "--config", str(config), "--as-of", str(day), "--json"]
        )
        assert result.exit_code == 0, result.output + result.stderr
        data: dict[str, Any] = json.loads(result.stdout)[0]
        if n == 0:
            measured.open_issues = requests.get(
                f"{instance.url}/issues.json",
                params={"project_id": seeded.identifier, "status_id": "open", "limit": 1},
                headers={"X-Redmine-API-Key": instance.admin_key},
                timeout=30,
            ).json()["total_count"]
            measured.mails_after_first = -sum(_mail_count(instance).values())
            time.sleep(1.1)  # journals carry whole seconds: the first pass's are all before
            since = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            continue
        measured.writes += [(day, key) for key in {c["item"] for c in data["changes"]["fields"]}]
        measured.changes[day] = data["changes"]["fields"]
    measured.mails = _mail_count(instance)
    measured.mails_after_first += sum(measured.mails.values())
    measured.journals_by_bot = _bot_journals(instance, list(seeded.issue_ids.values()), since)
    return measured


def report(name: str, m: Measured) -> None:
    people = sorted(r for r in m.mails if not r.startswith(BOT_LOGIN))
    print(
        f"\n{name}: {m.open_issues} open issues, {DAYS} working days: "
        f"{len(m.writes)} issue writes = {m.journals_by_bot} journals "
        f"({len(m.writes) / max(m.open_issues, 1):.1f} per open issue), "
        f"{m.mails_after_first} mails after the first pass ({sum(m.mails.values())} with it) "
        f"to {len(people)} people"
    )


def test_daily_write_back_journals_every_open_issue_every_day(
    mailing_redmine: LocalRedmine, tmp_path: Path
) -> None:
    m = simulate(mailing_redmine, tmp_path, DAILY)
    report("daily cadence", m)
    assert m.journals_by_bot == len(m.writes)
    assert max(m.per_issue_week().values()) > 1  # the flood the cadence prevents
    assert m.mails_after_first > 0


def test_default_write_back_is_at_most_weekly_per_issue(
    mailing_redmine: LocalRedmine, tmp_path: Path
) -> None:
    m = simulate(mailing_redmine, tmp_path)
    report("default [write_back]", m)
    assert m.journals_by_bot == len(m.writes)  # one journal per issue written, nothing else
    assert m.writes, "the weekly refresh writes"
    twice = [key for key, n in m.per_issue_week().items() if n > 1]
    assert not twice, [
        (day, c)
        for day, cs in m.changes.items()
        for c in cs
        if (c["item"], day.isocalendar()[:2]) in twice
    ]
    # nobody edits: the clock alone moves values, and the issues catch up on Mondays only
    assert {day.weekday() for day, _key in m.writes} == {0}


def test_quiet_set_up_mails_nobody_but_the_bot(
    mailing_redmine: LocalRedmine, tmp_path: Path
) -> None:
    script = CliRunner().invoke(main, ["setup", "redmine", "--print", "--visible-to", PLANNER_ROLE])
    assert script.exit_code == 0, script.output
    printed = mailing_redmine.runner(script.stdout)
    # one line per field the script creates: every field we write
    assert printed.count(f"visible to roles {PLANNER_ROLE} only") == len(EXPECTED_FORMATS)
    m = simulate(mailing_redmine, tmp_path)
    report(f"quiet set-up (fields visible to {PLANNER_ROLE} only)", m)
    assert m.writes and m.journals_by_bot == len(m.writes)  # the bot still writes
    assert {r: n for r, n in m.mails.items() if not r.startswith(BOT_LOGIN)} == {}
