"""Choosing ConText cue families by cross-validation, never by looking at the test fold.

Procedure (run by ``python -m engine notes tune``): K stratified folds over the development half. In
each fold, forward screening over the candidate groups (``rules/candidates.json``) keeps the groups that
raise the objective on the training folds only; the chosen set labels the held-out fold. The pooled
out-of-fold labels give the cross-validated figures (bootstrap CIs). The same procedure on the
whole half then gives the shipped rule set, so the CV figures estimate exactly what ships.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine.notes.annotations import AnnotatedSentence, f1_of, score_labels
from engine.notes.context import (EXPERIENCER_LABELS, NEGATION_LABELS, SELECTED_PATH, TEMPORALITY_LABELS,
                                  ContextLabeller, load_candidate_groups)

PROPERTIES = {"negation": NEGATION_LABELS, "temporality": TEMPORALITY_LABELS, "experiencer": EXPERIENCER_LABELS}


def objective(gold: dict[str, np.ndarray], pred: dict[str, np.ndarray]) -> float:
    """What selection maximises: the issue's two goals (negation and Historical F1), plus half the weight
    on the rare hypothetical class so it is not traded away."""
    return (f1_of(gold["negation"], pred["negation"], "Negated")
            + f1_of(gold["temporality"], pred["temporality"], "Historical")
            + 0.5 * f1_of(gold["temporality"], pred["temporality"], "Not particular"))


class _Cache:
    """Predictions for every sentence under one rule set, computed once per set (rules do not learn)."""

    def __init__(self, rows: Sequence[AnnotatedSentence], groups: list[dict[str, Any]]):
        self.rows, self.groups, self._store = rows, groups, {}

    def predict(self, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        key = tuple(sorted(names))
        if key not in self._store:
            labeller = ContextLabeller(key, groups=self.groups)
            labels = labeller.label_many((r.sentence, r.condition) for r in self.rows)
            self._store[key] = {prop: np.array([getattr(lab, prop) for lab in labels]) for prop in PROPERTIES}
        return self._store[key]


def screen_select(cache: _Cache, names: Sequence[str], idx: np.ndarray, gold: dict[str, np.ndarray],
                  min_gain: float = 0.002) -> tuple[str, ...]:
    """Forward screening: keep each group whose addition alone to the default rules raises the objective
    on ``idx`` by at least ``min_gain``.

    Why not full greedy search: every rule set costs a pass over all sentences, and screening needs one
    pass per group (shared by all folds) instead of one per group per step per fold.
    """
    def score(sel: tuple[str, ...]) -> float:
        pred = cache.predict(sel)
        return objective({k: v[idx] for k, v in gold.items()}, {k: v[idx] for k, v in pred.items()})

    base = score(())
    return tuple(n for n in names if score((n,)) - base >= min_gain)


def stratified_folds(rows: Sequence[AnnotatedSentence], k: int, seed: int) -> np.ndarray:
    """Fold number per sentence, stratified on negation x temporality so rare classes spread evenly."""
    rng = np.random.default_rng(seed)
    strata: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        strata.setdefault(f"{r.gold['negation']}|{r.gold['temporality']}", []).append(i)
    fold = np.empty(len(rows), dtype=int)
    offset = 0
    for members in strata.values():
        members = list(rng.permutation(members))
        for j, i in enumerate(members):
            fold[i] = (j + offset) % k
        offset += len(members)
    return fold


def cross_validate(rows: Sequence[AnnotatedSentence], *, k: int = 5, seed: int = 0,
                   progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Nested selection as described in the module docstring; returns figures and the chosen groups."""
    groups = load_candidate_groups()
    names = [g["name"] for g in groups]
    cache = _Cache(rows, groups)
    gold = {prop: np.array([r.gold[prop] for r in rows]) for prop in PROPERTIES}
    fold = stratified_folds(rows, k, seed)
    oof = {prop: np.empty(len(rows), dtype=object) for prop in PROPERTIES}
    per_fold = []
    for f in range(k):
        train, test = np.where(fold != f)[0], np.where(fold == f)[0]
        chosen = screen_select(cache, names, train, gold)
        pred = cache.predict(chosen)
        for prop in PROPERTIES:
            oof[prop][test] = pred[prop][test]
        per_fold.append(list(chosen))
        if progress:
            progress(f"fold {f + 1}/{k}: {len(chosen)} groups")
    final = screen_select(cache, names, np.arange(len(rows)), gold)
    baseline = cache.predict(())
    return {
        "k": k, "seed": seed, "n": len(rows),
        "cv": {prop: score_labels(gold[prop], oof[prop].astype(str), PROPERTIES[prop]) for prop in PROPERTIES},
        "default_rules": {prop: score_labels(gold[prop], baseline[prop], PROPERTIES[prop]) for prop in PROPERTIES},
        "groups_per_fold": per_fold,
        "groups": list(final),
        "oof": {prop: oof[prop].astype(str).tolist() for prop in PROPERTIES},
    }


def write_selected(result: dict[str, Any]) -> None:
    """Persist the chosen groups with the CV figures that justify them."""
    payload = {k: v for k, v in result.items() if k != "oof"}
    SELECTED_PATH.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")


def fit_learned(rows: Sequence[AnnotatedSentence], group_names: Sequence[str], cv: dict[str, Any] | None = None
                ) -> dict[str, Any]:
    """Fit the window classifiers on all ``rows`` over the given rules' labels (engine.notes.learned)."""
    from engine.notes.learned import PROPERTIES as LEARNED_PROPERTIES
    from engine.notes.learned import fit_window_classifier, window_features

    labeller = ContextLabeller(group_names)
    rule_labels = labeller.label_many((r.sentence, r.condition) for r in rows)
    norm = labeller._normalise
    model: dict[str, Any] = {"rule_groups": list(group_names), "n": len(rows), "cv": cv or {}}
    for prop in LEARNED_PROPERTIES:
        feats = [window_features(norm(r.sentence), norm(r.condition), getattr(lab, prop))
                 for r, lab in zip(rows, rule_labels)]
        model[prop] = fit_window_classifier(feats, [r.gold[prop] for r in rows])
    return model
