"""The model's per-hour calibration arithmetic (synthetic calibrators and members: edge cases of the
interpolation, not of any fit), and the shipped 1.2.0 against 1.1.0 on real set A records."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from engine.config import get_settings
from engine.icu.model import IcuMortalityModel, apply_calibrator, calibrate_at_hours
from engine.models.metrics import logit

EARLY = {"kind": "platt", "intercept": -1.0, "coef": [1.0]}
SHIPPED = {"kind": "platt", "intercept": 0.0, "coef": [1.0]}
DATA = get_settings().icu_data_dir


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + np.exp(-z))


def test_between_two_fitted_hours_the_logit_is_interpolated():
    calibrators = [(6.0, EARLY), (48.0, SHIPPED)]
    raw = np.full(5, 0.3)
    got = calibrate_at_hours(calibrators, raw, np.array([1.0, 6.0, 27.0, 48.0, 70.0]))
    z = float(logit(np.array([0.3]))[0])
    # before the first hour the first calibrator; half-way the logit half-way; from 48 h on the shipped one
    assert got == pytest.approx([_sigmoid(z - 1), _sigmoid(z - 1), _sigmoid(z - 0.5), 0.3, 0.3])


def test_member_risks_are_calibrated_at_their_stay_s_hour():
    calibrators = [(6.0, EARLY), (48.0, SHIPPED)]
    members = np.array([[0.3, 0.3], [0.6, 0.6]])  # 2 members x 2 stays
    got = calibrate_at_hours(calibrators, members, np.array([6.0, 48.0]))
    assert got.shape == (2, 2)
    assert got[:, 1] == pytest.approx([0.3, 0.6])  # stay 2 at 48 h: the shipped calibrator (identity)
    assert got[:, 0] == pytest.approx(apply_calibrator(EARLY, np.array([0.3, 0.6])))


class _Fixed:
    """A member whose raw risk is the same for every stay."""

    def __init__(self, risk: float) -> None:
        self.risk = risk

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.column_stack([np.full(len(X), 1 - self.risk), np.full(len(X), self.risk)])


def test_predict_reads_each_row_s_hour_and_alerts_on_the_calibrated_risk():
    model = IcuMortalityModel(members_=[_Fixed(0.4), _Fixed(0.4)], features_=["a"], calibrator_=SHIPPED,
                              threshold_=0.35, hour_calibrators_=[(6.0, EARLY), (48.0, SHIPPED)])
    out = model.predict(pd.DataFrame({"a": [1.0, 1.0], "hours_observed": [6.0, 48.0]}))
    assert out["risk"] == pytest.approx([apply_calibrator(EARLY, np.array([0.4]))[0], 0.4])
    assert out["alert"].tolist() == [0, 1]  # 0.2 at 6 h is under the 35% threshold; 0.4 at 48 h is over
    without_hours = model.predict(pd.DataFrame({"a": [1.0]}))
    assert without_hours["risk"] == pytest.approx([0.4])  # no hour given: the 48-hour calibrator


@pytest.mark.skipif(not (DATA / "set-a").is_dir(), reason=f"PhysioNet 2012 set A is not at {DATA}")
def test_shipped_1_2_0_keeps_the_48_hour_contract_and_lowers_early_risks(tmp_path):
    """Real records: `icu predict` (48 h) gives 1.1.0's risks exactly; a 6-hour risk is lower than 1.1.0's, as
    the out-of-fold figures showed 1.1.0 over-estimating early (calibration intercept -0.86 at 6 h)."""
    from engine.icu.predict import predict_stays
    from engine.icu.records import read_challenge_dir

    records = tmp_path / "records"
    records.mkdir()
    for path in sorted((DATA / "set-a").glob("*.txt"))[:40]:
        shutil.copy(path, records / path.name)
    stays, _report = read_challenge_dir(records)
    old, new = predict_stays(stays, version="1.1.0"), predict_stays(stays, version="1.2.0")
    assert new["risk"].to_numpy() == pytest.approx(old["risk"].to_numpy(), abs=1e-12)
    assert (new["alert"] == old["alert"]).all()
    early_old = predict_stays(stays, horizon=6.0, version="1.1.0")["risk"].mean()
    early_new = predict_stays(stays, horizon=6.0, version="1.2.0")["risk"].mean()
    assert early_new < 0.8 * early_old
