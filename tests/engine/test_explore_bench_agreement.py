"""The Table 1 benchmark's agreement check, on a small sample (no timing here: bench/table1.py times)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "table1.py"


def test_table_one_agrees_with_tableone_package_on_synthetic_trial():
    spec = importlib.util.spec_from_file_location("bench_table1", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    data = bench.make_data(3000, seed=7)   # synthetic by design: the benchmark's population, smaller
    columns = [c for c in data.columns if c != "arm"]
    ours = bench.run_ours(data, columns)
    nonnormal = list(ours.tests.loc[ours.tests["summary"] == "median [IQR]", "variable"])
    assert {"crp", "nt_probnp"} <= set(nonnormal)
    checked = bench.check_agreement(ours, bench.run_tableone(data, columns, nonnormal), nonnormal)
    assert len(checked) >= 15
