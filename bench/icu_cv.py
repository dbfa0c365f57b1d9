"""Issue 14's candidate round for the ICU mortality model, run exactly as `engine/icu/protocol.md` says.

Why a script and not a test: it reads the whole of set A and fits a few hundred boosting models
(about 7 minutes on 2 cores; round 2 about 5); its output is the evidence for keeping or dropping each
candidate, and the protocol fixed the candidates, their order and the keep rule before it was first run.

    .venv/bin/python bench/icu_cv.py [--data ../shared/data/physionet2012] [--round 2]

Round 1 (default): the three candidates on fold seeds 42-44. Round 2: the seed bag alone against 1.1.0 on
fold seeds 45-49, under round 2's calibration-led rule.

Prints progress, then one JSON object (every repeat's figures and each decision) as its last line.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.icu.crossval import FOLDS, blend, fold_ids, honest_figures, oof_boosting  # noqa: E402
from engine.icu.features import STATS, build_features  # noqa: E402
from engine.icu.metrics import bootstrap_ci  # noqa: E402
from engine.icu.train import load_training_set, usable_features  # noqa: E402
from engine.models.metrics import auroc  # noqa: E402

REPEATS = (42, 43, 44)  # round 1's fold seeds; 42 is the card's folds
ROUND2_REPEATS = (45, 46, 47, 48, 49)  # fold assignments round 1 did not use
BAG = 5
LINEAR_C = 0.1


def oof_bagged(X: pd.DataFrame, y: np.ndarray, fold: np.ndarray, bag: int, seed: int) -> np.ndarray:
    """Out-of-fold raw risk; each fold member is the mean of ``bag`` seeds (bag=1 is 1.1.0's member): the training
    command's ``oof_boosting`` once per seed offset, averaged."""
    return np.mean([oof_boosting(X, y, fold, seed=seed + 1000 * b)[0] for b in range(bag)], axis=0)


def oof_linear(X: pd.DataFrame, y: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Out-of-fold risk of the protocol's linear complement (everything fitted inside the fold)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import QuantileTransformer

    oof = np.zeros(len(y))
    for k in range(fold.max() + 1):
        te = fold == k
        pipe = make_pipeline(QuantileTransformer(n_quantiles=200, output_distribution="normal", random_state=0),
                             SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                             LogisticRegression(C=LINEAR_C, max_iter=5000))
        oof[te] = pipe.fit(X[~te], y[~te]).predict_proba(X[te])[:, 1]
    return oof


def paired_gain_ci(y: np.ndarray, new: np.ndarray, old: np.ndarray) -> list[float]:
    """Paired bootstrap 95% CI of the AUROC gain of ``new`` over ``old`` on the same stay resamples."""
    both = np.column_stack([new, old])
    lo, hi = bootstrap_ci(y, both, lambda yy, r: auroc(yy, r[:, 0]) - auroc(yy, r[:, 1]))
    return [round(lo, 4), round(hi, 4)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/physionet2012"))
    ap.add_argument("--round", type=int, choices=(1, 2), default=1)
    args = ap.parse_args()
    if args.round == 2:
        round_two(Path(args.data))
        return
    started = time.time()
    stays, y, _report = load_training_set(Path(args.data))
    X_all = build_features(stays)
    X_base, X_more = X_all[usable_features(X_all)], X_all[usable_features(X_all, STATS)]
    folds = {s: fold_ids(y, FOLDS, s) for s in REPEATS}

    def figures_of(raws: dict[int, np.ndarray]) -> dict:
        per = {}
        for s, raw in raws.items():
            f, _ = honest_figures(raw, y, folds[s], "beta", n_boot=1000 if s == 42 else 200)
            per[s] = {k: f[k] for k in ("auroc", "auroc_ci", "event1", "h")}
        mean = {k: round(float(np.mean([per[s][k] for s in REPEATS])), 4) for k in ("auroc", "event1", "h")}
        return {"repeats": per, "mean": mean}

    def log(msg: str) -> None:
        print(f"[{time.time() - started:6.0f}s] {msg}", flush=True)

    # The configuration to beat: 1.1.0's (one seed per fold member, MODEL_STATS).
    raws = {s: oof_bagged(X_base, y, folds[s], 1, 42) for s in REPEATS}
    best = {"name": "1.1.0", "raws": raws, "figures": figures_of(raws), "bag": 1, "X": X_base, "linear": False}
    log(f"1.1.0: {best['figures']['mean']}")
    rounds = []

    def offer(name: str, raws: dict[int, np.ndarray], **config) -> None:
        nonlocal best
        fig = figures_of(raws)
        gains = [fig["repeats"][s]["auroc"] - best["figures"]["repeats"][s]["auroc"] for s in REPEATS]
        mean_gain = fig["mean"]["auroc"] - best["figures"]["mean"]["auroc"]
        keep = (mean_gain >= 0.002 and all(g > 0 for g in gains)
                and fig["mean"]["h"] <= 1.10 * best["figures"]["mean"]["h"]
                and fig["mean"]["event1"] >= best["figures"]["mean"]["event1"] - 0.01)
        row = {"candidate": name, "against": best["name"], "figures": fig, "auroc_gain_mean": round(mean_gain, 4),
               "auroc_gain_by_repeat": [round(g, 4) for g in gains],
               "auroc_gain_ci_card_repeat": paired_gain_ci(y, raws[42], best["raws"][42]), "kept": keep}
        rounds.append(row)
        verdict = "KEPT" if keep else "dropped"
        log(f"{name}: {fig['mean']} gain {mean_gain:+.4f} {row['auroc_gain_by_repeat']} -> {verdict}")
        if keep:
            best = {**best, "name": name, "raws": raws, "figures": fig, **config}

    offer("seed bag", {s: oof_bagged(X_base, y, folds[s], BAG, 42) for s in REPEATS}, bag=BAG)
    offer("more statistics", {s: oof_bagged(X_more, y, folds[s], best["bag"], 42) for s in REPEATS}, X=X_more)
    linear = {s: oof_linear(best["X"], y, folds[s]) for s in REPEATS}
    log(f"linear alone: {figures_of(linear)['mean']}")
    offer("linear complement", {s: blend([best["raws"][s], linear[s]]) for s in REPEATS}, linear=True)

    print(json.dumps({"protocol": "engine/icu/protocol.md", "repeats": list(REPEATS), "baseline": "1.1.0",
                      "rounds": rounds, "final": {"name": best["name"], "bag": best["bag"],
                                                  "features": len(best["X"].columns), "linear": best["linear"],
                                                  "figures": best["figures"]},
                      "seconds": round(time.time() - started)}))


def round_two(data: Path) -> None:
    """Round 2 of the protocol: does the seed bag lower H on fold assignments round 1 did not see?"""
    started = time.time()
    stays, y, _report = load_training_set(data)
    X_all = build_features(stays)
    X = X_all[usable_features(X_all)]
    folds = {s: fold_ids(y, FOLDS, s) for s in ROUND2_REPEATS}
    rows = {}
    for name, bag in (("1.1.0", 1), ("seed bag", BAG)):
        per = {}
        for s in ROUND2_REPEATS:
            f, _ = honest_figures(oof_bagged(X, y, folds[s], bag, 42), y, folds[s], "beta", n_boot=200)
            per[s] = {k: f[k] for k in ("auroc", "event1", "h")}
            print(f"[{time.time() - started:6.0f}s] {name} fold seed {s}: {per[s]}", flush=True)
        rows[name] = {"repeats": per, "mean": {k: round(float(np.mean([per[s][k] for s in ROUND2_REPEATS])), 4)
                                               for k in ("auroc", "event1", "h")}}
    base, bag = rows["1.1.0"], rows["seed bag"]
    lower_h = sum(bag["repeats"][s]["h"] < base["repeats"][s]["h"] for s in ROUND2_REPEATS)
    keep = (lower_h >= 4 and bag["mean"]["h"] <= 0.85 * base["mean"]["h"]
            and bag["mean"]["auroc"] >= base["mean"]["auroc"] - 0.001
            and bag["mean"]["event1"] >= base["mean"]["event1"] - 0.01)
    print(json.dumps({"protocol": "engine/icu/protocol.md, round 2", "repeats": list(ROUND2_REPEATS), "rows": rows,
                      "h_lower_in": lower_h, "kept": keep, "seconds": round(time.time() - started)}))


if __name__ == "__main__":
    main()
