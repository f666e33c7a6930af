"""The overlay sections of the plan page: milestone forecast, top risks, budget and earned
value, the comparison with a baseline, levelling. Each is empty when its overlay did not run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

from tracker_bridge.model import Plan
from tracker_bridge.publish.document import (
    Block,
    BulletList,
    Cell,
    Heading,
    Image,
    Paragraph,
    Table,
)
from tracker_bridge.publish.figures import (
    DASH,
    chance,
    date_text,
    days_text,
    finite,
    hours_text,
    index,
    mean_sd,
    money,
    percent,
    reasons_text,
    signed_money,
    slip_text,
)
from tracker_bridge.publish.names import FINISH_PNG, LOAD_PNG, S_CURVE_PNG
from tracker_bridge.publish.references import IssueRefs, refs_sentence


def _milestone_forecast(plan: Plan, charts: Collection[str]) -> list[Block]:
    """P50/P80/P95 and the chance of meeting each due date, from the risk overlay."""
    risk = plan.overlays.get("risk")
    if not isinstance(risk, Mapping):
        return []
    blocks: list[Block] = [Heading(3, "Milestone forecast")]
    trials = int(risk.get("trials") or 0)
    if trials == 0:
        return [*blocks, Paragraph("No open work to simulate: the plan is the forecast.")]
    distribution = str(risk.get("distribution") or "pert").upper()
    text = (
        f"From {trials:,} simulated schedules ({distribution} durations, seed "
        f"{risk.get('seed')}). P80 is the date by which 80 % of them are finished."
    )
    if risk.get("schedule") == "levelled":
        text += " They follow the levelled schedule: each person does their issues in its order."
    default_spread = list(risk.get("default_spread_items") or [])
    if default_spread:
        text += (
            f" {days_text(len(default_spread), 'item')} without a three-point estimate use the "
            "default spread."
        )
    blocks.append(Paragraph(text))
    rows: list[list[Cell]] = [
        [
            m.name,
            date_text(m.due),
            date_text(m.finish),
            date_text(m.p50),
            date_text(m.p80),
            date_text(m.p95),
            mean_sd(m.mean_finish, m.std_days),
            chance(m.probability_on_time) if m.due is not None else DASH,
        ]
        for m in plan.milestones
    ]
    project: Mapping[str, Any] = risk.get("project") or {}
    rows.append(
        [
            "Project",
            date_text(project.get("due")),
            date_text(plan.project.finish),
            date_text(project.get("p50")),
            date_text(project.get("p80")),
            date_text(project.get("p95")),
            mean_sd(project.get("mean"), project.get("std_days")),
            chance(project.get("probability_on_time")) if project.get("due") else DASH,
        ]
    )
    header = [
        "Milestone",
        "Due",
        "Deterministic finish",
        "P50",
        "P80",
        "P95",
        "Mean ± SD (d)",
        "Chance to meet due",
    ]
    blocks.append(Table(header, rows, right=(7,)))
    if project.get("due"):
        blocks.append(Paragraph("The project is due with its latest milestone."))
    contingency = finite(risk.get("contingency"))
    if contingency:
        currency = _currency(plan)
        blocks.append(
            Paragraph(
                f"Expected cost of the open risks (probability x impact): "
                f"{money(contingency)}{' ' + currency if currency else ''}."
            )
        )
    if FINISH_PNG in charts:
        blocks.append(Image(FINISH_PNG, "Distribution of the simulated project finish dates"))
    return blocks


def _top_risks(plan: Plan, refs: IssueRefs) -> list[Block]:
    """The highest-scored items of the risk overlay with their reasons."""
    risk = plan.overlays.get("risk")
    if not isinstance(risk, Mapping):
        return []
    blocks: list[Block] = [Heading(3, "Top risks")]
    top = [entry for entry in risk.get("top_risks") or [] if isinstance(entry, Mapping)]
    if not top:
        return [*blocks, Paragraph("No open item carries a risk.")]
    blocks.append(
        Paragraph(
            "Risk score 0–100: the sum of the points of the conditions that hold for an item, "
            "capped at 100."
        )
    )
    rows: list[list[Cell]] = [
        [
            refs.ref(str(entry["key"])),
            refs.title(str(entry["key"])),
            str(entry.get("score") or 0),
            reasons_text([str(r) for r in entry.get("reasons") or []]),
        ]
        for entry in top
    ]
    return [*blocks, Table(["Issue", "Title", "Score", "Reasons"], rows, right=(2,))]


def _currency(plan: Plan) -> str:
    budget = plan.overlays.get("budget")
    return str(budget.get("currency") or "") if isinstance(budget, Mapping) else ""


_EVM_HEADER = [
    "Scope",
    "BAC",
    "PV",
    "EV",
    "AC",
    "CV",
    "SV",
    "CPI",
    "SPI",
    "EAC",
    "EAC method",
    "ETC",
    "VAC",
    "TCPI",
]


def _evm_row(name: str, figures: Mapping[str, Any]) -> list[Cell]:
    return [
        name,
        money(figures.get("bac")),
        money(figures.get("pv")),
        money(figures.get("ev")),
        money(figures.get("ac")),
        money(figures.get("cv")),
        money(figures.get("sv")),
        index(figures.get("cpi")),
        index(figures.get("spi")),
        money(figures.get("eac")),
        str(figures.get("eac_method") or DASH),
        money(figures.get("etc")),
        money(figures.get("vac")),
        index(figures.get("tcpi")),
    ]


def _budget(plan: Plan, charts: Collection[str]) -> list[Block]:
    """Earned value per milestone and for the project, from the budget overlay."""
    budget = plan.overlays.get("budget")
    if not isinstance(budget, Mapping):
        return []
    currency = str(budget.get("currency") or "")
    basis = budget.get("pv_basis")
    if basis == "baseline":
        pv_text = f"planned value follows the dates of baseline “{budget.get('baseline')}”"
    elif basis == "baseline+plan":
        pv_text = (
            f"planned value follows the dates of baseline “{budget.get('baseline')}” (items "
            "added since: the current plan)"
        )
    else:
        pv_text = "planned value follows the current plan"
    blocks: list[Block] = [
        Heading(3, "Budget and earned value"),
        Paragraph(
            f"Money in {currency or 'the budget currency'} (whole units) at the status date "
            f"{date_text(budget.get('as_of') or plan.project.as_of)}; {pv_text}. CV = EV − AC, "
            "SV = EV − PV, CPI = EV / AC, SPI = EV / PV, ETC = EAC − AC, VAC = BAC − EAC, "
            "TCPI = (BAC − EV) / (BAC − AC); – where a figure is undefined."
        ),
    ]
    milestones: Mapping[str, Any] = budget.get("milestones") or {}
    rows: list[list[Cell]] = [
        _evm_row(str(figures.get("name") or key), figures)
        for key, figures in milestones.items()
        if isinstance(figures, Mapping)
    ]
    project = budget.get("project")
    if isinstance(project, Mapping):
        rows.append(_evm_row("Project", project))
    header = list(_EVM_HEADER)
    scopes = [f for f in milestones.values() if isinstance(f, Mapping)]
    scopes += [project] if isinstance(project, Mapping) else []
    if any(f.get("eac_explicit") is not None for f in scopes):
        # an explicit EAC was given: its figure and the efficiency needed to meet it
        header += ["Explicit EAC", "TCPI (EAC)"]
        for row, f in zip(rows, scopes, strict=True):
            row += [money(f.get("eac_explicit")), index(f.get("tcpi_eac"))]
        blocks.insert(2, Paragraph("TCPI (EAC) = (BAC − EV) / (explicit EAC − AC)."))
    right = tuple(i for i in range(1, len(header)) if i != 10)
    blocks.append(Table(header, rows, right=right))
    missing = [str(name) for name in budget.get("rate_missing") or []]
    if missing:
        blocks.append(Paragraph(f"No hourly rate (their work costs 0): {', '.join(missing)}."))
    if S_CURVE_PNG in charts:
        blocks.append(Image(S_CURVE_PNG, "S-curve of planned value, earned value, actual cost"))
    return blocks


def _against_baseline(plan: Plan, refs: IssueRefs) -> list[Block]:
    """Slip, cost change and scope change against the baseline overlay."""
    base = plan.overlays.get("baseline")
    if not isinstance(base, Mapping):
        return []
    saved = base.get("saved_at")
    saved_day = saved.date() if isinstance(saved, dt.datetime) else str(saved or "")[:10]
    blocks: list[Block] = [
        Heading(3, "Against baseline"),
        Paragraph(
            f"Baseline “{base.get('name')}”, saved {date_text(saved_day)} with status date "
            f"{date_text(base.get('as_of'))}. Slip in working days, + is later than the baseline."
        ),
    ]
    project: Mapping[str, Any] = base.get("project") or {}
    rows: list[list[Cell]] = [
        [
            str(m.get("name") or key),
            date_text(m.get("baseline_finish")),
            date_text(m.get("finish")),
            slip_text(m.get("slip_days")),
        ]
        for key, m in (base.get("milestones") or {}).items()
        if isinstance(m, Mapping)
    ]
    rows.append(
        [
            "Project",
            date_text(project.get("baseline_finish")),
            date_text(project.get("finish")),
            slip_text(project.get("slip_days")),
        ]
    )
    header = ["Milestone", "Baseline finish", "Forecast finish", "Slip (d)"]
    blocks.append(Table(header, rows, right=(3,)))
    slipped = int(base.get("items_slipped") or 0)
    blocks.append(Paragraph(f"{days_text(slipped, 'item')} finish later than in the baseline."))

    cost: Mapping[str, Any] = base.get("cost") or {}
    currency = _currency(plan)
    unit = f" {currency}" if currency else ""
    if cost.get("bac") is None:
        cost_text = "Cost: no budget is configured, so cost is not compared."
    elif cost.get("baseline_bac") is None:
        cost_text = (
            f"Cost: budget at completion {money(cost.get('bac'))}{unit}; the baseline has no "
            "budget to compare with."
        )
    else:
        cost_text = (
            f"Cost: budget at completion {money(cost.get('bac'))}{unit} against "
            f"{money(cost.get('baseline_bac'))}{unit} in the baseline, a change of "
            f"{signed_money(cost.get('change'))}{unit} "
            f"({percent(cost.get('change_pct'), signed=True)})."
        )
    scope: Mapping[str, Any] = base.get("scope") or {}
    added = [str(k) for k in scope.get("items_added") or []]
    removed = [str(k) for k in scope.get("items_removed") or []]
    growth = (
        f"Scope: estimates {finite(scope.get('baseline_hours')) or 0:,.0f} h in the baseline, "
        f"{finite(scope.get('current_hours')) or 0:,.0f} h now: "
        f"{hours_text(scope.get('growth_hours'))} "
        f"({percent(scope.get('growth_pct'), signed=True)}); "
        f"{days_text(len(added), 'item')} added ({hours_text(scope.get('added_hours'))}), "
        f"{days_text(len(removed), 'item')} removed "
        f"(-{finite(scope.get('removed_hours')) or 0:,.0f} h), "
        f"estimates of kept items {hours_text(scope.get('changed_hours'))}."
    )
    items: list[Cell] = [cost_text, growth]
    if added:
        items.append(("Added: ", *refs_sentence(refs, added)))
    if removed:
        items.append(("Removed: ", *refs_sentence(refs, removed)))
    blocks.append(BulletList(items))
    return blocks


def _levelling(plan: Plan, refs: IssueRefs, charts: Collection[str]) -> list[Block]:
    """Levelled against unlevelled finish per milestone, and who sets the levelled finish."""
    lv = plan.overlays.get("levelling")
    if not lv:
        return []
    delay = int(lv["delay_days"])
    blocks: list[Block] = [
        Heading(3, "With people's capacity (levelled)"),
        Paragraph(
            f"Levelled finish {lv['finish']} against {lv['unlevelled_finish']} without "
            f"capacity limits: " + (f"{days_text(delay)} later." if delay > 0 else "no later.")
        ),
    ]
    rows: list[list[Cell]] = [
        [m["name"], m["finish"] or DASH, m["levelled_finish"] or DASH] for m in lv["milestones"]
    ]
    if rows:
        blocks.append(Table(["Milestone", "Forecast finish", "Levelled finish"], rows))
    if LOAD_PNG in charts:
        blocks.append(Image(LOAD_PNG, "Issues running per person, unlevelled and levelled"))
    chain = lv["critical_chain"]
    if chain:
        blocks.append(
            Paragraph(("Critical chain: ", *refs_sentence(refs, [c["key"] for c in chain])))
        )
        people = lv["critical_chain_people"]
        blocks.append(
            Paragraph("People on the critical chain: " + (", ".join(people) or DASH) + ".")
        )
    delayed = [k for k, v in lv["items"].items() if v["delay_days"] > 0]
    if delayed:
        blocks.append(Paragraph(("Delayed by resources: ", *refs_sentence(refs, delayed))))
    return blocks
