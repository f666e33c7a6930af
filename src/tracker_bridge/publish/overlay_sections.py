"""The overlay sections of the plan page: milestone forecast, top risks, budget and earned
value, the comparison with a baseline, levelling. Each is empty when its overlay did not run."""

from __future__ import annotations

from collections.abc import Collection

from tracker_bridge.model import Plan
from tracker_bridge.plan_overlays import EvmFigures
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
    risk = plan.overlays.risk
    if risk is None:
        return []
    blocks: list[Block] = [Heading(3, "Milestone forecast")]
    trials = risk.trials
    if trials == 0:
        return [*blocks, Paragraph("No open work to simulate: the plan is the forecast.")]
    text = (
        f"From {trials:,} simulated schedules ({risk.distribution.upper()} durations, seed "
        f"{risk.seed}). P80 is the date by which 80 % of them are finished."
    )
    default_spread = risk.default_spread_items
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
    project = risk.project
    rows.append(
        [
            "Project",
            date_text(project.due),
            date_text(plan.project.finish),
            date_text(project.p50),
            date_text(project.p80),
            date_text(project.p95),
            mean_sd(project.mean, project.std_days),
            chance(project.probability_on_time) if project.due else DASH,
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
    if project.due:
        blocks.append(Paragraph("The project is due with its latest milestone."))
    contingency = finite(risk.contingency)
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
    risk = plan.overlays.risk
    if risk is None:
        return []
    blocks: list[Block] = [Heading(3, "Top risks")]
    top = risk.top_risks
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
            refs.ref(entry.key),
            refs.title(entry.key),
            str(entry.score),
            reasons_text(entry.reasons),
        ]
        for entry in top
    ]
    return [*blocks, Table(["Issue", "Title", "Score", "Reasons"], rows, right=(2,))]


def _currency(plan: Plan) -> str:
    budget = plan.overlays.budget
    return budget.currency if budget is not None else ""


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


def _evm_row(name: str, figures: EvmFigures) -> list[Cell]:
    return [
        name,
        money(figures.bac),
        money(figures.pv),
        money(figures.ev),
        money(figures.ac),
        money(figures.cv),
        money(figures.sv),
        index(figures.cpi),
        index(figures.spi),
        money(figures.eac),
        figures.eac_method or DASH,
        money(figures.etc),
        money(figures.vac),
        index(figures.tcpi),
    ]


def _budget(plan: Plan, charts: Collection[str]) -> list[Block]:
    """Earned value per milestone and for the project, from the budget overlay."""
    budget = plan.overlays.budget
    if budget is None:
        return []
    currency = budget.currency
    basis = budget.pv_basis
    if basis == "baseline":
        pv_text = f"planned value follows the dates of baseline “{budget.baseline}”"
    elif basis == "baseline+plan":
        pv_text = (
            f"planned value follows the dates of baseline “{budget.baseline}” (items "
            "added since: the current plan)"
        )
    else:
        pv_text = "planned value follows the current plan"
    blocks: list[Block] = [
        Heading(3, "Budget and earned value"),
        Paragraph(
            f"Money in {currency or 'the budget currency'} (whole units) at the status date "
            f"{date_text(budget.as_of)}; {pv_text}. CV = EV − AC, "
            "SV = EV − PV, CPI = EV / AC, SPI = EV / PV, ETC = EAC − AC, VAC = BAC − EAC, "
            "TCPI = (BAC − EV) / (BAC − AC); – where a figure is undefined."
        ),
    ]
    scopes: list[EvmFigures] = [*budget.milestones.values(), budget.project]
    rows: list[list[Cell]] = [
        _evm_row(figures.name or key, figures) for key, figures in budget.milestones.items()
    ]
    rows.append(_evm_row("Project", budget.project))
    header = list(_EVM_HEADER)
    if any(f.eac_explicit is not None for f in scopes):
        # an explicit EAC was given: its figure and the efficiency needed to meet it
        header += ["Explicit EAC", "TCPI (EAC)"]
        for row, f in zip(rows, scopes, strict=True):
            row += [money(f.eac_explicit), index(f.tcpi_eac)]
        blocks.insert(2, Paragraph("TCPI (EAC) = (BAC − EV) / (explicit EAC − AC)."))
    right = tuple(i for i in range(1, len(header)) if i != 10)
    blocks.append(Table(header, rows, right=right))
    missing = budget.rate_missing
    if missing:
        blocks.append(Paragraph(f"No hourly rate (their work costs 0): {', '.join(missing)}."))
    if S_CURVE_PNG in charts:
        blocks.append(Image(S_CURVE_PNG, "S-curve of planned value, earned value, actual cost"))
    return blocks


def _against_baseline(plan: Plan, refs: IssueRefs) -> list[Block]:
    """Slip, cost change and scope change against the baseline overlay."""
    base = plan.overlays.baseline
    if base is None:
        return []
    blocks: list[Block] = [
        Heading(3, "Against baseline"),
        Paragraph(
            f"Baseline “{base.name}”, saved {date_text(base.saved_at.date())} with status date "
            f"{date_text(base.as_of)}. Slip in working days, + is later than the baseline."
        ),
    ]
    rows: list[list[Cell]] = [
        [m.name or key, date_text(m.baseline_finish), date_text(m.finish), slip_text(m.slip_days)]
        for key, m in base.milestones.items()
    ]
    project = base.project
    rows.append(
        [
            "Project",
            date_text(project.baseline_finish),
            date_text(project.finish),
            slip_text(project.slip_days),
        ]
    )
    header = ["Milestone", "Baseline finish", "Forecast finish", "Slip (d)"]
    blocks.append(Table(header, rows, right=(3,)))
    slipped = base.items_slipped
    blocks.append(Paragraph(f"{days_text(slipped, 'item')} finish later than in the baseline."))

    cost = base.cost
    currency = _currency(plan)
    unit = f" {currency}" if currency else ""
    if cost.bac is None:
        cost_text = "Cost: no budget is configured, so cost is not compared."
    elif cost.baseline_bac is None:
        cost_text = (
            f"Cost: budget at completion {money(cost.bac)}{unit}; the baseline has no "
            "budget to compare with."
        )
    else:
        cost_text = (
            f"Cost: budget at completion {money(cost.bac)}{unit} against "
            f"{money(cost.baseline_bac)}{unit} in the baseline, a change of "
            f"{signed_money(cost.change)}{unit} "
            f"({percent(cost.change_pct, signed=True)})."
        )
    scope = base.scope
    added, removed = scope.items_added, scope.items_removed
    growth = (
        f"Scope: estimates {finite(scope.baseline_hours) or 0:,.0f} h in the baseline, "
        f"{finite(scope.current_hours) or 0:,.0f} h now: "
        f"{hours_text(scope.growth_hours)} "
        f"({percent(scope.growth_pct, signed=True)}); "
        f"{days_text(len(added), 'item')} added ({hours_text(scope.added_hours)}), "
        f"{days_text(len(removed), 'item')} removed "
        f"(-{finite(scope.removed_hours) or 0:,.0f} h), "
        f"estimates of kept items {hours_text(scope.changed_hours)}."
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
    lv = plan.overlays.levelling
    if lv is None:
        return []
    delay = lv.delay_days
    blocks: list[Block] = [
        Heading(3, "With people's capacity (levelled)"),
        Paragraph(
            f"Levelled finish {date_text(lv.finish)} against {date_text(lv.unlevelled_finish)} "
            "without capacity limits: "
            + (f"{days_text(delay)} later." if delay > 0 else "no later.")
        ),
    ]
    rows: list[list[Cell]] = [
        [m.name, date_text(m.finish), date_text(m.levelled_finish)] for m in lv.milestones
    ]
    if rows:
        blocks.append(Table(["Milestone", "Forecast finish", "Levelled finish"], rows))
    if LOAD_PNG in charts:
        blocks.append(Image(LOAD_PNG, "Issues running per person, unlevelled and levelled"))
    chain = lv.critical_chain
    if chain:
        blocks.append(Paragraph(("Critical chain: ", *refs_sentence(refs, [c.key for c in chain]))))
        people = lv.critical_chain_people
        blocks.append(
            Paragraph("People on the critical chain: " + (", ".join(people) or DASH) + ".")
        )
    delayed = [k for k, v in lv.items.items() if v.delay_days > 0]
    if delayed:
        blocks.append(Paragraph(("Delayed by resources: ", *refs_sentence(refs, delayed))))
    return blocks
