"""Benchmark: ClinSight's Table 1 against the ``tableone`` package on the same data, same run.

Data: 100,000 synthetic-but-realistic patients x 20 variables (two trial arms;
vitals and labs with clinical means/SDs, right-skewed labs drawn log-normal,
categorical risk factors with realistic prevalences, 1-15% missing values).
Both tools get the same columns, the same categorical list and the same
non-normal list (ours decides by skewness; tableone is told the result), both
leave missing values out of the percentages and tests (tableone's
``include_null=False``), and both compute p-values and SMDs. tableone runs without its optional remarks
(normality, Tukey, dip tests) while ours still computes skewness and
far-outlier remarks, so the comparison does not favour ours.

Before timing, the two tables are checked to agree: group n, mean (SD),
median [Q1, Q3], n (%), Welch and chi-square p-values and SMDs for several
cells. Last line: one JSON object.

Run: ``.venv/bin/python bench/table1.py [--rows 100000] [--repeats 3]``
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.stats.table_one import compute_table_one  # noqa: E402


def make_data(rows: int, seed: int = 42) -> pd.DataFrame:
    """Synthetic trial population; arm B has slightly lower blood pressure and LDL."""
    rng = np.random.default_rng(seed)
    arm = rng.choice(["A", "B"], size=rows, p=[0.5, 0.5])
    b = arm == "B"
    sex = rng.choice(["female", "male"], size=rows, p=[0.46, 0.54])
    age = np.clip(rng.normal(63, 11, rows), 18, 99).round()
    bmi = np.clip(rng.normal(28.4, 5.2, rows), 15, 60).round(1)
    sbp = rng.normal(136, 18, rows) - 2.0 * b
    dbp = rng.normal(81, 11, rows) - 1.0 * b
    hr = rng.normal(74, 12, rows)
    ldl = rng.normal(3.1, 0.9, rows) - 0.15 * b
    hdl = rng.normal(1.3, 0.35, rows)
    hba1c = rng.lognormal(np.log(5.9), 0.16, rows)
    creat = rng.lognormal(np.log(88), 0.3, rows)
    crp = rng.lognormal(np.log(2.5), 1.1, rows)
    ntprobnp = rng.lognormal(np.log(180), 1.2, rows)
    egfr = np.clip(rng.normal(76, 19, rows), 5, 140)
    smoking = rng.choice(["never", "former", "current"], size=rows, p=[0.45, 0.35, 0.20])
    diabetes = (rng.random(rows) < 0.24).astype(int)
    hypertension = (rng.random(rows) < 0.58 - 0.02 * b).astype(int)
    nyha = rng.choice(["I", "II", "III", "IV"], size=rows, p=[0.35, 0.40, 0.20, 0.05])
    ethnicity = rng.choice(["White", "Black", "Asian", "Hispanic", "Other"], size=rows,
                           p=[0.62, 0.13, 0.12, 0.10, 0.03])
    site = rng.choice([f"site {i}" for i in range(1, 7)], size=rows)
    prior_mi = (rng.random(rows) < 0.08).astype(int)
    frame = pd.DataFrame({
        "arm": arm, "age": age, "sex": sex, "bmi": bmi, "systolic_bp": sbp.round(), "diastolic_bp": dbp.round(),
        "heart_rate": hr.round(), "ldl": ldl.round(2), "hdl": hdl.round(2), "hba1c": hba1c.round(1),
        "creatinine": creat.round(), "crp": crp.round(2), "nt_probnp": ntprobnp.round(), "egfr": egfr.round(),
        "smoking": smoking, "diabetes": diabetes, "hypertension": hypertension, "nyha_class": nyha,
        "ethnicity": ethnicity, "site": site, "prior_mi": prior_mi,
    })
    missing = {"bmi": 0.03, "ldl": 0.08, "hdl": 0.08, "hba1c": 0.12, "crp": 0.15, "nt_probnp": 0.10,
               "smoking": 0.02, "egfr": 0.05}
    for col, share in missing.items():
        frame.loc[rng.random(rows) < share, col] = np.nan
    return frame


CATEGORICAL = ["sex", "smoking", "diabetes", "hypertension", "nyha_class", "ethnicity", "site", "prior_mi"]


def run_ours(data: pd.DataFrame, columns: list[str]):
    return compute_table_one(data, columns, "arm", categorical=CATEGORICAL, decimals=1)


def run_tableone(data: pd.DataFrame, columns: list[str], nonnormal: list[str]):
    from tableone import TableOne

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TableOne(data, columns=columns, categorical=CATEGORICAL, groupby="arm", nonnormal=nonnormal,
                        pval=True, smd=True, htest_name=True, decimals=1, missing=True,
                        include_null=False)


def check_agreement(ours, theirs, nonnormal: list[str]) -> list[str]:
    """Compare several cells; return the names of the cells checked (raises on disagreement)."""
    checked = []
    s = ours.stats
    ht = theirs.htest_table
    cd = theirs.cont_describe
    cat = theirs.cat_describe

    def ours_row(var, group, level=""):
        return s[(s["variable"] == var) & (s["group"] == group) & (s["level"] == level)].iloc[0]

    for var in ["age", "systolic_bp", "ldl"]:
        for g in ["A", "B"]:
            assert np.isclose(ours_row(var, g)["mean"], cd.loc[var, ("mean", g)], rtol=1e-9), var
            assert np.isclose(ours_row(var, g)["sd"], cd.loc[var, ("std", g)], rtol=1e-9), var
        checked.append(f"{var} mean/SD")
    for var in nonnormal[:3]:
        for g in ["A", "B"]:
            assert np.isclose(ours_row(var, g)["median"], cd.loc[var, ("median", g)], rtol=1e-9), var
            assert np.isclose(ours_row(var, g)["q1"], cd.loc[var, ("q25", g)], rtol=1e-9), var
            assert np.isclose(ours_row(var, g)["q3"], cd.loc[var, ("q75", g)], rtol=1e-9), var
        checked.append(f"{var} median [IQR]")
    for var, level in [("smoking", "current"), ("nyha_class", "III"), ("diabetes", "1")]:
        for g in ["A", "B"]:
            lvl_key = level if var != "diabetes" else [k for k in cat.loc[var].index if str(k) in ("1", "1.0")][0]
            theirs_n = cat.loc[(var, lvl_key), ("freq", g)]
            theirs_pct = cat.loc[(var, lvl_key), ("percent", g)]
            row = ours_row(var, g, level)
            assert int(row["count"]) == int(theirs_n), var
            assert np.isclose(row["percent"], theirs_pct, rtol=1e-9), var
        checked.append(f"{var}={level} n (%)")
    tests = ours.tests.set_index("variable")
    for var in ["age", "systolic_bp", "ldl", "smoking", "nyha_class", "ethnicity"]:
        assert np.isclose(tests.loc[var, "p_value"], ht.loc[var, "P-Value"], rtol=1e-6, atol=1e-300), var
        checked.append(f"{var} p ({tests.loc[var, 'test']} vs {ht.loc[var, 'Test']})")
    smd_table = theirs.smd_table
    for var in ["age", "systolic_bp", "smoking", "nyha_class"]:
        assert np.isclose(tests.loc[var, "smd"], abs(float(smd_table.loc[var].iloc[0])), rtol=1e-6), var
        checked.append(f"{var} SMD")
    return checked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = make_data(args.rows)
    columns = [c for c in data.columns if c != "arm"]
    ours = run_ours(data, columns)
    nonnormal = list(ours.tests.loc[ours.tests["summary"] == "median [IQR]", "variable"])
    theirs = run_tableone(data, columns, nonnormal)
    checked = check_agreement(ours, theirs, nonnormal)

    ours_times, theirs_times = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        run_ours(data, columns)
        ours_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        run_tableone(data, columns, nonnormal)
        theirs_times.append(time.perf_counter() - start)
    seconds, tableone_seconds = float(np.median(ours_times)), float(np.median(theirs_times))
    print(f"ours: {['%.3f' % t for t in ours_times]}  tableone: {['%.3f' % t for t in theirs_times]}")
    print(f"agreement checked: {', '.join(checked)}")
    print(json.dumps({"name": "table1", "rows": args.rows, "columns": len(columns), "repeats": args.repeats,
                      "seconds": round(seconds, 4), "tableone_seconds": round(tableone_seconds, 4),
                      "ratio_vs_tableone": round(seconds / tableone_seconds, 4),
                      "nonnormal": nonnormal, "cells_checked": len(checked), "statistics_identical": True}))


if __name__ == "__main__":
    main()
