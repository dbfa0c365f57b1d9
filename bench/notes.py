"""Notes context labelling speed (sentences per second) against the original NegEx, same sentences, same run.

Baseline: ``negex.py`` from the NegEx project (the ``negex`` wheel: Chapman's Python port, unchanged) with
the trigger list in ``bench/negex_triggers.tsv`` (the wheel ships none; see that file). Ours: the
``notes context`` labeller (medspaCy ConText, chosen cue groups, learned window layer), which also labels
temporality and experiencer. Both are timed over every sentence of the shared development half after
one warm-up pass; negation F1 of both is printed as a check that the baseline is faithful (the NegEx
project's own run scores 0.947 on this half). Last line: one JSON object.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.notes.annotations import f1_of, shared_dev_rows  # noqa: E402
from engine.notes.context import get_labeller  # noqa: E402

TRIGGERS = Path(__file__).resolve().parent / "negex_triggers.tsv"


def negex_rules():
    from negex.negex import sortRules

    lines = [line.split("\t") for line in TRIGGERS.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    return sortRules([f"{term}\t\t{tag}" for term, tag in lines])


def run_negex(rows, rules) -> list[str]:
    from negex.negex import negTagger

    out = []
    for r in rows:
        tagger = negTagger(sentence=r.sentence, phrases=[r.condition], rules=rules, negP=False)
        out.append("Negated" if tagger.getNegationFlag() == "negated" else "Affirmed")
    return out


def timed(func, repeats: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    rows = shared_dev_rows()
    if rows is None:
        print(json.dumps({"skipped": "the shared NegEx half is not on this machine"}))
        return
    rules = negex_rules()
    labeller = get_labeller()
    pairs = [(r.sentence, r.condition) for r in rows]
    labeller.label_many(pairs[:50])  # warm-up
    t_negex, negex_labels = timed(lambda: run_negex(rows, rules))
    t_ours, ours = timed(lambda: labeller.label_many(pairs))
    gold = [r.gold["negation"] for r in rows]
    n = len(rows)
    result = {
        "sentences": n,
        "ours_sentences_per_s": round(n / t_ours, 1),
        "negex_sentences_per_s": round(n / t_negex, 1),
        "ratio_ours_vs_negex": round((n / t_ours) / (n / t_negex), 3),
        "ours_negated_f1_in_sample": round(f1_of(gold, [o.negation for o in ours], "Negated"), 3),
        "negex_negated_f1": round(f1_of(gold, negex_labels, "Negated"), 3),
        "note": "ours labels negation, temporality and experiencer; NegEx negation only",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
