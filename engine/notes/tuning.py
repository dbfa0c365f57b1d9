"""Choosing ConText cue families by cross-validation, never by looking at the test fold.

Procedure (run by ``python -m engine notes tune``): K folds over the development half, stratified on
negation x temporality and grouped by sentence (``grouped_folds``; protocol in ``rules/protocol.md``). In
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
    """Rule labels and cue features for every sentence under one rule set, computed once per set (rules do
    not learn, so every fold can share them)."""

    def __init__(self, rows: Sequence[AnnotatedSentence], groups: list[dict[str, Any]]):
        self.rows, self.groups, self._store, self._cues = rows, groups, {}, {}

    def _run(self, key: tuple[str, ...]) -> None:
        labeller = ContextLabeller(key, groups=self.groups, learned=None)
        out = [labeller.analyse(r.sentence, r.condition, cues=True) for r in self.rows]
        self._store[key] = {prop: np.array([getattr(lab, prop) for lab, _ in out]) for prop in PROPERTIES}
        self._cues[key] = [cues or {} for _, cues in out]

    def predict(self, names: Sequence[str]) -> dict[str, np.ndarray]:
        key = tuple(sorted(names))
        if key not in self._store:
            self._run(key)
        return self._store[key]

    def cues(self, names: Sequence[str]) -> list[dict[str, float]]:
        key = tuple(sorted(names))
        if key not in self._cues:
            self._run(key)
        return self._cues[key]


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


def sentence_group(sentence: str) -> str:
    """The grouping key for cross-validation: the sentence text, lower-cased, spaces collapsed.

    Why: the annotated set has no patient or report id, but one sentence often carries several targets
    (831 distinct sentences for 1,188 rows here); the learned layer reads the sentence's words, so a
    sentence seen in training would leak into its own test fold.
    """
    return " ".join(sentence.lower().split())


def grouped_folds(rows: Sequence[AnnotatedSentence], k: int, seed: int) -> np.ndarray:
    """Fold number per row: stratified on negation x temporality (rare classes spread over folds), grouped by
    sentence (``sentence_group``), shuffled with ``seed``."""
    from sklearn.model_selection import StratifiedGroupKFold

    strata = np.array([f"{r.gold['negation']}|{r.gold['temporality']}" for r in rows])
    groups = np.array([sentence_group(r.sentence) for r in rows])
    fold = np.empty(len(rows), dtype=int)
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    for f, (_, test) in enumerate(splitter.split(np.zeros(len(rows)), strata, groups)):
        fold[test] = f
    return fold


def candidate_pool(groups: Sequence[dict[str, Any]], components: Sequence[str] = ()) -> list[str]:
    """Names of the candidate groups offered to screening: the original families (no ``component``) plus
    those of the named components (e.g. ``gencontext``, ``sections``)."""
    return [g["name"] for g in groups if g.get("component") is None or g.get("component") in components]


# Round 3 of rules/protocol.md: the settings an inner CV chooses from (the fixed setting first, so ties keep it).
SETTINGS = [{"C": 1.0, "sentence_words": True}] + [
    {"C": c, "sentence_words": w} for w in (True, False) for c in (0.1, 0.3, 1.0, 3.0, 10.0) if (c, w) != (1.0, True)]
SETTING_TARGETS = {"negation": "Negated", "temporality": "Historical"}


def choose_setting(rows: Sequence[AnnotatedSentence], idx: np.ndarray, X: list[dict[str, float]], gold: np.ndarray,
                   rule: np.ndarray, keeps: Sequence[str], target: str, *, k: int = 4, seed: int = 0) -> dict[str, Any]:
    """The learned layer's setting for one property, chosen by a sentence-grouped CV over ``idx`` only (the
    outer training folds): the one with the highest inner out-of-fold F1 of ``target``."""
    from engine.notes.learned import apply_property_model, fit_property_model

    inner = grouped_folds([rows[i] for i in idx], k, seed)
    best, best_f1 = SETTINGS[0], -1.0
    for setting in SETTINGS:
        pred = np.empty(len(idx), dtype=object)
        for f in range(k):
            tr, te = idx[inner != f], idx[inner == f]
            model = fit_property_model([X[i] for i in tr], gold[tr], rule[tr], keeps, setting)
            pred[inner == f] = [apply_property_model(model, X[i], rule[i]) for i in te]
        f1 = f1_of(gold[idx], pred.astype(str), target)
        if f1 > best_f1:
            best, best_f1 = setting, f1
    return best


def _learned_features(rows: Sequence[AnnotatedSentence], labels: dict[str, np.ndarray],
                      cues: list[dict[str, float]] | None, prop: str) -> list[dict[str, float]]:
    from engine.notes.learned import window_features

    return [window_features(r.sentence, r.condition, str(labels[prop][i]), cues[i] if cues is not None else None)
            for i, r in enumerate(rows)]


def cross_validate(rows: Sequence[AnnotatedSentence], *, k: int = 5, seed: int = 0, components: Sequence[str] = (),
                   learned: bool = True, cue_features: bool = False, hierarchy: bool = False, nested: bool = False,
                   progress: Callable[[str], None] | None = None, cache: _Cache | None = None) -> dict[str, Any]:
    """The whole pipeline refitted inside each fold (cue families screened on the training folds, then the
    learned layer fitted on them), the test fold labelled once; pooled out-of-fold figures with
    ``score_labels`` (what ``notes evaluate`` prints). Returns figures, chosen groups and out-of-fold labels."""
    from engine.notes.learned import HIERARCHY_KEEPS
    from engine.notes.learned import PROPERTIES as LEARNED_PROPERTIES
    from engine.notes.learned import apply_property_model, fit_property_model

    groups = load_candidate_groups()
    names = candidate_pool(groups, components)
    cache = cache or _Cache(rows, groups)
    gold = {prop: np.array([r.gold[prop] for r in rows]) for prop in PROPERTIES}
    fold = grouped_folds(rows, k, seed)
    rules_oof = {prop: np.empty(len(rows), dtype=object) for prop in PROPERTIES}
    oof = {prop: np.empty(len(rows), dtype=object) for prop in PROPERTIES}
    per_fold = []
    settings_per_fold: dict[str, list[dict[str, Any]]] = {}
    for f in range(k):
        train, test = np.where(fold != f)[0], np.where(fold == f)[0]
        chosen = screen_select(cache, names, train, gold)
        pred = cache.predict(chosen)
        cues = cache.cues(chosen) if cue_features else None
        for prop in PROPERTIES:
            rules_oof[prop][test] = pred[prop][test]
            oof[prop][test] = pred[prop][test]
        if learned:
            for prop in LEARNED_PROPERTIES:
                X = _learned_features(rows, pred, cues, prop)
                keeps = HIERARCHY_KEEPS.get(prop, ()) if hierarchy else ()
                rule = pred[prop].astype(str)
                setting = (choose_setting(rows, train, X, gold[prop], rule, keeps, SETTING_TARGETS[prop], seed=seed)
                           if nested else None)
                model = fit_property_model([X[i] for i in train], gold[prop][train], rule[train], keeps, setting)
                oof[prop][test] = [apply_property_model(model, X[i], rule[i]) for i in test]
                if nested:
                    settings_per_fold.setdefault(prop, []).append(model["setting"])
        per_fold.append(list(chosen))
        if progress:
            progress(f"fold {f + 1}/{k}: {len(chosen)} groups")
    final = screen_select(cache, names, np.arange(len(rows)), gold)
    baseline = cache.predict(())
    score = {prop: lambda pred, prop=prop: score_labels(gold[prop], np.asarray(pred).astype(str), PROPERTIES[prop])
             for prop in PROPERTIES}
    return {
        "k": k, "seed": seed, "n": len(rows), "folds": "stratified on negation x temporality, grouped by sentence",
        "config": {"components": list(components), "learned": learned, "cue_features": cue_features,
                   "hierarchy": hierarchy, "nested": nested},
        "settings_per_fold": settings_per_fold,
        "cv": {prop: score[prop](oof[prop]) for prop in PROPERTIES},
        "cv_rules": {prop: score[prop](rules_oof[prop]) for prop in PROPERTIES},
        "default_rules": {prop: score[prop](baseline[prop]) for prop in PROPERTIES},
        "groups_per_fold": per_fold,
        "groups": list(final),
        "oof": {prop: oof[prop].astype(str).tolist() for prop in PROPERTIES},
    }


def write_selected(result: dict[str, Any]) -> None:
    """Persist the chosen groups with the CV figures that justify them."""
    payload = {k: v for k, v in result.items() if k != "oof"}
    SELECTED_PATH.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")


def fit_learned(rows: Sequence[AnnotatedSentence], group_names: Sequence[str], cv: dict[str, Any] | None = None,
                *, cue_features: bool = False, hierarchy: bool = False, nested: bool = False) -> dict[str, Any]:
    """Fit the window classifiers on all ``rows`` over the given rules' labels (engine.notes.learned)."""
    from engine.notes.learned import HIERARCHY_KEEPS
    from engine.notes.learned import PROPERTIES as LEARNED_PROPERTIES
    from engine.notes.learned import fit_property_model

    cache = _Cache(rows, load_candidate_groups())
    labels = cache.predict(group_names)
    cues = cache.cues(group_names) if cue_features else None
    model: dict[str, Any] = {"rule_groups": list(group_names), "n": len(rows), "cue_features": cue_features,
                             "cv": cv or {}}
    for prop in LEARNED_PROPERTIES:
        keeps = HIERARCHY_KEEPS.get(prop, ()) if hierarchy else ()
        X = _learned_features(rows, labels, cues, prop)
        gold, rule = np.array([r.gold[prop] for r in rows]), labels[prop].astype(str)
        setting = (choose_setting(rows, np.arange(len(rows)), X, gold, rule, keeps, SETTING_TARGETS[prop])
                   if nested else None)
        model[prop] = fit_property_model(X, gold, rule, keeps, setting)
    return model
