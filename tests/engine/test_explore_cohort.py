"""Cohorts: filters over the seeded datasets and saved definitions in the store."""
from __future__ import annotations

import pytest

from engine.errors import InputError, NotFoundError
from engine.frames import dataset_frame
from engine.stats.cohort import CohortSpec, Filter, build_cohort, column_kinds, level_options
from engine.store import cohorts as store

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)


def test_filters_match_pandas_selection(seeded_db):
    frame = dataset_frame(seeded_db, "uci_heart")
    spec = CohortSpec("uci_heart", (Filter("age", "between", (40, 60)), Filter("sex", "in", ("male",)),
                                    Filter("exercise_angina", "in", ("1",))))
    cohort = build_cohort(seeded_db, spec, "men 40-60 with angina")
    expected = frame[(frame["age"] >= 40) & (frame["age"] <= 60) & (frame["sex"] == "male")
                     & (frame["exercise_angina"] == 1)]
    assert cohort.n == len(expected) > 100
    assert list(cohort.frame.index) == list(expected.index)
    assert cohort.n_source == 920
    assert cohort.label == f"men 40-60 with angina (n={cohort.n:,})"
    assert "age from 40 to 60" in cohort.definition() and "sex in {male}" in cohort.definition()


def test_open_ranges_missing_values_and_not_missing(seeded_db):
    frame = dataset_frame(seeded_db, "uci_heart")
    c = build_cohort(seeded_db, CohortSpec("uci_heart", (Filter("total_cholesterol", "between", (None, 200)),)))
    assert c.n == int((frame["total_cholesterol"] <= 200).sum())  # missing never meets a condition
    c = build_cohort(seeded_db, CohortSpec("uci_heart", (Filter("thallium", "not_missing"),)))
    assert c.n == int(frame["thallium"].notna().sum())


def test_date_filter_on_text_dates(seeded_db):
    import pandas as pd

    from engine.stats.cohort import apply_filters

    # Synthetic edge case: the seeded data sets carry no dates.
    frame = pd.DataFrame({"visit": ["2020-01-05", "2021-06-30", None, "2023-02-01"]})
    out = apply_filters(frame, [Filter("visit", "date_between", ("2020-06-01", "2022-12-31"))])
    assert list(out["visit"]) == ["2021-06-30"]
    assert column_kinds(frame)["visit"] == "date"


def test_unknown_column_and_operation_are_clear_errors(seeded_db):
    with pytest.raises(InputError, match="column 'nope'"):
        build_cohort(seeded_db, CohortSpec("uci_heart", (Filter("nope", "in", ("x",)),)))
    with pytest.raises(InputError, match="Unknown filter operation"):
        build_cohort(seeded_db, CohortSpec("uci_heart", (Filter("age", "like", ("x",)),)))
    with pytest.raises(NotFoundError):
        build_cohort(seeded_db, CohortSpec("no_such_dataset"))


def test_column_kinds_and_levels(seeded_db):
    frame = dataset_frame(seeded_db, "uci_heart")
    kinds = column_kinds(frame)
    assert kinds["age"] == "numeric" and kinds["sex"] == "categorical"
    assert kinds["exercise_angina"] == "categorical" and kinds["cad_grade"] == "categorical"
    assert "source" not in kinds
    assert level_options(frame["uci_site"]) == ["Cleveland", "Hungary", "Switzerland", "VA Long Beach"]
    assert level_options(frame["exercise_angina"]) == ["0", "1"]


def test_saved_cohorts_round_trip(seeded_db):
    spec = CohortSpec("pima_diabetes", (Filter("bmi", "between", (30, None)), Filter("condition_E11", "in", ("1",))))
    n = build_cohort(seeded_db, spec).n
    store.save_cohort(seeded_db, name="Obese diabetics", dataset="pima_diabetes", spec=spec.to_dict(), n=n,
                      created_by="ana")
    rows = store.list_cohorts(seeded_db, "pima_diabetes")
    assert [r["name"] for r in rows] == ["Obese diabetics"] and rows[0]["n"] == n
    again = CohortSpec.from_dict(store.get_cohort(seeded_db, "obese diabetics")["spec"])
    assert again == spec
    assert build_cohort(seeded_db, again).n == n
    with pytest.raises(InputError, match="already exists"):
        store.save_cohort(seeded_db, name="Obese diabetics", dataset="pima_diabetes", spec=spec.to_dict(), n=n,
                          created_by="ana")
    store.save_cohort(seeded_db, name="Obese diabetics", dataset="pima_diabetes", spec=spec.to_dict(), n=1,
                      created_by="ana", replace=True)
    assert store.get_cohort(seeded_db, "Obese diabetics")["n"] == 1
    with pytest.raises(InputError, match="needs a name"):
        store.save_cohort(seeded_db, name="  ", dataset="x", spec={}, n=0, created_by=None)
    store.delete_cohort(seeded_db, "Obese diabetics")
    assert store.list_cohorts(seeded_db) == []
    with pytest.raises(NotFoundError):
        store.delete_cohort(seeded_db, "Obese diabetics")


def test_derived_binary_variable_is_part_of_the_definition(seeded_db):
    """Issue 12: a derived variable (num > 0) usable as a binary outcome, saved with the cohort."""
    from engine.stats.cohort import Derived
    from engine.stats.regression import fit_regression, quote

    frame = dataset_frame(seeded_db, "uci_heart")
    spec = CohortSpec("uci_heart", derived=(Derived("cad_grade", ">", 0),))
    cohort = build_cohort(seeded_db, spec)
    derived = cohort.frame["cad_grade > 0"]
    expected = (frame["cad_grade"] > 0).astype(float).where(frame["cad_grade"].notna())
    assert derived.equals(expected) and int(derived.sum()) == int((frame["cad_grade"] > 0).sum())
    assert "derived: cad_grade > 0 (1 = yes, 0 = no)" in cohort.definition()
    assert CohortSpec.from_dict(spec.to_dict()) == spec
    assert "derived" not in CohortSpec("uci_heart").to_dict()           # older saved cohorts read the same
    res = fit_regression(cohort.frame, f"{quote('cad_grade > 0')} ~ age", "logistic")
    assert res.n == 920 and res.coefficients["term"].tolist() == ["Intercept", "age"]
    with pytest.raises(InputError, match="numeric column"):
        build_cohort(seeded_db, CohortSpec("uci_heart", derived=(Derived("sex", ">", 0),)))


def test_true_false_columns_are_binary_outcomes():
    """Synthetic edge case (the demo data hold no True/False text): an import's True/False column."""
    from engine.stats.common import binary_values, is_binary
    from engine.stats.regression import fit_regression

    rng = __import__("numpy").random.default_rng(3)
    x = rng.normal(size=200)
    y = (x + rng.normal(size=200) > 0)
    import pandas as pd

    frame = pd.DataFrame({"x": x, "flag_text": pd.Series(y).map({True: "True", False: "false"}),
                          "flag_bool": y, "flag_01": y.astype(int)})
    assert all(is_binary(frame[c]) for c in ("flag_text", "flag_bool", "flag_01"))
    assert binary_values(frame["flag_text"]).equals(frame["flag_01"].astype(float))
    fits = [fit_regression(frame, f"{c} ~ x", "logistic").coefficients["estimate"] for c in
            ("flag_text", "flag_bool", "flag_01")]
    assert all(f.tolist() == pytest.approx(fits[2].tolist()) for f in fits)


def test_zero_one_groups_carry_value_labels(seeded_db):
    """Issue 12: 0/1 groups read "0 (no)" / "1 (yes)" where the vocabulary defines them."""
    from engine.stats.common import group_codes

    frame = dataset_frame(seeded_db, "heart_failure")
    assert group_codes(frame["smoking"])[1] == ["0 (no)", "1 (yes)"]
    assert group_codes(frame["sex"])[1] == ["female", "male"]               # the dataset's own labels
    wdbc = dataset_frame(seeded_db, "wdbc")
    assert group_codes(wdbc["fna_malignant"])[1] == ["0 (benign)", "1 (malignant)"]
    import pandas as pd

    assert group_codes(pd.Series([0, 1, 1], name="unknown_flag"))[1] == ["0", "1"]   # no invented labels
