"""Every fact about a plan field lives in the registry; the tables built from it agree."""

from __future__ import annotations

from tracker_bridge.adapters.github.projects import FIELD_TYPES
from tracker_bridge.adapters.redmine.fields import EXPECTED_FORMATS, OPTIONAL_FIELD_PURPOSE
from tracker_bridge.demo.prepare import OUR_CUSTOM_FIELDS
from tracker_bridge.plan_fields import PLAN_FIELDS, required_fields
from tracker_bridge.publish.fields import _VALUES
from tracker_bridge.settings import FieldNames


def test_the_config_knows_every_field_by_its_default_name() -> None:
    names = FieldNames()
    assert names.logical_names() == [f.name for f in PLAN_FIELDS]
    assert [getattr(names, f.name) for f in PLAN_FIELDS] == [f.label for f in PLAN_FIELDS]
    assert names.required() == required_fields()
    assert required_fields() == [
        "critical",
        "total_float",
        "early_start",
        "early_finish",
        "late_finish",
    ]


def test_every_field_has_a_value_and_a_native_type_in_each_tracker() -> None:
    assert set(_VALUES) == {f.name for f in PLAN_FIELDS}
    assert set(EXPECTED_FORMATS) == {f.name for f in PLAN_FIELDS}
    assert (EXPECTED_FORMATS["critical"], EXPECTED_FORMATS["planned_cost"]) == ("bool", "float")
    # all ten on a GitHub board too (the three budget/baseline ones were missing once)
    assert FIELD_TYPES["critical"] == "SINGLE_SELECT"
    assert FIELD_TYPES["p80_finish"] == "DATE"
    assert {FIELD_TYPES[n] for n in ("criticality", "planned_cost", "slip_days")} == {"NUMBER"}
    assert set(FIELD_TYPES) == {f.name for f in PLAN_FIELDS}


def test_optional_fields_say_what_a_team_misses_and_the_local_redmine_has_them_all() -> None:
    optional = {f.name for f in PLAN_FIELDS if f.overlay is not None}
    assert set(OPTIONAL_FIELD_PURPOSE) == optional
    assert all(OPTIONAL_FIELD_PURPOSE.values())
    assert {(f.label, f.kind) for f in PLAN_FIELDS} <= set(OUR_CUSTOM_FIELDS)
