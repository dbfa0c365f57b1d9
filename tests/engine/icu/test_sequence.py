"""The sequence models' hourly grid (hand-made stays: synthetic, exact answers known) and one short fit
on a small slice of real set A."""
from __future__ import annotations

import numpy as np
import pytest

from engine.icu.parameters import SERIES
from engine.icu.records import CleaningReport, build_stay
from engine.icu.sequence import build_grid, forward_fill, standardise

HR, LACTATE = SERIES.index("HR"), SERIES.index("Lactate")


def _stay(rows):
    return build_stay("t1", [(0.0, "Age", 60.0), *rows], CleaningReport())


def test_grid_keeps_each_hours_last_value_with_mask_and_time_since_last():
    stay = _stay([(0.2, "HR", 80.0), (0.7, "HR", 90.0), (3.5, "HR", 100.0), (2.0, "Lactate", 4.0)])
    values, mask, delta = build_grid([stay])
    assert values.shape == (1, 48, len(SERIES))
    assert values[0, 0, HR] == 90.0 and values[0, 3, HR] == 100.0 and np.isnan(values[0, 1, HR])
    assert mask[0, :5, HR].tolist() == [1, 0, 0, 1, 0]
    # hours since the last value, as seen at each hour: counted from admission before the first one
    assert delta[0, :6, HR].tolist() == [1, 1, 2, 3, 1, 2]
    assert delta[0, :4, LACTATE].tolist() == [1, 2, 3, 1]
    filled = forward_fill(values)
    assert filled[0, 2, HR] == 90.0 and filled[0, 47, HR] == 100.0 and np.isnan(filled[0, 1, LACTATE])


def test_grid_stops_at_each_stays_horizon():
    stay = _stay([(1.0, "HR", 80.0), (30.0, "HR", 120.0)])
    values, mask, _ = build_grid([stay, stay], horizon=[12.0, 48.0])
    assert mask[0, :, HR].sum() == 1 and mask[1, :, HR].sum() == 2


def test_standardise_uses_the_training_means():
    train = np.array([[[1.0], [3.0]], [[np.nan], [5.0]]], dtype=np.float32)
    z, mean, std = standardise(train)
    assert mean[0] == pytest.approx(3.0) and np.isnan(z[1, 0, 0])
    z_new, _, _ = standardise(np.array([[[3.0]]], dtype=np.float32), mean, std)
    assert z_new[0, 0, 0] == pytest.approx(0.0)


def test_short_fit_on_real_stays_learns_something():
    from engine.config import get_settings
    from engine.icu.records import read_challenge_dir, read_outcomes
    from engine.icu.sequence import fit_sequence_model, predict_sequence_model, static_inputs
    from engine.models.metrics import auroc

    data = get_settings().icu_data_dir
    if not (data / "set-a").is_dir():
        pytest.skip(f"PhysioNet 2012 set A is not at {data} (set CLINSIGHT_ICU_DATA)")
    stays, _ = read_challenge_dir(data / "set-a", limit=300)
    y = read_outcomes(data / "Outcomes-a.txt").loc[[s.record_id for s in stays], "In-hospital_death"].to_numpy()
    values, mask, delta = build_grid(stays)
    static = static_inputs(stays)
    x, mean, std = standardise(values[:200])
    xt, _, _ = standardise(values[200:], mean, std)
    for kind, epochs in (("grud", 3), ("attention", 1)):
        net = fit_sequence_model(kind, x, mask[:200], delta[:200], static[:200], y[:200], epochs=epochs, seed=1,
                                 threads=1)
        risk = predict_sequence_model(net, xt, mask[200:], delta[200:], static[200:])
        assert risk.shape == (100,) and ((risk > 0) & (risk < 1)).all() and risk.std() > 0
        if kind == "grud":
            assert auroc(y[200:], risk) > 0.5  # some signal after three epochs on 170 stays (the CV measures skill)
