"""The ICU import's cleaning rules and readers. Records here are synthetic edge cases, written
in the challenge's own format; the real set A is read at the end when ../shared is present."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.errors import InputError
from engine.icu.records import (CleaningReport, read_challenge_dir, read_challenge_file, read_fhir_observations,
                                read_long_csv)

from engine.config import get_settings

SET_A = get_settings().icu_data_dir / "set-a"


def _write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("Time,Parameter,Value\n" + "\n".join(lines) + "\n")
    return path


def test_each_cleaning_rule_is_applied_and_counted(tmp_path):
    path = _write(tmp_path, "100001.txt", [
        "00:00,RecordID,100001", "00:00,Age,201", "00:00,Gender,1", "00:00,Height,-1", "00:00,Weight,-1",
        "00:10,HR,0", "00:10,Temp,98.6", "00:10,FiO2,50", "00:10,pH,735", "00:10,RespRate,400",
        "00:20,HR,88", "00:20,Urine,0"])
    report = CleaningReport()
    stay = read_challenge_file(path, report)
    counts = report.as_dict()["cleaned"]
    assert counts == {"missing_marker": 2, "temp_fahrenheit": 1, "fio2_percent": 1, "ph_decimal": 1,
                      "zero_as_missing": 1, "implausible": 1, "age_over_89": 1, "conflicting_descriptor": 0}
    assert stay.descriptors == {"Age": 90.0, "Gender": 1.0}
    got = {p: v for _, p, v in stay.series.itertuples(index=False)}
    assert np.isclose(got["Temp"], 37.0) and np.isclose(got["FiO2"], 0.5) and np.isclose(got["pH"], 7.35)
    assert got["HR"] == 88 and got["Urine"] == 0  # a zero urine output is real; a zero heart rate is not
    assert "RespRate" not in got


def test_conflicting_ages_take_the_median_and_are_counted(tmp_path):
    path = _write(tmp_path, "100002.txt", ["00:00,RecordID,100002", "00:00,Age,74", "00:00,Age,68", "00:00,Age,73"])
    report = CleaningReport()
    stay = read_challenge_file(path, report)
    assert stay.descriptors["Age"] == 73.0
    assert report.counts["conflicting_descriptor"] == 1


def test_bad_files_are_refused_with_the_place(tmp_path):
    headless = tmp_path / "1.txt"
    headless.write_text("a,b\n")
    with pytest.raises(InputError, match="header"):
        read_challenge_file(headless, CleaningReport())
    bad = _write(tmp_path, "100003.txt", ["00:00,RecordID,100003", "01:00,HR,fast"])
    with pytest.raises(InputError, match="line 3"):
        read_challenge_file(bad, CleaningReport())
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no record files"):
        read_challenge_dir(tmp_path / "empty")


def test_long_csv_with_iso_times_units_and_bad_rows():
    text = ("patient,time,parameter,value,unit\n"
            "A,2026-01-01T08:00:00,HR,90,/min\n"
            "A,2026-01-01T10:30:00,Temp,100.4,degF\n"
            "B,1:30,HR,70,\n")
    report = CleaningReport()
    stays = {s.record_id: s for s in read_long_csv(text, report)}
    a = stays["A"].series
    assert list(a["hours"]) == [0.0, 2.5] and np.isclose(a["value"].iloc[1], 38.0)
    assert stays["B"].series["hours"].iloc[0] == 1.5
    with pytest.raises(InputError, match="row\\(s\\) 2"):
        read_long_csv("patient,time,parameter,value,unit\nA,1,HR,90,mmol/L\n", CleaningReport())
    with pytest.raises(InputError, match="not a number in row\\(s\\) 3"):
        read_long_csv("patient,time,parameter,value\nA,1,HR,90\nA,2,HR,n/a\n", CleaningReport())


def test_fhir_observation_series():
    def obs(t, code, value):
        return {"resource": {"resourceType": "Observation", "subject": {"reference": "Patient/x1"},
                             "effectiveDateTime": t, "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                             "valueQuantity": {"value": value}}}
    doc = {"resourceType": "Bundle", "entry": [obs("2026-01-01T00:00:00Z", "8867-4", 120),
                                               obs("2026-01-01T06:00:00Z", "8867-4", 100),
                                               obs("2026-01-01T06:00:00Z", "9999-9", 1)]}
    report = CleaningReport()
    (stay,) = read_fhir_observations(json.loads(json.dumps(doc)), report)
    assert list(stay.series["hours"]) == [0.0, 6.0]
    assert report.unknown_parameters["fhir:9999-9"] == 1


@pytest.mark.skipif(not SET_A.is_dir(), reason="PhysioNet 2012 set A is not at ../shared/data/physionet2012")
def test_real_set_a_slice_reads_clean():
    stays, report = read_challenge_dir(SET_A, limit=200)
    assert len(stays) == 200
    d = report.as_dict()
    assert d["values_kept"] > 50_000 and not d["unknown_parameters"]
    assert all(15 <= s.descriptors.get("Age", 50) <= 90 for s in stays)


def test_records_as_other_tools_save_them_read_the_same(tmp_path):
    """The `icu predict` contract reads whatever folder it is given: a byte-order mark, Windows line ends or an
    ICUType line (the original challenge files have one; the shared set A does not) change nothing else."""
    lines = ["00:00,RecordID,140001", "00:00,Age,71", "00:00,Gender,1", "00:12,HR,88", "01:00,HR,94",
             "01:00,Lactate,2.4"]
    plain = tmp_path / "plain"
    odd = tmp_path / "odd"
    plain.mkdir(), odd.mkdir()
    text = "Time,Parameter,Value\n" + "\n".join(lines) + "\n"
    (plain / "140001.txt").write_text(text)
    (odd / "140001.txt").write_bytes(b"\xef\xbb\xbf" + text.replace("00:00,Age", "00:00,ICUType,3\n00:00,Age")
                                     .replace("\n", "\r\n").encode())
    (a,), _ = read_challenge_dir(plain)
    (b,), _ = read_challenge_dir(odd)
    assert b.record_id == a.record_id == "140001"
    assert b.series.equals(a.series)
    assert b.descriptors == {**a.descriptors, "ICUType": 3.0}
