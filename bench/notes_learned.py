"""Does a small learned classifier over the cue window beat the ConText rules under cross-validation?

Same 5 stratified folds as ``python -m engine notes tune``. In each fold: the rule groups chosen on the
training folds label every sentence; a logistic regression (scikit-learn) over the words in a window of
6 tokens either side of the target (position-tagged), the words of the whole sentence, and the rules'
own label, is fitted on the training folds and labels the test fold. Pooled out-of-fold F1 with bootstrap
CIs for rules alone vs rules + classifier, for Negated and Historical. Last line: one JSON object.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.notes.annotations import f1_of, score_labels, shared_dev_rows  # noqa: E402
from engine.notes.context import load_candidate_groups  # noqa: E402
from engine.notes.learned import fit_window_classifier, predict_one, window_features  # noqa: E402
from engine.notes.tuning import PROPERTIES, _Cache, screen_select, stratified_folds  # noqa: E402

def main() -> None:
    rows = shared_dev_rows()
    if rows is None:
        print(json.dumps({"skipped": "the shared NegEx half is not on this machine"}))
        return
    groups = load_candidate_groups()
    names = [g["name"] for g in groups]
    cache = _Cache(rows, groups)
    gold = {p: np.array([r.gold[p] for r in rows]) for p in PROPERTIES}
    fold = stratified_folds(rows, 5, 0)
    targets = {"negation": "Negated", "temporality": "Historical"}
    rule_oof = {p: np.empty(len(rows), dtype=object) for p in targets}
    learned_oof = {p: np.empty(len(rows), dtype=object) for p in targets}
    for f in range(5):
        train, test = np.where(fold != f)[0], np.where(fold == f)[0]
        chosen = screen_select(cache, names, train, gold)
        pred = cache.predict(chosen)
        for prop, label in targets.items():
            rule_oof[prop][test] = pred[prop][test]
            X = [window_features(r.sentence, r.condition, pred[prop][i]) for i, r in enumerate(rows)]
            model = fit_window_classifier([X[i] for i in train], gold[prop][train])
            learned_oof[prop][test] = [predict_one(model, X[i]) for i in test]
    out = {}
    rng = np.random.default_rng(0)
    boot = rng.integers(0, len(rows), size=(1000, len(rows)))
    for prop, label in targets.items():
        labels = PROPERTIES[prop]
        g, r_, l_ = gold[prop], rule_oof[prop].astype(str), learned_oof[prop].astype(str)
        diffs = [f1_of(g[i], l_[i], label) - f1_of(g[i], r_[i], label) for i in boot]
        out[prop] = {"label": label,
                     "rules": score_labels(g, r_, labels)[label],
                     "rules_plus_classifier": score_labels(g, l_, labels)[label],
                     "all_labels_rules": score_labels(g, r_, labels),
                     "all_labels_rules_plus_classifier": score_labels(g, l_, labels),
                     "f1_gain": round(f1_of(g, l_, label) - f1_of(g, r_, label), 3),
                     "f1_gain_ci": [round(float(np.percentile(diffs, 2.5)), 3),
                                    round(float(np.percentile(diffs, 97.5)), 3)]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
