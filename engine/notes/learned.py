"""A small learned layer over ConText: logistic regression on the cue window around the target.

Kept because it beats the rules alone under sentence-grouped 5-fold cross-validation (``bench/notes_cv.py``
measures it and applies ``rules/protocol.md``; figures in the README). Inputs: the rules' own label, the words within 6 tokens either side
of the target (position-tagged), the words of the sentence, and whether the sentence is the target alone.
The fitted weights are stored as plain JSON (``rules/learned.json``: no pickle, nothing executable) and
refitted with ``python -m engine notes tune FILE --write``.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.notes.context import RULES_DIR

LEARNED_PATH = RULES_DIR / "learned.json"
WINDOW = 6
PROPERTIES = ("negation", "temporality")
_WORD = re.compile(r"[a-z]+|[-/]")


def window_features(sentence: str, condition: str, rule_label: str,
                    cues: dict[str, float] | None = None) -> dict[str, float]:
    """Position-tagged words around the target, the sentence's words and the rules' label; plus the ConText
    cue features when given (``cue_features``)."""
    words = _WORD.findall(sentence.lower())
    target = _WORD.findall(condition.lower())
    start = next((i for i in range(len(words)) if words[i:i + len(target)] == target), 0)
    end = start + len(target)
    feats = {f"rule={rule_label}": 1.0, "bare": float(len(words) == len(target))}
    for w in words[max(0, start - WINDOW):start]:
        feats[f"L:{w}"] = 1.0
    for w in words[end:end + WINDOW]:
        feats[f"R:{w}"] = 1.0
    for w in words:
        feats[f"S:{w}"] = 1.0
    if cues:
        feats.update(cues)
    return feats


def _distance_bucket(n: int) -> str:
    return "0-1" if n <= 1 else "2-3" if n <= 3 else "4-6" if n <= 6 else "7+"


def cue_features(doc, target, section: str | None) -> dict[str, float]:
    """What ConText saw, as features: every modifier in the sentence (category, its literal, which side of the
    target and how many tokens away, whether the target is inside its scope) and the target's section.

    Why: the rules' single label hides near misses (a historical cue just outside its scope, a terminator
    between cue and target); a classifier can weigh them, and their distance, from the training folds.
    """
    feats: dict[str, float] = {}
    in_scope = {id(m) for m in target._.modifiers}
    for mod in doc._.context_graph.modifiers:
        start, end = mod.modifier_span
        if end <= target.start:
            side, dist = "L", target.start - end
        elif start >= target.end:
            side, dist = "R", start - target.end
        else:
            side, dist = "I", 0
        cat = mod.category.upper()
        feats[f"C:{cat}"] = 1.0
        feats[f"C:{cat}:{side}:{_distance_bucket(dist)}"] = 1.0
        feats[f"CL:{mod.rule.literal.lower()}:{side}"] = 1.0
        if id(mod) in in_scope:
            feats[f"CS:{cat}"] = 1.0
    if section:
        feats[f"SEC:{section}"] = 1.0
    return feats


def fit_window_classifier(feature_rows: Sequence[dict[str, float]], labels: Sequence[str], C: float = 1.0
                          ) -> dict[str, Any]:
    """Fit one classifier; returns its weights as a JSON-able dict."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = DictVectorizer()
    X = vec.fit_transform(list(feature_rows))
    clf = LogisticRegression(C=C, max_iter=2000, class_weight="balanced").fit(X, list(labels))
    coef = clf.coef_
    classes = [str(c) for c in clf.classes_]
    if len(classes) == 2:  # binary: sklearn keeps one row for the second class
        coef = [-coef[0], coef[0]]
        intercept = [-float(clf.intercept_[0]), float(clf.intercept_[0])]
    else:
        intercept = [float(b) for b in clf.intercept_]
    names = vec.get_feature_names_out()
    weights = {str(n): [round(float(row[j]), 6) for row in coef] for j, n in enumerate(names)
               if any(abs(float(row[j])) > 1e-6 for row in coef)}
    return {"classes": classes, "intercept": intercept, "weights": weights}


def predict_one(model: dict[str, Any], feats: dict[str, float]) -> str:
    scores = list(model["intercept"])
    for name, value in feats.items():
        w = model["weights"].get(name)
        if w:
            for k in range(len(scores)):
                scores[k] += w[k] * value
    best = max(range(len(scores)), key=lambda k: scores[k])
    return model["classes"][best] if not math.isnan(scores[best]) else model["classes"][0]


# With the temporality hierarchy (rules/protocol.md, round 2), the rules' hypothetical label stands and
# the classifier only chooses between the other temporality labels.
HIERARCHY_KEEPS = {"temporality": ("Not particular",)}


DEFAULT_SETTING = {"C": 1.0, "sentence_words": True}


def fit_property_model(feats: Sequence[dict[str, float]], gold: Sequence[str], rule_labels: Sequence[str],
                       keep_rule_labels: Sequence[str] = (), setting: dict[str, Any] | None = None) -> dict[str, Any]:
    """One property's classifier. Labels in ``keep_rule_labels`` are left to the rules: rows that carry them
    (gold or rules) are not trained on, and the rules' label stands whenever it is one of them. ``setting``:
    regularisation ``C`` and whether the sentence's words (``S:`` features) are used; a model fitted without
    them has no weight for them, so prediction needs no flag."""
    setting = {**DEFAULT_SETTING, **(setting or {})}
    keep = set(keep_rule_labels)
    rows = [i for i in range(len(gold)) if gold[i] not in keep and rule_labels[i] not in keep]
    X = [feats[i] if setting["sentence_words"] else {k: v for k, v in feats[i].items() if not k.startswith("S:")}
         for i in rows]
    model = fit_window_classifier(X, [gold[i] for i in rows], C=float(setting["C"]))
    model["keep_rule_labels"] = sorted(keep)
    model["setting"] = setting
    return model


def apply_property_model(model: dict[str, Any], feats: dict[str, float], rule_label: str) -> str:
    if rule_label in model.get("keep_rule_labels", ()):
        return rule_label
    return predict_one(model, feats)


def load_learned(path: Path = LEARNED_PATH) -> dict[str, Any] | None:
    """The shipped classifiers, or None (rules alone) when none has been fitted."""
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
