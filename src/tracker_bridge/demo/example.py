"""The MedCo example the demo runs: where it is, its status date, and what it is planned with.

``tracker-bridge demo`` starts Debian's Redmine on 127.0.0.1 (installing it when missing),
seeds the example into it (:mod:`tracker_bridge.demo.seed`), writes the config of
:func:`demo_config` that points at it, runs ``tracker-bridge run`` and prints where to look;
``tracker-bridge demo --preview`` renders :func:`preview_page` instead.

The example's dates are shifted by whole weeks so that its status date falls in the current
week: the demo always shows a project in its build phase, whatever day it runs.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from tracker_bridge.model import Plan, Snapshot
from tracker_bridge.settings import Settings, settings_from_dict
from tracker_bridge.snapshot_file import load_snapshot

if TYPE_CHECKING:
    from tracker_bridge.demo.seed import SeededProject

REFERENCE_AS_OF = dt.date(2026, 11, 26)  # the status date the example was written for


def example_snapshot_path() -> Path:
    """The MedCo example shipped with the package (falls back to the checkout's config/)."""
    packaged = resources.files("tracker_bridge") / "examples" / "medco-snapshot.json"
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "config" / "medco-snapshot.json"


def week_shift(today: dt.date) -> dt.timedelta:
    """Whole weeks from the example's status date to this week (weekdays stay aligned)."""
    return dt.timedelta(days=((today - REFERENCE_AS_OF).days // 7) * 7)


# Hourly rates by role and the non-labour costs the guide's example budgets for.
DEMO_RATES = {
    "Sarah Okafor": 85.0,  # business analyst
    "Ana Ruiz": 95.0,  # developers
    "Ben Weber": 95.0,
    "Chen Li": 95.0,
    "Priya Nair": 90.0,  # scrum master
    "Tom Berg": 70.0,  # testers
    "Uma Rossi": 70.0,
}


def demo_config(url: str, key_file: Path, seeded: SeededProject) -> str:
    """The config the demo runs with: the local Redmine, the project and a budget."""
    return (
        "# Written by `tracker-bridge demo`; the key lives in the key file, not here.\n"
        f'[trackers.local]\nkind = "redmine"\nurl = "{url}"\n'
        f'api_key_file = "{key_file}"\nmarkup = "textile"\n\n'
        f'[projects.medco]\ntracker = "local"\nproject = "{seeded.identifier}"\n'
        'wiki_page = "Plan"\n\n'
        f'[store]\npath = "{key_file.parent / "state.sqlite3"}"\n\n' + _planning_toml(seeded.as_of)
    )


def _planning_toml(as_of: dt.date) -> str:
    """How the demo plans: levelling with the team's capacity, and its budget."""
    return (
        "# Levelling: each person does one issue at a time; the Scrum Master spends half of\n"
        "# each day on the ceremonies, so issues assigned to her take twice as many days.\n"
        "[planner]\nlevel = true\n\n"
        '[resources.people."Priya Nair"]\nhours_per_day = 4\n\n' + _budget_toml(as_of)
    )


def demo_settings(as_of: dt.date) -> Settings:
    """The planning settings of the demo's config (levelling and budget), without a tracker."""
    return settings_from_dict(tomllib.loads(_planning_toml(as_of)), "demo settings")


def _budget_toml(as_of: dt.date) -> str:
    """The demo's ``[budget]`` section: the team's rates and the example's fixed costs."""
    rates = ", ".join(f'"{name}" = {rate:g}' for name, rate in DEMO_RATES.items())
    licences_on = as_of - dt.timedelta(weeks=4)
    return (
        '[budget]\ncurrency = "EUR"\n'
        f"rates = {{ {rates} }}\n"
        "fixed_costs = [\n"
        '  { name = "Cloud hosting (first year)", amount = 6000, milestone = "Launch" },\n'
        f'  {{ name = "Development licences", amount = 4500, date = {licences_on} }},\n'
        "]\n"
    )


def load_example() -> Snapshot:
    """The MedCo example snapshot."""
    return load_snapshot(example_snapshot_path())


def person_name(listed: str) -> str:
    """The name a tracker knows a person by: the example lists 'Ana Ruiz (Developer)'."""
    return listed.split(" (")[0]


def as_tracked(snapshot: Snapshot) -> Snapshot:
    """The example as the tracker returns it once seeded: people by name, without role."""
    items = [
        item.model_copy(update={"assignee": person_name(item.assignee)}) if item.assignee else item
        for item in snapshot.items
    ]
    entries = [
        entry.model_copy(update={"person": person_name(entry.person)}) if entry.person else entry
        for entry in snapshot.time_entries
    ]
    return snapshot.model_copy(update={"items": items, "time_entries": entries})


def preview_page() -> tuple[str, Plan]:
    """The MedCo plan page as self-contained HTML, planned at the example's status date.

    The same document and charts the demo publishes into Redmine's wiki, with the demo's
    levelling and budget; no tracker, network or root needed.
    """
    from tracker_bridge.planner import plan as make_plan
    from tracker_bridge.publish.charts import render_charts  # matplotlib: import on use
    from tracker_bridge.publish.html import render_html
    from tracker_bridge.publish.report import build_report
    from tracker_bridge.publish.style import PlainStyle

    snapshot = as_tracked(load_example())
    plan = make_plan(snapshot, demo_settings(REFERENCE_AS_OF), REFERENCE_AS_OF)
    style = PlainStyle()  # no tracker: items go by their keys
    charts = render_charts(plan, snapshot, style=style)
    document = build_report(plan, snapshot, style=style, charts=[c.filename for c in charts])
    title = f"Plan of {snapshot.project.name} as of {REFERENCE_AS_OF}"
    return render_html(document, {c.filename: c.data for c in charts}, title=title), plan
