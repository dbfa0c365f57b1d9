"""AppTests for /capacity: a manager loads an export, forecasts, sizes beds, builds a roster, saves and compares
scenarios; bad rows are reported by row number; clinicians and analysts are refused."""
from __future__ import annotations

import json

import pytest

from engine.capacity.sample import sample_admissions_csv
from tests.pages.apptest_helpers import open_page, registered_url_paths

@pytest.fixture(scope="module")
def export_with_bad_rows() -> bytes:
    """The SYNTHETIC sample history plus three broken rows at known file rows."""
    lines = sample_admissions_csv(weeks=12).decode().splitlines()
    n = len(lines)
    lines += ["S900001,ICU,2026-10-01 10:00,2026-09-30 10:00",  # discharge before admit: row n+1
              "S900002,Maternity,2026-10-01 10:00,2026-10-03 10:00",  # unknown unit: row n+2
              "S900003,ICU,yesterday,2026-10-07 10:00"]  # admit not a date: row n+3
    return ("\n".join(lines) + "\n").encode(), n


@pytest.mark.parametrize("role", ["clinician", "analyst"])
def test_other_roles_are_refused(role, seeded_db):
    at = open_page("capacity", role=role)
    assert not at.exception
    assert "capacity" not in registered_url_paths(at)  # the deep link falls back to Home
    assert "Capacity" not in [t.value for t in at.title]
    assert not at.get("file_uploader") and not at.get("radio")


def test_manager_plans_from_an_upload(seeded_db, export_with_bad_rows, monkeypatch):
    monkeypatch.setenv("CLINSIGHT_CAPACITY_REPS", "40")
    monkeypatch.setenv("CLINSIGHT_ROSTER_SECONDS", "10")
    data, n = export_with_bad_rows
    at = open_page("capacity", role="manager", username="maria")
    assert not at.exception and not at.error
    at.get("file_uploader")[0].set_value(("admissions.csv", data, "text/csv"))
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    warnings = [w.value for w in at.warning]
    assert any("discharge before admit" in w and f"rows {n + 1}" in w for w in warnings), warnings
    assert any("unit not in the list" in w and f"rows {n + 2}" in w for w in warnings), warnings
    assert any("not a date" in w and f"rows {n + 3}" in w for w in warnings), warnings
    assert not any("S9000" in w for w in warnings)  # row numbers, never patient numbers
    at.multiselect(key="cap_plan_units").set_value(["ICU"])
    at.button(key="cap_forecast_export").click().run()
    assert not at.error, [e.value for e in at.error]
    fan = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = [t.get("name") for t in fan["data"]]
    assert {"90% band", "50% band", "median forecast", "observed census"} <= set(names)
    at.button(key="cap_size_beds").click().run()
    assert not at.error, [e.value for e in at.error]
    beds = [m for m in at.metric if m.label == "Beds needed"]
    assert beds and int(beds[0].value) > 0
    at.number_input(key="cap_ratio_ICU").set_value(6.0)
    at.number_input(key="cap_nurses").set_value(26)
    at.button(key="cap_build_roster").click().run()
    assert not at.error, [e.value for e in at.error]
    assert any("Roster for 26 nurses x 28 days" in s.value for s in at.success)
    assert at.get("download_button")
    at.text_input(key="cap_scenario_name").set_value("baseline")
    at.button(key="cap_save_scenario").click().run()
    assert any("Saved scenario 'baseline'" in s.value for s in at.success)
    compare = next(d.value for d in at.dataframe if "scenario" in d.value.columns)
    assert compare.loc[0, "scenario"] == "baseline" and compare.loc[0, "recommended_beds"] == int(beds[0].value)


def test_manager_plans_from_parameters_and_sees_an_impossible_roster(seeded_db, monkeypatch):
    monkeypatch.setenv("CLINSIGHT_CAPACITY_REPS", "40")
    at = open_page("capacity", role="manager", username="maria")
    at.radio(key="cap_source").set_value("Parameters").run()
    at.selectbox(key="cap_los_kind").set_value("Exponential").run()
    at.button(key="cap_forecast_params").click().run()
    assert not at.error, [e.value for e in at.error]
    at.number_input(key="cap_nurses").set_value(10)
    at.number_input(key="cap_max_nights").set_value(2)
    at.button(key="cap_build_roster").click().run()
    errors = [e.value for e in at.error]
    assert any("10 nurses cannot cover" in e and "at most 2 nights each in 4 weeks" in e for e in errors), errors
