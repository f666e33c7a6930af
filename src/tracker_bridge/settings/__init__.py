"""Settings from a TOML file, validated with pydantic (unknown keys are errors).

Precedence: command-line flags (``--as-of``, ``--full``...) > config file > defaults. The
environment names the config file (``TRACKER_BRIDGE_CONFIG``) and holds secrets, which never
live in the file: a tracker names the environment variable or the secret file with its key.
Errors name the file and the dotted key, e.g. ``config.toml: calendar.hours_per_day <- ...``.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tracker_bridge.errors import ConfigError
from tracker_bridge.plan_fields import plan_field, required_fields
from tracker_bridge.settings.adapter_options import AdapterSections
from tracker_bridge.settings.base import WEEKDAYS as WEEKDAYS
from tracker_bridge.settings.base import _check_header_safe, _read_secret, _Section
from tracker_bridge.settings.webhooks import WebhookSettings as WebhookSettings
from tracker_bridge.textfile import read_text


class CalendarSettings(_Section):
    """The working calendar: which weekdays are worked, holidays, hours per day."""

    workdays: list[str] = Field(default_factory=lambda: list(WEEKDAYS[:5]))
    holidays: list[dt.date] = Field(default_factory=list)
    hours_per_day: float = Field(default=8.0, gt=0, le=24)

    @field_validator("workdays")
    @classmethod
    def _known_days(cls, value: list[str]) -> list[str]:
        days = [d.strip().lower()[:3] for d in value]
        unknown = [d for d in days if d not in WEEKDAYS]
        if unknown:
            raise ValueError(f"unknown weekday(s) {unknown}; use {list(WEEKDAYS)}")
        if not days:
            raise ValueError("at least one workday is needed")
        return sorted(set(days), key=WEEKDAYS.index)

    @property
    def weekmask(self) -> str:
        """The mask numpy's busday functions take, e.g. '1111100'."""
        return "".join("1" if d in self.workdays else "0" for d in WEEKDAYS)


class PlannerSettings(_Section):
    """Options of the critical-path planner."""

    default_estimate_hours: float = Field(
        default=8.0, ge=0, description="Used for items without an estimate (flagged in the plan)"
    )
    critical_float_days: int = Field(
        default=0, description="Items with total float <= this many working days are critical"
    )
    max_critical_paths: int = Field(default=20, ge=1)
    level: bool = Field(
        default=False,
        description="Also compute a resource-levelled schedule from [resources] (plan overlay)",
    )


class TrackerSettings(_Section):
    """One tracker connection. The key comes from ``api_key_env`` or ``api_key_file``."""

    kind: str = Field(
        description="The adapter: 'redmine' (also Planio), 'github', or any other installed "
        "in the 'tracker_bridge.adapters' entry-point group"
    )
    url: str = ""
    api_key_env: str | None = None
    api_key_file: Path | None = None
    markup: Literal["textile", "markdown", "common_mark"] = "textile"
    timeout_seconds: float = Field(default=30, gt=0)

    @field_validator("kind")
    @classmethod
    def _installed_kind(cls, value: str) -> str:
        from tracker_bridge.adapters.protocol import installed_kinds  # (imports settings)

        kinds = installed_kinds()
        if value not in kinds:
            raise ValueError(
                f"no adapter for tracker kind {value!r} is installed (installed: "
                f"{', '.join(kinds) or 'none'})"
            )
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    def secret(self, tracker_name: str) -> SecretStr:
        """Read the key from the secret file or the environment; never from the config."""
        env_name = self.api_key_env or f"TRACKER_BRIDGE_{tracker_name.upper()}_KEY"
        where = f"trackers.{tracker_name}.api_key"
        key = _read_secret(where, env_name, self.api_key_file, env_name, "key file")
        if key is None:
            raise ConfigError(
                f"trackers.{tracker_name}: no API key; set the environment variable {env_name} "
                "or 'api_key_file' in the tracker's section"
            )
        source = (
            f"{where}_file: the key in {self.api_key_file}"
            if self.api_key_file is not None
            else f"trackers.{tracker_name}: the key in ${env_name}"
        )
        _check_header_safe(key.get_secret_value(), source)
        return key


class FieldNames(_Section):
    """Tracker custom-field names (or numeric ids) for the values we write back; the fields
    themselves are described in :mod:`tracker_bridge.plan_fields`."""

    critical: str | int = plan_field("critical").label
    total_float: str | int = plan_field("total_float").label
    early_start: str | int = plan_field("early_start").label
    early_finish: str | int = plan_field("early_finish").label
    late_finish: str | int = plan_field("late_finish").label
    # Overlay fields: written when the tracker has them, skipped (and reported by doctor)
    # when it does not, so a team can start with the schedule fields alone.
    risk_score: str | int = plan_field("risk_score").label
    p80_finish: str | int = plan_field("p80_finish").label
    criticality: str | int = plan_field("criticality").label
    planned_cost: str | int = plan_field("planned_cost").label
    slip_days: str | int = plan_field("slip_days").label
    levelled_start: str | int = plan_field("levelled_start").label
    levelled_finish: str | int = plan_field("levelled_finish").label

    def logical_names(self) -> list[str]:
        return list(type(self).model_fields)

    def required(self) -> list[str]:
        """Logical fields every run writes; the rest are optional overlays."""
        return required_fields()


class WriteBackSettings(_Section):
    """Which status date the values on the issues are computed for.

    Every write to an issue is a journal entry, and Redmine mails it to everybody notified
    about the issue who can see the field. With nobody editing, a moving status date shifts
    the dates of open work every day; with the weekly cadence the issues show the plan as of
    the last refresh day (recomputed whenever the data changes), and the wiki page the plan
    as of the pass's status date.
    """

    cadence: Literal["weekly", "daily"] = Field(
        default="weekly",
        description="weekly: issue values are the plan as of the last refresh_weekday (an "
        "issue nobody edits is written at most once a week); daily: as of the status date "
        "(a journal per open issue per working day)",
    )
    refresh_weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = Field(
        default="mon", description="Weekly cadence: the weekday the issue values catch up"
    )


class ProjectSettings(AdapterSections):
    """One tracker project to plan. ``[projects.NAME.<kind>]`` holds the options of the
    tracker's adapter (e.g. ``[projects.web.github]``), validated by that adapter."""

    tracker: str = Field(description="Name of a [trackers.NAME] section")
    project: str = Field(description="The tracker's project identifier, e.g. Redmine 'webshop'")
    include_subprojects: bool = False
    wiki_page: str = "Plan"
    start: dt.date | None = Field(
        default=None, description="Project start; default: earliest item start or creation"
    )
    full_fetch_hours: float = Field(
        default=24,
        ge=0,
        description="Hours between full fetches; in between, passes with a store fetch only "
        "what changed (where the tracker allows it). 0: always a full fetch",
    )
    due_dates: Literal["compare", "deadline"] = Field(
        default="compare",
        description="What an open issue's due date means: 'compare' (the team's current "
        "date: the forecast is compared with it, it does not bind) or 'deadline' (it binds)",
    )
    start_dates: Literal["compare", "constraint"] = Field(
        default="compare",
        description="What an open issue's start date means: 'compare' (Redmine sets and "
        "moves it by itself; it does not bind) or 'constraint' (start no earlier than it)",
    )
    deadline_field: str | None = Field(
        default="Deadline",
        description="Date field whose value is a deadline that binds (Redmine issue custom "
        "field, GitHub Projects date field); used when the tracker has it; '' to ignore",
    )
    start_no_earlier_than_field: str | None = Field(
        default="Start no earlier than",
        description="Date field whose value is a start-no-earlier-than constraint; used when "
        "the tracker has it; '' to ignore",
    )

    #: The NAME of the project's [projects.NAME] section (set when the config is loaded).
    _section: str | None = PrivateAttr(default=None)

    @property
    def section(self) -> str:
        """The project's section name in the config, for messages that tell what to edit or
        which ``--project`` to give (the tracker's identifier when built without a config)."""
        return self._section or self.project

    @field_validator("wiki_page")
    @classmethod
    def _wiki_title(cls, value: str) -> str:
        if "." in value or "/" in value:
            raise ValueError("a wiki page title must not contain '.' or '/' (Redmine routing)")
        return value


class RiskSettings(_Section):
    """Schedule risk: Monte Carlo simulation and per-item risk scores."""

    trials: int = Field(
        default=10_000,
        ge=100,
        le=1_000_000,
        description="Most trials; fewer once the forecasts are stable to precision_days",
    )
    precision_days: float = Field(
        default=0.5,
        ge=0,
        description="Stop when every P50/P80/P95 finish is known to this many working days "
        "(95 % confidence); 0 runs all trials",
    )
    seed: int = 20_261_126
    distribution: Literal["pert", "triangular"] = "pert"
    default_optimistic_factor: float = Field(
        default=0.8, gt=0, le=1, description="Optimistic = estimate x this, when no range given"
    )
    default_pessimistic_factor: float = Field(
        default=1.5, ge=1, description="Pessimistic = estimate x this, when no range given"
    )
    near_critical_days: int = Field(default=3, ge=0)
    stale_days: int = Field(default=14, ge=1, description="Open items not updated for this long")
    high_criticality: float = Field(default=0.5, ge=0, le=1)
    # Redmine: the risk register and three-point estimate fields (names of custom fields)
    risk_tracker: str = "Risk"
    probability_field: str = "Probability (%)"
    impact_days_field: str = "Impact (d)"
    impact_cost_field: str = "Impact cost"
    optimistic_field: str = "Optimistic (h)"
    pessimistic_field: str = "Pessimistic (h)"


class FixedCost(_Section):
    """A cost that does not come from hours: licences, hosting, hardware."""

    name: str
    amount: float = Field(ge=0)
    milestone: str | None = Field(default=None, description="Milestone name, or whole project")
    date: dt.date | None = Field(default=None, description="When it is incurred (for PV/AC)")


class BudgetSettings(_Section):
    """Rates and fixed costs for cost and earned value."""

    currency: str = "EUR"
    default_rate: float = Field(default=0, ge=0, description="Per hour, when nothing else fits")
    rates: dict[str, float] = Field(default_factory=dict, description="Per person, per hour")
    activity_rates: dict[str, float] = Field(default_factory=dict, description="Per activity")
    fixed_costs: list[FixedCost] = Field(default_factory=list)
    eac_method: Literal["BAC/CPI", "AC+(BAC-EV)", "AC+(BAC-EV)/(CPI*SPI)"] = Field(
        default="BAC/CPI", description="Method of the headline EAC (PMBOK 6th ed. table 7-1)"
    )
    project_eac: float | None = Field(
        default=None, gt=0, description="An explicit (management) EAC of the whole project"
    )
    milestone_eac: dict[str, float] = Field(
        default_factory=dict, description="Explicit EAC per milestone name"
    )

    @field_validator("rates", "activity_rates", "milestone_eac")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        for name, rate in value.items():
            if rate < 0:
                raise ValueError(f"rate for {name!r} must be a positive number, got {rate}")
        return value


class PersonCapacity(_Section):
    """Capacity of one person (as the tracker names the assignee)."""

    hours_per_day: float | None = Field(
        default=None, gt=0, le=24, description="Default: calendar.hours_per_day; less is part-time"
    )
    days_off: list[dt.date] = Field(default_factory=list, description="Personal non-working days")


class PoolSettings(_Section):
    """A group or role the tracker assigns to: its members share its work."""

    members: list[str] = Field(min_length=1, description="People of the pool (one item each)")


class ResourceSettings(_Section):
    """People's capacity for levelling (trackers have no capacity field)."""

    people: dict[str, PersonCapacity] = Field(default_factory=dict)
    pools: dict[str, PoolSettings] = Field(default_factory=dict)
    unassigned: str | None = Field(
        default=None,
        description="A pool for unassigned open work; none: unassigned work is not levelled",
    )
    schedules: int = Field(
        default=200,
        ge=1,
        le=5000,
        description="Priority orders tried (sampling with justification)",
    )

    @field_validator("unassigned")
    @classmethod
    def _unassigned_is_a_pool(cls, value: str | None, info: ValidationInfo) -> str | None:
        pools = info.data.get("pools", {})
        if value is not None and value not in pools:
            known = ", ".join(sorted(pools)) or "none defined"
            raise ValueError(f"{value!r} is not a [resources.pools.*] ({known})")
        return value


class StoreSettings(_Section):
    """Where local state lives (baselines, snapshot cache, webhook queue)."""

    path: Path | None = Field(
        default=None, description="SQLite file; default: the user data directory"
    )


class CombinedPlanSettings(_Section):
    """One plan over several projects (e.g. a Redmine project and GitHub repositories).

    The projects are fetched separately, planned together (cross-tracker dependencies such as
    ``Blocked by redmine#123`` in a GitHub issue become real edges), and each project gets its
    own items' values and the combined report on its wiki page.
    """

    projects: list[str] = Field(min_length=1, description="Names of [projects.*] sections")
    name: str | None = Field(default=None, description="Shown as the plan's title")


class Settings(_Section):
    """The whole configuration."""

    calendar: CalendarSettings = Field(default_factory=CalendarSettings)
    planner: PlannerSettings = Field(default_factory=PlannerSettings)
    trackers: dict[str, TrackerSettings] = Field(default_factory=dict)
    projects: dict[str, ProjectSettings] = Field(default_factory=dict)
    fields: FieldNames = Field(default_factory=FieldNames)
    write_back: WriteBackSettings = Field(default_factory=WriteBackSettings)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    resources: ResourceSettings = Field(default_factory=ResourceSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    plans: dict[str, CombinedPlanSettings] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _plans_name_projects(self) -> Settings:
        seen: dict[str, str] = {}
        for name, plan in self.plans.items():
            for project in plan.projects:
                if project not in self.projects:
                    raise ValueError(f"plans.{name}.projects: {project!r} is not a [projects.*]")
                if project in seen:
                    raise ValueError(
                        f"plans.{name}.projects: {project!r} is already in plan {seen[project]!r}"
                    )
                seen[project] = name
        return self

    @model_validator(mode="after")
    def _projects_point_at_trackers(self) -> Settings:
        for name, project in self.projects.items():
            project._section = name
            if project.tracker not in self.trackers:
                known = ", ".join(sorted(self.trackers)) or "none defined"
                raise ValueError(
                    f"projects.{name}.tracker: {project.tracker!r} is not a [trackers.*] "
                    f"section ({known})"
                )
        return self


def format_validation_error(source: str, error: ValidationError) -> str:
    """Render pydantic errors as ``source: dotted.key <- message`` lines."""
    lines = []
    for err in error.errors():
        where = ".".join(str(part) for part in err["loc"]) or "(top level)"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see the annotated examples in config/)"
        lines.append(f"{source}: {where} <- {message}")
    return "\n".join(lines)


def settings_from_dict(data: dict[str, Any], source: str = "<config>") -> Settings:
    """Validate already-parsed config data."""
    try:
        return Settings.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(source, e)) from None


def load_settings(path: Path | None) -> Settings:
    """Load settings from a TOML file; ``None`` gives the defaults."""
    if path is None:
        return Settings()
    text = read_text(path, "config file", ConfigError)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML: nested too deeply") from None
    except ValueError as e:  # e.g. an integer of more than 4,300 digits
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    return settings_from_dict(data, str(path))
