"""The flake detector's reading of JUnit XML (tests/repeat.py): ids as pytest prints them, failures and
errors kept with their first line, a teardown error after a pass counted as a failure."""
from __future__ import annotations

from tests.repeat import read_junit

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4">
  <testcase classname="tests.e2e.test_records" name="test_import[csv]" time="1.0"/>
  <testcase classname="tests.e2e.test_records" name="test_import[xlsx]" time="1.0">
    <failure message="AssertionError: grid not drawn&#10;second line">trace</failure></testcase>
  <testcase classname="tests.test_repeat" name="test_ok" time="0.1"/>
  <testcase classname="tests.test_repeat" name="test_ok" time="0.1">
    <error message="failed on teardown with &quot;OSError&quot;">trace</error></testcase>
  <testcase classname="tests.engine.test_store" name="test_skipped" time="0.0"><skipped message="no"/></testcase>
</testsuite></testsuites>
"""


def test_read_junit_names_tests_by_file_and_keeps_the_first_line_of_each_problem(tmp_path):
    path = tmp_path / "run-1.xml"
    path.write_text(JUNIT)
    outcomes = read_junit(path)
    assert outcomes == {
        "tests/e2e/test_records.py::test_import[csv]": None,
        "tests/e2e/test_records.py::test_import[xlsx]": "failure: AssertionError: grid not drawn",
        "tests/test_repeat.py::test_ok": 'error: failed on teardown with "OSError"',
        "tests/engine/test_store.py::test_skipped": None,
    }


def test_a_run_that_wrote_no_report_has_no_outcomes(tmp_path):
    assert read_junit(tmp_path / "missing.xml") == {}
