"""Budget and earned value: published worked examples, recomputed by the budget stage.

Sources of the worked examples (every figure below was also recomputed by hand; the hand
computation is written next to each figure):

* **PRA** — Paul Govan, *PRA: Project Risk Analysis*, R package on CRAN, reference pages of
  ``pv``, ``ev``, ``ac``, ``cpi``, ``eac``, ``etc`` and ``tcpi`` and the vignette
  "Earned Value Management" (https://paulgovan.github.io/PRA/reference/cpi.html,
  .../eac.html, .../etc.html, .../tcpi.html; https://cran.r-project.org/package=PRA).
  Toy project: BAC 100,000; cumulative planned completion 10/20/40/70/100 % per period,
  period 3 => PV = 40,000; 35 % complete => EV = 35,000; cumulative actual cost
  9,000/18,000/36,000 => AC = 36,000; printed ``CPI: 0.9722222``. Its ``eac`` page prints
  ``EAC (atypical): 128000`` for AC = 63,000, EV = 35,000; its ``tcpi`` page prints
  ``TCPI (to meet BAC): 1.76`` for the same figures, and its ``etc`` page
  ``ETC (planned rate): 65000``.
* **Schwalbe** — Kathy Schwalbe, *Information Technology Project Management*, chapter 7
  (Project Cost Management), exercise 1: a one-year project with PV = 23,000, EV = 20,000,
  AC = 25,000, BAC = 120,000; asks for CV, SV, CPI, SPI and EAC (a published student answer:
  https://studylib.net/doc/9750501 — CV -5,000, SV -3,000, CPI 80 %, SPI 86.95 %,
  EAC = BAC/CPI = 150,000).
* **PROJ 592** — DeVry PROJ 592 (Project Cost and Schedule Control), week 5, problem 5-1:
  four activities A-D (A: 150,000 over 15 weeks, week 5 done, 35 % complete, spent 45,000;
  B: 100,000 over 4 weeks, end of week 2, 45 %, spent 50,000; C: finished 2 weeks late,
  planned 110,000, cost 100,000; D: 450,000 over 6 weeks, beginning its 4th week, 55 %,
  spent 200,000). Worked solution published at
  https://essaysforpay.com/pm592-week-5-assignment-problems/ : PV 435,000, EV 455,000,
  AC 395,000, CV 60,000, CPI 1.1519, SPI 1.04 (the page prints SV as "-$20,000": a sign
  slip, EV - PV = 455,000 - 435,000 = +20,000, which its own SPI > 1 confirms).
* **Classic** — the textbook-type exercise BAC 100,000, PV 50,000, EV 40,000, AC 45,000
  (hand-computed only; no single source is claimed for it).

The three EAC methods follow the PMBOK Guide (6th ed., section 7.4.2.2, table 7-1):
``BAC/CPI`` (typical), ``AC+(BAC-EV)`` (atypical), ``AC+(BAC-EV)/(CPI*SPI)``; ETC = EAC - AC,
VAC = BAC - EAC, TCPI = (BAC - EV) / (BAC - AC).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

from tracker_bridge.model import Baseline, BaselineItem, Plan, Snapshot
from tracker_bridge.plan_overlays import BudgetOverlay, EvmFigures
from tracker_bridge.planner import plan
from tracker_bridge.planner.budget import (
    EAC_ATYPICAL,
    EAC_COMBINED,
    EAC_TYPICAL,
    RateTable,
    evm_figures,
)
from tracker_bridge.publish import PlainStyle, build_report
from tracker_bridge.publish.document import Table
from tracker_bridge.settings import BudgetSettings, Settings, settings_from_dict

approx = pytest.approx


def make_settings(budget: dict[str, Any], **sections: Any) -> Settings:
    return settings_from_dict({"budget": budget, **sections})


def make_snapshot(data: dict[str, Any]) -> Snapshot:
    return Snapshot.model_validate(data)


def workday(start: str, n: int) -> dt.date:
    """The n-th working day (1-based, Mon-Fri) counted from ``start``."""
    day: dt.date = np.busday_offset(start, n - 1, roll="forward").astype(object)
    return day


def baseline_of(ranges: dict[str, tuple[dt.date, dt.date]], as_of: dt.date) -> Baseline:
    return Baseline(
        name="approved",
        saved_at=dt.datetime(2025, 1, 1, 9, 0, tzinfo=dt.UTC),
        as_of=as_of,
        project_finish=max(f for _, f in ranges.values()),
        items={
            key: BaselineItem(key=key, early_start=s, early_finish=f)
            for key, (s, f) in ranges.items()
        },
    )


def booking(item: str, person: str, activity: str, hours: float) -> dict[str, Any]:
    return {
        "item": item,
        "person": person,
        "activity": activity,
        "hours": hours,
        "date": "2025-03-03",
    }


def budget_of(result: Plan) -> BudgetOverlay:
    assert result.overlays.budget is not None
    return result.overlays.budget


# --------------------------------------------------------------- the formulas themselves


def check_methods(
    f: EvmFigures,
    *,
    bac: float,
    ac: float,
    typical: float | None,
    atypical: float,
    combined: float | None,
) -> None:
    methods = f.eac_by_method
    for name, eac in ((EAC_TYPICAL, typical), (EAC_ATYPICAL, atypical), (EAC_COMBINED, combined)):
        if eac is None:
            assert methods[name].model_dump() == {"eac": None, "etc": None, "vac": None}
        else:
            assert methods[name].eac == approx(eac)
            assert methods[name].etc == approx(eac - ac)
            assert methods[name].vac == approx(bac - eac)


def test_pra_toy_project() -> None:
    f = evm_figures(bac=100_000, pv=40_000, ev=35_000, ac=36_000)
    assert f.cv == -1_000  # 35,000 - 36,000
    assert f.sv == -5_000  # 35,000 - 40,000
    assert f.cpi == approx(0.9722222)  # printed by PRA: 35/36
    assert f.spi == approx(0.875)  # 35/40 (the SPI PRA's eac example uses)
    assert f.eac_method == EAC_TYPICAL
    assert f.eac == approx(102_857.142857)  # 100,000 / (35/36) = 100,000 x 36/35
    assert f.etc == approx(66_857.142857)  # EAC - 36,000
    assert f.vac == approx(-2_857.142857)  # 100,000 - EAC
    assert f.tcpi == approx(1.015625)  # 65,000 / 64,000
    check_methods(
        f,
        bac=100_000,
        ac=36_000,
        typical=100_000 * 36 / 35,
        atypical=101_000,  # 36,000 + (100,000 - 35,000)
        # CPI x SPI = 35/36 x 35/40 = 1225/1440; 65,000 x 1440/1225 = 76,408.16
        combined=36_000 + 65_000 * 1440 / 1225,
    )
    assert f.eac_by_method[EAC_COMBINED].eac == approx(112_408.163265)
    assert f.percent_complete == approx(35.0)
    assert f.cv_pct == approx(-1_000 / 35_000 * 100)
    assert f.sv_pct == approx(-12.5)  # -5,000 / 40,000


def test_pra_atypical_eac_and_tcpi_pages() -> None:
    f = evm_figures(bac=100_000, pv=40_000, ev=35_000, ac=63_000)
    atypical = f.eac_by_method[EAC_ATYPICAL]
    assert atypical.eac == 128_000  # printed: EAC (atypical): 128000
    assert atypical.etc == 65_000  # printed: ETC (planned rate): 65000
    assert round(f.tcpi, 2) == 1.76  # printed: TCPI (to meet BAC): 1.76
    assert f.tcpi == approx(65_000 / 37_000)
    assert f.cpi == approx(35 / 63)
    assert f.eac == approx(180_000)  # BAC/CPI = 100,000 x 63/35


def test_schwalbe_chapter_7_exercise_1() -> None:
    f = evm_figures(bac=120_000, pv=23_000, ev=20_000, ac=25_000)
    assert f.cv == -5_000
    assert f.sv == -3_000
    assert f.cpi == approx(0.8)  # printed 80 %
    assert f.spi == approx(0.869565, abs=1e-6)  # printed 86.95 %
    assert f.eac == approx(150_000)  # printed: EAC = BAC/CPI = 150,000
    assert f.etc == approx(125_000)  # 150,000 - 25,000
    assert f.vac == approx(-30_000)  # 120,000 - 150,000
    assert f.tcpi == approx(100_000 / 95_000)  # 1.0526
    check_methods(
        f,
        bac=120_000,
        ac=25_000,
        typical=150_000,
        atypical=125_000,  # 25,000 + 100,000
        combined=168_750,  # CPI x SPI = 0.8 x 20/23 = 16/23; 100,000 x 23/16 = 143,750
    )


def test_classic_exercise() -> None:
    f = evm_figures(bac=100_000, pv=50_000, ev=40_000, ac=45_000)
    assert (f.cv, f.sv) == (-5_000, -10_000)
    assert f.cpi == approx(0.888889, abs=1e-6)  # 40/45
    assert f.spi == approx(0.8)  # 40/50
    assert f.eac == approx(112_500)  # 100,000 x 45/40
    assert f.etc == approx(67_500)
    assert f.vac == approx(-12_500)
    assert f.tcpi == approx(60_000 / 55_000)  # 1.0909
    check_methods(
        f,
        bac=100_000,
        ac=45_000,
        typical=112_500,
        atypical=105_000,  # 45,000 + 60,000
        combined=129_375,  # CPI x SPI = 8/9 x 4/5 = 32/45; 60,000 x 45/32 = 84,375
    )


def test_tcpi_to_an_explicit_eac_and_the_headline_method() -> None:
    """PMBOK Guide 6th ed. §7.4.2.2 (table 7-1): TCPI = (BAC - EV) / (EAC - AC) against a
    given EAC, (BAC - EV) / (BAC - AC) against BAC; the classic figures by hand."""
    f = evm_figures(bac=100_000, pv=50_000, ev=40_000, ac=45_000, explicit_eac=110_000)
    assert f.eac_explicit == 110_000
    assert f.tcpi_eac == approx(60_000 / 65_000)  # 0.9231 — not CPI (0.8889)
    assert f.tcpi == approx(60_000 / 55_000)  # 1.0909
    assert f.eac == approx(112_500)  # the headline stays BAC/CPI by default
    # no explicit EAC: no TCPI to EAC (against BAC/CPI it would just restate CPI)
    assert evm_figures(bac=100_000, pv=50_000, ev=40_000, ac=45_000).tcpi_eac is None
    # the headline method is a choice; an undefined one falls back to the atypical estimate
    g = evm_figures(bac=100_000, pv=50_000, ev=40_000, ac=45_000, method=EAC_COMBINED)
    assert (g.eac_method, g.eac) == (EAC_COMBINED, approx(129_375))
    h = evm_figures(bac=1_000, pv=100, ev=0, ac=50, method=EAC_COMBINED)
    assert (h.eac_method, h.eac) == (EAC_ATYPICAL, 1_050)


def test_division_by_zero_gives_none_never_an_error() -> None:
    f = evm_figures(bac=0, pv=0, ev=0, ac=0)
    for name in ("cpi", "spi", "cv_pct", "sv_pct", "tcpi", "tcpi_eac", "percent_complete"):
        assert getattr(f, name) is None, name
    assert f.eac_by_method[EAC_TYPICAL].eac is None
    assert f.eac_by_method[EAC_COMBINED].eac is None
    # no actual cost yet: the typical EAC is undefined, the atypical one is used and named
    g = evm_figures(bac=1_000, pv=100, ev=0, ac=0)
    assert g.cpi is None and g.spi == 0
    assert (g.eac_method, g.eac, g.etc, g.vac) == (EAC_ATYPICAL, 1_000, 1_000, 0)
    assert g.tcpi == 1.0
    # money spent, nothing earned: CPI = 0, BAC/CPI undefined
    h = evm_figures(bac=1_000, pv=100, ev=0, ac=50)
    assert h.cpi == 0 and h.eac_method == EAC_ATYPICAL and h.eac == 1_050
    # spent the whole budget: TCPI is undefined
    assert evm_figures(bac=1_000, pv=1_000, ev=500, ac=1_000).tcpi is None


# ------------------------------------------------------- the examples through plan()


def test_proj592_problem_5_1_through_the_planner() -> None:
    """Four activities, costs from hours x 100/h, PV from the baseline's working days."""
    as_of = dt.date(2025, 3, 28)  # a Friday
    # A: 15 weeks from Mon 24 Feb, 5 weeks (25 working days) done by Fri 28 Mar
    # B: 4 weeks from Mon 17 Mar, end of week 2; D: 6 weeks from Mon 10 Mar, 3 weeks done
    # C: planned 6 Jan - 28 Feb, finished 2 weeks late on 14 Mar
    ranges = {
        "A": (dt.date(2025, 2, 24), workday("2025-02-24", 75)),
        "B": (dt.date(2025, 3, 17), workday("2025-03-17", 20)),
        "C": (dt.date(2025, 1, 6), dt.date(2025, 2, 28)),
        "D": (dt.date(2025, 3, 10), workday("2025-03-10", 30)),
    }
    assert ranges["A"][1] == dt.date(2025, 6, 6) and ranges["D"][1] == dt.date(2025, 4, 18)
    snapshot = make_snapshot(
        {
            "project": {"name": "PROJ 592 5-1", "start": "2025-01-06"},
            "items": [
                {"key": "A", "estimate_hours": 1500, "done_ratio": 35, "assignee": "Pat"},
                {"key": "B", "estimate_hours": 1000, "done_ratio": 45, "assignee": "Pat"},
                {
                    "key": "C",
                    "estimate_hours": 1100,
                    "status": "closed",
                    "start": "2025-01-06",
                    "closed_on": "2025-03-14",
                    "assignee": "Pat",
                },
                {"key": "D", "estimate_hours": 4500, "done_ratio": 55, "assignee": "Pat"},
            ],
            "time_entries": [
                {"item": "A", "person": "Pat", "hours": 450, "date": "2025-03-20"},
                {"item": "B", "person": "Pat", "hours": 500, "date": "2025-03-27"},
                {"item": "C", "person": "Pat", "hours": 1000, "date": "2025-03-14"},
                {"item": "D", "person": "Pat", "hours": 2000, "date": "2025-03-28"},
                # booked after the status date: not part of AC yet
                {"item": "D", "person": "Pat", "hours": 10, "date": "2025-03-31"},
            ],
        }
    )
    result = plan(
        snapshot,
        make_settings({"rates": {"Pat": 100}}),
        as_of,
        baseline=baseline_of(ranges, as_of),
    )
    items = result.items
    # per activity, as in the published solution
    assert items["A"].planned_value == approx(50_000)  # 5/15 x 150,000
    assert items["A"].earned_value == approx(52_500)  # 35 % x 150,000
    assert items["A"].actual_cost == approx(45_000)
    assert items["B"].planned_value == approx(50_000)  # 2/4 x 100,000
    assert items["B"].earned_value == approx(45_000)  # 45 % x 100,000
    assert items["C"].planned_value == approx(110_000)
    assert items["C"].earned_value == approx(110_000)  # closed: 100 %
    assert items["C"].actual_cost == approx(100_000)
    assert items["D"].planned_value == approx(225_000)  # 3/6 x 450,000
    assert items["D"].earned_value == approx(247_500)  # 55 % x 450,000
    assert items["D"].actual_cost == approx(200_000)

    figures = budget_of(result).project
    assert figures.bac == approx(810_000)  # 150 + 100 + 110 + 450 thousand
    assert figures.pv == approx(435_000)
    assert figures.ev == approx(455_000)
    assert figures.ac == approx(395_000)
    assert figures.cv == approx(60_000)
    assert figures.sv == approx(20_000)  # the page's "-20,000" is a sign slip
    assert round(figures.cpi, 4) == 1.1519  # 455/395
    assert figures.spi == approx(455 / 435)  # 1.046 (printed truncated: 1.04)
    # forecasts, by hand
    assert figures.eac == approx(810_000 * 395 / 455)  # 703,186.81
    assert figures.etc == approx(810_000 * 395 / 455 - 395_000)
    assert figures.vac == approx(810_000 - 810_000 * 395 / 455)  # +106,813.19
    assert figures.tcpi == approx(355_000 / 415_000)  # 0.8554
    check_methods(
        figures,
        bac=810_000,
        ac=395_000,
        typical=810_000 * 395 / 455,
        atypical=750_000,  # 395,000 + 355,000
        combined=395_000 + 355_000 * (395 * 435) / (455 * 455),  # 689,640.10
    )
    assert budget_of(result).pv_basis == "baseline"


def test_schwalbe_exercise_through_the_planner() -> None:
    """BAC 120,000 = a finished 20,000 item + a 100,000 item 3 % into its baseline."""
    as_of = dt.date(2025, 1, 31)
    ranges = {
        "done": (dt.date(2025, 1, 6), dt.date(2025, 1, 24)),
        "rest": (dt.date(2025, 1, 29), workday("2025-01-29", 100)),  # 3 of 100 days by Fri 31
    }
    snapshot = make_snapshot(
        {
            "project": {"name": "one-year project", "start": "2025-01-06"},
            "items": [
                {
                    "key": "done",
                    "estimate_hours": 200,
                    "status": "closed",
                    "start": "2025-01-06",
                    "closed_on": "2025-01-30",
                },
                {"key": "rest", "estimate_hours": 1000},
            ],
            "time_entries": [
                {"item": "done", "person": "x", "hours": 250, "date": "2025-01-30"},
            ],
        }
    )
    result = plan(
        snapshot, make_settings({"default_rate": 100}), as_of, baseline=baseline_of(ranges, as_of)
    )
    f = budget_of(result).project
    assert (f.bac, f.pv, f.ev, f.ac) == (
        approx(120_000),
        approx(23_000),
        approx(20_000),
        approx(25_000),
    )
    assert (f.cv, f.sv) == (approx(-5_000), approx(-3_000))
    assert f.cpi == approx(0.8)
    assert f.eac == approx(150_000)
    assert f.vac == approx(-30_000)


def test_pra_toy_project_through_the_planner() -> None:
    """One item of 100,000 over 10 baseline days, 4 of them past: PV = 40 %."""
    as_of = dt.date(2025, 1, 9)  # Thursday: Mon-Thu are 4 of the 10 days
    ranges = {"work": (dt.date(2025, 1, 6), dt.date(2025, 1, 17))}
    snapshot = make_snapshot(
        {
            "project": {"name": "toy", "start": "2025-01-06"},
            "items": [{"key": "work", "estimate_hours": 1000, "done_ratio": 35, "assignee": "A"}],
            "time_entries": [
                {"item": "work", "person": "A", "hours": 90, "date": "2025-01-06"},
                {"item": "work", "person": "A", "hours": 90, "date": "2025-01-07"},
                {"item": "work", "person": "A", "hours": 180, "date": "2025-01-08"},
            ],
        }
    )
    result = plan(
        snapshot, make_settings({"rates": {"A": 100}}), as_of, baseline=baseline_of(ranges, as_of)
    )
    f = budget_of(result).project
    assert (f.pv, f.ev, f.ac) == (approx(40_000), approx(35_000), approx(36_000))
    assert f.cpi == approx(0.9722222)
    assert f.spi == approx(0.875)
    # the S-curve's AC follows the published cumulative costs 9,000 / 18,000 / 36,000
    by_day = {p.date: p for p in budget_of(result).time_phased}
    assert by_day[as_of].ac == 36_000
    assert by_day[as_of].pv == 40_000
    assert by_day[as_of].ev == 35_000


# --------------------------------------------------------------- time-phasing, rates, costs


HOLIDAY_WEEK = {
    "project": {"name": "holiday", "start": "2025-03-03"},
    "items": [
        {
            "key": "X",
            "estimate_hours": 40,
            "status": "closed",
            "start": "2025-03-03",
            "closed_on": "2025-03-10",
            "assignee": "Ann",
        }
    ],
}


@pytest.mark.parametrize(
    ("as_of", "pv"),
    [
        ("2025-03-02", 0),  # Sunday before
        ("2025-03-03", 800),  # Mon
        ("2025-03-04", 1_600),  # Tue
        ("2025-03-05", 1_600),  # Wed: holiday, nothing planned
        ("2025-03-06", 2_400),  # Thu
        ("2025-03-07", 3_200),  # Fri
        ("2025-03-08", 3_200),  # Sat
        ("2025-03-09", 3_200),  # Sun
        ("2025-03-10", 4_000),  # Mon: the fifth working day
    ],
)
def test_pv_falls_on_working_days_only(as_of: str, pv: float) -> None:
    """40 h at 100/h over Mon 3 - Mon 10 March with Wed 5 a holiday: 800 per working day."""
    settings = make_settings({"rates": {"Ann": 100}}, calendar={"holidays": [dt.date(2025, 3, 5)]})
    result = plan(make_snapshot(HOLIDAY_WEEK), settings, dt.date.fromisoformat(as_of))
    assert result.items["X"].planned_cost == 4_000
    assert result.items["X"].planned_value == approx(pv)
    assert budget_of(result).project.pv == approx(pv)


def test_time_phased_curve_is_weekly_and_stops_ev_ac_at_the_status_date() -> None:
    settings = make_settings({"rates": {"Ann": 100}})
    snapshot = make_snapshot(
        {
            "project": {"name": "s-curve", "start": "2025-03-03"},
            "items": [
                {"key": "A", "estimate_hours": 80, "assignee": "Ann", "done_ratio": 50},
                {"key": "B", "estimate_hours": 160, "assignee": "Ann"},
            ],
            "dependencies": [{"predecessor": "A", "successor": "B"}],
            "time_entries": [{"item": "A", "person": "Ann", "hours": 30, "date": "2025-03-04"}],
        }
    )
    as_of = dt.date(2025, 3, 5)
    result = plan(snapshot, settings, as_of)
    budget = budget_of(result)
    points = budget.time_phased
    dates = [p.date for p in points]
    assert dates[0] == dt.date(2025, 3, 3)
    assert dates[-1] == result.project.finish
    assert as_of in dates
    weekly = [d for d in dates if d not in (as_of, result.project.finish)]
    assert all((d - dates[0]).days % 7 == 0 for d in weekly)
    pvs = [p.pv for p in points]
    assert pvs == sorted(pvs)
    assert pvs[-1] == approx(24_000)  # BAC: (80 + 160) h x 100
    for p in points:
        assert (p.ev is not None) == (p.ac is not None) == (p.date <= as_of)
    at = points[dates.index(as_of)]
    # the points are rounded to cents
    assert at.pv == approx(budget.project.pv, abs=0.005)
    assert at.ev == approx(budget.project.ev, abs=0.005) == approx(4_000)
    assert at.ac == approx(budget.project.ac, abs=0.005) == approx(3_000)
    forecast = budget.eac_forecast
    assert (forecast[0].date, forecast[0].cost) == (as_of, approx(3_000))
    assert forecast[-1].date == result.project.finish
    assert forecast[-1].cost == approx(round(budget.project.eac, 2))
    costs = [p.cost for p in forecast]
    assert costs == sorted(costs)


def test_closed_item_earns_its_full_value_whatever_its_done_ratio() -> None:
    snapshot = make_snapshot(
        {
            "project": {"name": "closed", "start": "2025-03-03"},
            "items": [
                {
                    "key": "X",
                    "estimate_hours": 16,
                    "status": "closed",
                    "done_ratio": 0,
                    "closed_on": "2025-03-04",
                },
                {"key": "Y", "estimate_hours": 16, "done_ratio": 25},
            ],
        }
    )
    result = plan(snapshot, make_settings({"default_rate": 50}), dt.date(2025, 3, 5))
    assert result.items["X"].earned_value == 800  # 16 h x 50, 100 %
    assert result.items["Y"].earned_value == 200  # 25 % of 800
    assert budget_of(result).project.ev == 1_000


def test_rate_precedence_person_then_activity_then_default() -> None:
    budget = BudgetSettings(
        default_rate=50,
        rates={"Ann": 100},
        activity_rates={"Design": 70, "Testing": 60},
    )
    rates = RateTable(budget)
    assert rates.for_entry("Ann", "Design") == 100  # the person's rate wins
    assert rates.for_entry("ann", None) == 100  # names also match ignoring case
    assert rates.for_entry("Bob", "Testing") == 60  # no person rate: the activity's
    assert rates.for_entry("Bob", "testing") == 60
    assert rates.for_entry("Bob", "Other") == 50  # else the default
    assert rates.for_entry(None, None) == 50
    assert rates.for_item("Ann") == 100 and rates.for_item("Bob") == 50
    assert RateTable(BudgetSettings(rates={"Ann": 0})).for_item("Ann") == 0  # explicit 0
    assert RateTable(BudgetSettings()).for_item("Ann") is None  # default 0 = no rate


def test_per_person_and_per_activity_rates_in_the_plan() -> None:
    snapshot = make_snapshot(
        {
            "project": {"name": "rates", "start": "2025-03-03"},
            "items": [
                {"key": "A", "estimate_hours": 10, "assignee": "Ann"},
                {"key": "B", "estimate_hours": 10, "assignee": "Bob"},
            ],
            "time_entries": [
                booking("A", "Ann", "Design", 2),
                booking("B", "Bob", "Testing", 3),
                booking("B", "Cy", "Design", 1),
            ],
        }
    )
    settings = make_settings(
        {
            "default_rate": 40,
            "rates": {"Ann": 100, "Bob": 80},
            "activity_rates": {"Design": 70, "Testing": 60},
        }
    )
    result = plan(snapshot, settings, dt.date(2025, 3, 3))
    assert result.items["A"].planned_cost == 1_000  # 10 h x Ann's 100
    assert result.items["B"].planned_cost == 800  # 10 h x Bob's 80
    assert result.items["A"].actual_cost == 200  # 2 h x Ann's 100 (person before activity)
    assert result.items["B"].actual_cost == 3 * 80 + 1 * 70  # Bob 80; Cy has none: Design 70
    assert budget_of(result).project.ac == 200 + 310
    assert not [w for w in result.warnings if w.code.startswith("budget.")]


def test_people_without_a_rate_cost_zero_and_are_named_in_a_warning() -> None:
    snapshot = make_snapshot(
        {
            "project": {"name": "rates", "start": "2025-03-03"},
            "items": [
                {"key": "A", "estimate_hours": 10, "assignee": "Ann"},
                {"key": "B", "estimate_hours": 10, "assignee": "Bob"},
                {"key": "C", "estimate_hours": 8},
                {"key": "D", "estimate_hours": 8, "assignee": "Ann"},
            ],
            "time_entries": [
                {"item": "D", "person": "Dan", "hours": 2, "date": "2025-03-03"},
            ],
        }
    )
    result = plan(snapshot, make_settings({"rates": {"Ann": 100}}), dt.date(2025, 3, 3))
    assert result.items["B"].planned_cost == 0
    assert result.items["C"].planned_cost == 0
    assert result.items["D"].actual_cost == 0
    (warning,) = [w for w in result.warnings if w.code == "budget.rate_missing"]
    for name in ("Bob", "Dan", "(unassigned)"):
        assert name in warning.message
    assert "Ann" not in warning.message
    assert warning.keys == ["B", "C", "D"]
    assert budget_of(result).rate_missing == ["(unassigned)", "Bob", "Dan"]
    assert budget_of(result).project.bac == 1_800  # (10 + 8) h x 100 for Ann only


def test_fixed_costs_per_milestone_by_name() -> None:
    snapshot = make_snapshot(
        {
            "project": {"name": "fixed", "start": "2025-03-03"},
            "milestones": [
                {"key": "m1", "name": "Design"},
                {"key": "m2", "name": "Launch"},
            ],
            "items": [
                {
                    "key": "A",
                    "estimate_hours": 40,
                    "milestone": "m1",
                    "done_ratio": 50,
                    "start": "2025-03-03",
                },
                {"key": "B", "estimate_hours": 40, "milestone": "m2"},
            ],
            "dependencies": [{"predecessor": "A", "successor": "B"}],
        }
    )
    settings = make_settings(
        {
            "default_rate": 10,
            "fixed_costs": [
                {"name": "Licences", "amount": 5_000, "milestone": "Design", "date": "2025-03-03"},
                {"name": "Hosting", "amount": 1_000, "milestone": "launch"},  # any case
                {"name": "Training", "amount": 300, "date": "2025-04-01"},  # project-wide
                {"name": "Typo", "amount": 7, "milestone": "Lunch"},
            ],
        }
    )
    as_of = dt.date(2025, 3, 5)  # A runs Mon 3 - Fri 7 March, B the week after
    result = plan(snapshot, settings, as_of)
    budget = budget_of(result)
    m1, m2 = budget.milestones["m1"], budget.milestones["m2"]
    project = budget.project
    # BAC: labour 400 per milestone + its fixed costs; the project adds the rest
    assert (m1.bac, m1.labour_bac, m1.fixed_costs) == (5_400, 400, 5_000)
    assert (m2.bac, m2.labour_bac, m2.fixed_costs) == (1_400, 400, 1_000)
    assert project.bac == 400 + 400 + 5_000 + 1_000 + 300 + 7
    # dated and due: planned, earned and paid on its date
    assert m1.pv == approx(240 + 5_000)  # 3 of A's 5 days + the licences
    assert m1.ev == approx(200 + 5_000)
    assert m1.ac == approx(5_000)
    # undated: spread over the Launch items' days (B, next week): nothing planned yet
    assert (m2.pv, m2.ev, m2.ac) == (0, 0, 0)
    # dated after as_of: in BAC, not yet in PV or AC
    training = next(c for c in budget.fixed_costs if c.name == "Training")
    assert (training.pv, training.ac, training.milestone) == (0, 0, None)
    (warning,) = [w for w in result.warnings if w.code == "budget.fixed_cost_milestone"]
    assert "Typo (Lunch)" in warning.message
    # the S-curve ends at BAC on the last planned date
    assert budget.time_phased[-1].pv == approx(project.bac)
    # later: Design closed, Launch half done and shown Mon 10 - Wed 12 (its remaining work)
    data = snapshot.model_dump(mode="json", exclude_none=True)
    data["items"][0].update(status="closed", closed_on="2025-03-07")
    data["items"][1].update(done_ratio=50)
    later = plan(make_snapshot(data), settings, dt.date(2025, 3, 10))
    m2_later = budget_of(later).milestones["m2"]
    # B is planned over its full 5 days (40 h) from Mon 10, not over the 3 days of remaining
    # work the plan shows: labour 1/5 x 400; hosting spread over the same 5 days: 1/5 x 1,000
    assert m2_later.pv == approx(400 / 5 + 1_000 / 5)
    assert m2_later.ev == approx(200 + 500)  # 50 % of labour; hosting earned at 50 % too
    assert m2_later.ac == approx(500)  # undated fixed cost: assumed paid as earned


def test_summary_items_sum_their_leaves_and_no_budget_means_no_overlay() -> None:
    data = {
        "project": {"name": "tree", "start": "2025-03-03"},
        "items": [
            {"key": "P", "estimate_hours": 999},
            {"key": "A", "estimate_hours": 8, "parent": "P", "done_ratio": 50},
            {"key": "B", "estimate_hours": 16, "parent": "P"},
        ],
        "time_entries": [
            {"item": "A", "person": "x", "hours": 2, "date": "2025-03-03"},
            {"item": "P", "person": "x", "hours": 1, "date": "2025-03-03"},
        ],
    }
    result = plan(make_snapshot(data), make_settings({"default_rate": 10}), dt.date(2025, 3, 3))
    parent = result.items["P"]
    assert parent.planned_cost == 240  # leaves only: the parent's own 999 h are not costed
    assert parent.earned_value == 40
    assert parent.actual_cost == 30  # A's 20 + its own entry 10
    assert budget_of(result).project.bac == 240
    assert budget_of(result).project.ac == 30

    bare = plan(make_snapshot(data), Settings(), dt.date(2025, 3, 3))
    assert bare.overlays.budget is None
    assert bare.items["A"].planned_cost is None
    assert not [w for w in bare.warnings if w.code.startswith("budget.")]


def test_spent_hours_without_time_entries_count_as_actual_cost() -> None:
    snapshot = make_snapshot(
        {
            "project": {"name": "spent", "start": "2025-03-03"},
            "items": [{"key": "A", "estimate_hours": 8, "spent_hours": 5, "assignee": "Ann"}],
        }
    )
    result = plan(snapshot, make_settings({"rates": {"Ann": 20}}), dt.date(2025, 3, 3))
    assert result.items["A"].actual_cost == 100
    assert budget_of(result).project.ac == 100


def test_overlay_is_json_serialisable() -> None:
    result = plan(
        make_snapshot(HOLIDAY_WEEK), make_settings({"rates": {"Ann": 1}}), dt.date(2025, 3, 4)
    )
    data = result.to_json_dict()["overlays"]["budget"]
    assert data["currency"] == "EUR"
    assert data["time_phased"][0]["date"] == "2025-03-03"
    assert set(data["project"]["eac_by_method"]) == {EAC_TYPICAL, EAC_ATYPICAL, EAC_COMBINED}


# ------------------------------------------------- PV without a baseline, EAC settings


ON_PLAN = {
    "project": {"name": "on plan", "start": "2025-03-03"},
    "items": [
        # 80 h at 8 h/day = 10 working days from Mon 3 March, half done by Fri 7 March
        {"key": "T", "estimate_hours": 80, "start": "2025-03-03", "done_ratio": 50},
    ],
}


def test_task_exactly_on_plan_has_spi_one_without_a_baseline() -> None:
    """By the end of Fri 7 March 5 of the 10 planned days have passed and 50 % is done:
    PV = 5/10 x 8,000 = 4,000 = EV, SPI 1.0 (the status date is not counted twice)."""
    result = plan(
        make_snapshot(ON_PLAN),
        make_settings({"rates": {}, "default_rate": 100}),
        dt.date(2025, 3, 7),
    )
    f = budget_of(result).project
    assert (f.bac, f.pv, f.ev) == (8_000, approx(4_000), approx(4_000))
    assert f.spi == approx(1.0)


def test_task_late_to_start_is_owed_its_planned_days() -> None:
    """A 5-day task planned from Mon 3 March, not started by Mon 10 (5 working days late):
    all five planned days have passed, PV = 40 h x 100 = 4,000, EV = 0."""
    snapshot = make_snapshot(
        {
            "project": {"name": "late", "start": "2025-03-03"},
            "items": [{"key": "L", "estimate_hours": 40, "start": "2025-03-03"}],
        }
    )
    result = plan(snapshot, make_settings({"default_rate": 100}), dt.date(2025, 3, 10))
    assert result.items["L"].early_start == dt.date(2025, 3, 10)  # rescheduled from today
    assert result.items["L"].planned_value == approx(4_000)
    f = budget_of(result).project
    assert (f.pv, f.ev, f.spi) == (approx(4_000), 0, 0)


def test_explicit_eac_per_project_and_milestone_and_the_eac_method_setting() -> None:
    """BAC 10,000 (100 h x 100), 40 % done (EV 4,000), 45 h booked (AC 4,500)."""
    snapshot = make_snapshot(
        {
            "project": {"name": "eac", "start": "2025-03-03"},
            "milestones": [{"key": "r1", "name": "Release"}],
            "items": [
                {
                    "key": "A",
                    "estimate_hours": 100,
                    "done_ratio": 40,
                    "milestone": "r1",
                    "start": "2025-03-03",
                },
            ],
            "time_entries": [{"item": "A", "person": "x", "hours": 45, "date": "2025-03-05"}],
        }
    )
    settings = make_settings(
        {
            "default_rate": 100,
            "eac_method": "AC+(BAC-EV)",
            "project_eac": 12_000,
            "milestone_eac": {"release": 11_000, "Nope": 1},  # names match ignoring case
        }
    )
    result = plan(snapshot, settings, dt.date(2025, 3, 7))
    budget = budget_of(result)
    project, release = budget.project, budget.milestones["r1"]
    for f in (project, release):
        assert (f.bac, f.ev, f.ac) == (10_000, approx(4_000), approx(4_500))
        assert (f.eac_method, f.eac) == (EAC_ATYPICAL, approx(10_500))  # 4,500 + 6,000
        assert f.tcpi == approx(6_000 / 5_500)
    assert project.tcpi_eac == approx(6_000 / 7_500)  # (BAC-EV)/(EAC-AC) = 0.8
    assert release.tcpi_eac == approx(6_000 / 6_500)  # 0.9231
    (warning,) = [w for w in result.warnings if w.code == "budget.eac_milestone"]
    assert "Nope" in warning.message
    # the wiki's EVM table gains the explicit EAC and the TCPI to it
    document = build_report(result, snapshot, style=PlainStyle())
    (table,) = [b for b in document.blocks if isinstance(b, Table) and "TCPI" in b.header]
    assert table.header[-2:] == ["Explicit EAC", "TCPI (EAC)"]
    assert [row[-2:] for row in table.rows] == [["11,000", "0.92"], ["12,000", "0.80"]]
