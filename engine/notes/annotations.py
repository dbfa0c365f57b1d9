"""The NegEx / ConText annotation format: reading it and scoring labels against it.

Why its own module: the ``notes context`` / ``notes evaluate`` command-line contracts read this exact
format (tab-separated, columns ``id``, ``condition``, ``sentence``; the label columns ``negation``,
``temporality``, ``experiencer`` when scoring; other columns ignored).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.notes.context import EXPERIENCER_LABELS, NEGATION_LABELS, TEMPORALITY_LABELS
from engine.notes.text import decode_text

REQUIRED_COLUMNS = ("id", "condition", "sentence")
LABEL_COLUMNS = {"negation": NEGATION_LABELS, "temporality": TEMPORALITY_LABELS, "experiencer": EXPERIENCER_LABELS}


@dataclass(frozen=True)
class AnnotatedSentence:
    id: str
    condition: str
    sentence: str
    gold: dict[str, str]  # label column -> label, only the columns the file has


def _canonical_labels(allowed: Sequence[str]) -> dict[str, str]:
    """Each label by its folded spelling: "not particular", "NOT PARTICULAR" and "Not  particular" are one."""
    return {" ".join(label.lower().split()): label for label in allowed}


def read_annotations(path: Path | str, *, need_labels: bool = False) -> list[AnnotatedSentence]:
    """Read the TSV; say which column or row is wrong instead of failing later.

    Labels are matched whatever their case and spacing. ``need_labels`` (scoring): every row needs all three,
    from the format's vocabulary, or the row is named. Without it (labelling) the label columns are not
    needed, so a value outside the vocabulary there is passed over rather than stopping the run.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"The annotation file {path.name!r} does not exist.")
    csv.field_size_limit(10_000_000)
    canonical = {column: _canonical_labels(allowed) for column, allowed in LABEL_COLUMNS.items()}
    with io.StringIO(decode_text(path.read_bytes()), newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None:
            raise InputError("The annotation file is empty; it needs a header row with id, condition and sentence.")
        header = [h.strip().lower() for h in header]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if need_labels:
            missing += [c for c in LABEL_COLUMNS if c not in header]
        if missing:
            raise InputError(f"The annotation file has no column {', '.join(missing)} (tab-separated, header row first).")
        index = {name: header.index(name) for name in header}
        rows: list[AnnotatedSentence] = []
        for line_no, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(cells) < len(header):
                cells = cells + [""] * (len(header) - len(cells))
            gold: dict[str, str] = {}
            for column, allowed in LABEL_COLUMNS.items():
                if column in index:
                    written = cells[index[column]].strip()
                    value = canonical[column].get(" ".join(written.lower().split()))
                    if value:
                        gold[column] = value
                    elif need_labels and written:
                        raise InputError(f"Row {line_no}: {column} must be one of {', '.join(allowed)}.")
                    elif need_labels:
                        raise InputError(f"Row {line_no}: the {column} label is empty.")
            rows.append(AnnotatedSentence(cells[index["id"]].strip(), cells[index["condition"]],
                                          cells[index["sentence"]], gold))
    if not rows:
        raise InputError("The annotation file has a header but no sentences.")
    return rows


def _prf(gold: np.ndarray, pred: np.ndarray, label: str) -> tuple[float, float, float]:
    tp = float(np.sum((gold == label) & (pred == label)))
    fp = float(np.sum((gold != label) & (pred == label)))
    fn = float(np.sum((gold == label) & (pred != label)))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def f1_of(gold: Sequence[str], pred: Sequence[str], label: str) -> float:
    return _prf(np.asarray(gold), np.asarray(pred), label)[2]


def score_labels(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str], *, n_boot: int = 1000,
                 seed: int = 0) -> dict[str, dict[str, float | int | list[float]]]:
    """Precision, recall and F1 per label with percentile bootstrap 95% CIs (sentences resampled).

    A label with no gold and no predicted sentence in a resample does not count towards its CI.
    """
    g, p = np.asarray(gold), np.asarray(pred)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(g), size=(n_boot, len(g)))
    out: dict[str, dict[str, float | int | list[float]]] = {}
    for label in labels:
        prec, rec, f1 = _prf(g, p, label)
        boots = np.array([_prf(g[i], p[i], label) for i in idx])
        present = np.array([np.any(g[i] == label) or np.any(p[i] == label) for i in idx])
        boots = boots[present] if present.any() else boots
        ci = np.percentile(boots, [2.5, 97.5], axis=0) if len(boots) else np.zeros((2, 3))
        out[label] = {
            "support": int(np.sum(g == label)),
            "precision": round(prec, 3), "precision_ci": [round(float(ci[0, 0]), 3), round(float(ci[1, 0]), 3)],
            "recall": round(rec, 3), "recall_ci": [round(float(ci[0, 1]), 3), round(float(ci[1, 1]), 3)],
            "f1": round(f1, 3), "f1_ci": [round(float(ci[0, 2]), 3), round(float(ci[1, 2]), 3)],
        }
    return out


def shared_dev_file() -> Path | None:
    """The shared development half, if this machine has it: ``$CLINSIGHT_NEGEX_DATA`` or a ``shared/data/negex``
    folder beside the repository (or beside its parent, for worktrees)."""
    import os

    repo = Path(__file__).resolve().parents[2]
    candidates = [Path(os.environ["CLINSIGHT_NEGEX_DATA"])] if os.environ.get("CLINSIGHT_NEGEX_DATA") else []
    candidates += [repo.parent / "shared" / "data" / "negex", repo.parent.parent / "shared" / "data" / "negex"]
    for folder in candidates:
        path = folder / "annotations_dev.tsv" if folder.is_dir() else folder
        if path.is_file():
            return path
    return None


def shared_dev_rows() -> list[AnnotatedSentence] | None:
    """The labelled sentences of the shared development half, or None when this machine lacks it."""
    path = shared_dev_file()
    return None if path is None else read_annotations(path, need_labels=True)
