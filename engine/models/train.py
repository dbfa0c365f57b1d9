"""Train, compare, calibrate and validate a model; write its bundle and card.

One function, :func:`fit_and_evaluate`, serves the shipped models (``python -m
engine models train``) and analysts' models trained on imported datasets (the
Models page), so every card is produced the same way:

1. split: a stratified random 75/25 split (fixed seed) of the development data,
   or a site split / time split chosen by the analyst; the UCI heart model is
   developed on Cleveland + Hungary and externally validated on VA Long Beach +
   Switzerland;
2. compare candidate learners (L2-penalised logistic regression, histogram
   gradient boosting) by 5-fold cross-validated AUROC and Brier score on the
   training part only; preprocessing (median imputation with missing
   indicators, scaling, one-hot encoding) sits inside one scikit-learn Pipeline
   so it is refitted within every fold;
3. the winner (ties within 0.01 AUROC go to the simpler logistic model) is
   recalibrated with Platt scaling fitted on out-of-fold predictions
   (``CalibratedClassifierCV(method="sigmoid", ensemble=False)``), which keeps
   SHAP additivity on the log-odds scale;
4. metrics with bootstrap 95% CIs, curves and subgroup metrics are computed on
   the held-out data only; the shipped bundle is exactly the model evaluated.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.covariance import LedoitWolf
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from engine.errors import InputError
from engine.models import metrics as M
from engine.models.specs import MODEL_SPECS, FeatureSpec, ModelSpec

DEFAULT_SEED = 42
N_MEMBERS = 30  # bootstrap refits behind the per-patient uncertainty interval
N_BOOT = 1000  # bootstrap resamples behind every metric's 95% CI
N_BOOT_SUBGROUP = 200
TIE_MARGIN = 0.01
AGE_BANDS = ((0, 45, "<45"), (45, 55, "45-54"), (55, 65, "55-64"), (65, 200, "65+"))

Progress = Callable[[float, str], None]


@dataclass
class Split:
    """Which rows train the model and which validate it."""

    kind: str = "random"  # random | site | time
    column: str | None = None  # site or time column
    holdout: tuple[str, ...] = ()  # site values held out (site split)
    test_fraction: float = 0.25


def _numeric(f: FeatureSpec) -> bool:
    return f.kind in ("numeric", "binary")


def build_preprocessor(features: list[FeatureSpec]) -> ColumnTransformer:
    """Impute (median + missing indicator) and scale numbers; one-hot categories (unknown ignored)."""
    num = [f.name for f in features if _numeric(f)]
    cat = [f.name for f in features if not _numeric(f)]
    steps = []
    if num:
        steps.append(("num", Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True,
                                                                keep_empty_features=True)),
                                       ("scale", StandardScaler())]), num))
    if cat:
        steps.append(("cat", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                                       ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]),
                      cat))
    return ColumnTransformer(steps, sparse_threshold=0.0, verbose_feature_names_out=True)


def candidate_learners(seed: int) -> dict[str, Any]:
    """The learners compared for every model (kept small: the machine is shared)."""
    return {
        "logistic_l2": LogisticRegression(C=0.5, max_iter=2000),
        "gradient_boosting": HistGradientBoostingClassifier(
            learning_rate=0.05, max_iter=150, max_leaf_nodes=15, min_samples_leaf=20, l2_regularization=1.0,
            early_stopping=False, random_state=seed),
    }


def make_frame(df: pd.DataFrame, features: list[FeatureSpec]) -> pd.DataFrame:
    """Model input frame: numbers as float, categories as object (missing stays NaN)."""
    out = pd.DataFrame(index=df.index)
    for f in features:
        col = df[f.name] if f.name in df.columns else pd.Series(np.nan, index=df.index)
        out[f.name] = pd.to_numeric(col, errors="coerce").astype(float) if _numeric(f) else \
            col.astype(object).where(col.notna(), np.nan)
    return out


def split_rows(df: pd.DataFrame, split: Split, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, test) for the chosen validation design."""
    y = df["outcome"].to_numpy()
    if split.kind == "site":
        if not split.column or split.column not in df.columns or not split.holdout:
            raise InputError("A site split needs a site column and at least one held-out site.")
        test = df[split.column].astype(str).isin(split.holdout).to_numpy()
    elif split.kind == "time":
        if not split.column or split.column not in df.columns:
            raise InputError("A time split needs a date or time column.")
        key = pd.to_datetime(df[split.column], errors="coerce") if df[split.column].dtype == object \
            else df[split.column]
        cut = key.quantile(1 - split.test_fraction)
        test = (key > cut).to_numpy()
    else:
        idx = np.arange(len(df))
        _, test_idx = train_test_split(idx, test_size=split.test_fraction, stratify=y, random_state=seed)
        test = np.isin(idx, test_idx)
    train = ~test
    for label, mask in (("training", train), ("validation", test)):
        ys = y[mask]
        if len(ys) < 20 or ys.min() == ys.max():
            raise InputError(f"The {label} part of the {split.kind} split has {len(ys)} rows and "
                             f"{int(ys.sum())} events; both outcomes need to be present (at least 20 rows).")
    return train, test


def _age_band(age: float) -> str | None:
    if age is None or not np.isfinite(age):
        return None
    for low, high, label in AGE_BANDS:
        if low <= age < high:
            return label
    return None


def subgroup_metrics(df: pd.DataFrame, p: np.ndarray, threshold: float, seed: int) -> dict[str, dict]:
    """The same metrics by sex, age band and site (groups under 20 rows or one outcome are reported as n only)."""
    out: dict[str, dict] = {}
    groups = {}
    if "sex" in df.columns and df["sex"].nunique() > 1:
        groups["sex"] = df["sex"].astype(str)
    if "age" in df.columns and df["age"].notna().any():
        groups["age_band"] = df["age"].astype(float).map(_age_band)
    if "site" in df.columns and df["site"].nunique() > 1:
        groups["site"] = df["site"].astype(str)
    y = df["outcome"].to_numpy()
    for name, values in groups.items():
        out[name] = {}
        for level in sorted(v for v in values.dropna().unique()):
            mask = (values == level).to_numpy()
            ys, ps = y[mask], p[mask]
            if mask.sum() < 20 or ys.min() == ys.max():
                out[name][level] = {"n": {"value": int(mask.sum())}, "events": {"value": int(ys.sum())},
                                    "note": "too few rows or one outcome only: not estimable"}
            else:
                out[name][level] = M.bootstrap_metrics(ys, ps, threshold, n_boot=N_BOOT_SUBGROUP, seed=seed)
    return out


def evaluation(df: pd.DataFrame, p: np.ndarray, threshold: float, seed: int, n_boot: int = N_BOOT) -> dict[str, Any]:
    """Card section for one validation set: metrics with CIs, curves, subgroups."""
    y = df["outcome"].to_numpy()
    return {
        "metrics": M.bootstrap_metrics(y, p, threshold, n_boot=n_boot, seed=seed),
        "curves": {"roc": M.roc_curve_points(y, p), "calibration": M.calibration_points(y, p),
                   "decision": M.decision_curve(y, p)},
        "subgroups": subgroup_metrics(df, p, threshold, seed),
    }


def population_summary(X: pd.DataFrame, features: list[FeatureSpec]) -> dict[str, dict]:
    """Per-feature training distribution: the basis panel compares a patient against it."""
    out = {}
    for f in features:
        col = X[f.name]
        entry: dict[str, Any] = {"missing_fraction": round(float(col.isna().mean()), 4)}
        if _numeric(f):
            vals = col.dropna().astype(float)
            if len(vals):
                entry.update({"min": float(vals.min()), "max": float(vals.max()),
                              "mean": round(float(vals.mean()), 4), "sd": round(float(vals.std()), 4),
                              "median": float(vals.median()),
                              "quantiles": [round(float(q), 4) for q in np.quantile(vals, np.linspace(0, 1, 21))]})
        else:
            entry["categories"] = {str(k): round(float(v), 4)
                                   for k, v in col.dropna().astype(str).value_counts(normalize=True).items()}
        out[f.name] = entry
    return out


def youden_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """Threshold maximising sensitivity + specificity - 1 on out-of-fold training predictions."""
    best, best_t = -1.0, 0.5
    for t in np.round(np.arange(0.02, 0.99, 0.01), 2):
        m = M.threshold_metrics(y, p, t)
        j = m["sensitivity"] + m["specificity"] - 1
        if j > best + 1e-12:
            best, best_t = j, float(t)
    return best_t


def _sigmoid_params(calibrated: CalibratedClassifierCV) -> tuple[float, float]:
    cal = calibrated.calibrated_classifiers_[0].calibrators[0]
    return float(cal.a_), float(cal.b_)


def _ood_params(Z: np.ndarray) -> dict[str, np.ndarray]:
    """Mahalanobis distance (Ledoit-Wolf covariance) on the preprocessed inputs; cut at the training 99th centile."""
    lw = LedoitWolf().fit(Z)
    diff = Z - lw.location_
    d2 = np.einsum("ij,jk,ik->i", diff, lw.precision_, diff)
    return {"mean": lw.location_, "precision": lw.precision_, "threshold": np.float64(np.percentile(d2, 99))}


def fit_and_evaluate(df: pd.DataFrame, features: list[FeatureSpec], meta: dict[str, Any], *, split: Split,
                     external: pd.DataFrame | None = None, seed: int = DEFAULT_SEED, version: str = "1.0.0",
                     progress: Progress | None = None, learners: tuple[str, ...] | None = None,
                     n_members: int = N_MEMBERS, n_boot: int = N_BOOT) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train and validate one model; return (bundle objects, card dict without weights hash).

    ``n_members`` / ``n_boot`` exist so tests can run a reduced version; shipped cards use the defaults.
    """
    # One thread: the machine is shared and HGB's OpenMP pool oversubscribes it (3-4x slower wall time).
    with threadpool_limits(limits=1):
        return _fit_and_evaluate(df, features, meta, split=split, external=external, seed=seed, version=version,
                                 progress=progress, learners=learners, n_members=n_members, n_boot=n_boot)


def _fit_and_evaluate(df: pd.DataFrame, features: list[FeatureSpec], meta: dict[str, Any], *, split: Split,
                      external: pd.DataFrame | None, seed: int, version: str,
                      progress: Progress | None, learners: tuple[str, ...] | None, n_members: int,
                      n_boot: int) -> tuple[dict[str, Any], dict]:
    started = time.perf_counter()
    report = progress or (lambda fraction, text: None)
    y_all = df["outcome"].astype(int).to_numpy()
    if set(np.unique(y_all)) - {0, 1}:
        raise InputError("The outcome must be coded 0 (no) / 1 (yes).")
    train_mask, test_mask = split_rows(df, split, seed)
    train_df, test_df = df[train_mask], df[test_mask]
    X_tr, y_tr = make_frame(train_df, features), train_df["outcome"].astype(int).to_numpy()
    X_te = make_frame(test_df, features)
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)

    report(0.05, "Comparing candidate learners by 5-fold cross-validation")
    candidates, oof = {}, {}
    pool = {k: v for k, v in candidate_learners(seed).items() if not learners or k in learners}
    if not pool:
        raise InputError(f"Choose at least one learner from: {', '.join(candidate_learners(seed))}.")
    for i, (cname, learner) in enumerate(pool.items()):
        pipe = Pipeline([("pre", build_preprocessor(features)), ("model", learner)])
        dec = cross_val_predict(pipe, X_tr, y_tr, cv=cv, method="decision_function")
        oof[cname] = dec
        fold_auc = [M.auroc(y_tr[te], dec[te]) for _, te in cv.split(X_tr, y_tr)]
        prob = 1 / (1 + np.exp(-dec))
        candidates[cname] = {"cv_auroc_mean": round(float(np.mean(fold_auc)), 4),
                             "cv_auroc_sd": round(float(np.std(fold_auc)), 4),
                             "cv_brier_uncalibrated": round(M.brier(y_tr, prob), 4)}
        report(0.05 + 0.5 * (i + 1) / len(pool), f"Cross-validated {cname}")
    best = max(candidates, key=lambda k: candidates[k]["cv_auroc_mean"])
    chosen = "logistic_l2" if "logistic_l2" in candidates and candidates["logistic_l2"]["cv_auroc_mean"] >= \
        candidates[best]["cv_auroc_mean"] - TIE_MARGIN else best

    report(0.6, f"Fitting and calibrating {chosen}")
    pipeline = Pipeline([("pre", build_preprocessor(features)), ("model", candidate_learners(seed)[chosen])])
    calibrated = CalibratedClassifierCV(pipeline, method="sigmoid", cv=cv, ensemble=False).fit(X_tr, y_tr)
    a, b = _sigmoid_params(calibrated)
    oof_p = 1 / (1 + np.exp(a * oof[chosen] + b))  # same folds as the calibrator's own
    threshold = youden_threshold(y_tr, oof_p)
    fitted = calibrated.calibrated_classifiers_[0].estimator
    pre, model = fitted.named_steps["pre"], fitted.named_steps["model"]
    Z_tr = pre.transform(X_tr)

    report(0.7, "Bootstrap refits for per-patient uncertainty")
    rng = np.random.default_rng(seed)
    members = []
    for _ in range(n_members):
        idx = rng.integers(0, len(y_tr), len(y_tr))
        while y_tr[idx].min() == y_tr[idx].max():
            idx = rng.integers(0, len(y_tr), len(y_tr))
        members.append(clone(model).fit(Z_tr[idx], y_tr[idx]))

    report(0.8, "Validating on held-out data with bootstrap CIs")
    p_te = calibrated.predict_proba(X_te)[:, 1]
    evaluations = {"internal": evaluation(test_df, p_te, threshold, seed, n_boot)}
    if external is not None and len(external):
        p_ext = calibrated.predict_proba(make_frame(external, features))[:, 1]
        evaluations["external"] = evaluation(external, p_ext, threshold, seed, n_boot)

    report(0.95, "Writing the model card")
    bundle = {"pipeline": calibrated, "members": members, "sigmoid": np.array([a, b]),
              "background": Z_tr.mean(axis=0), "ood": _ood_params(Z_tr),
              "transformed_names": np.array(list(pre.get_feature_names_out()), dtype=object)}
    summary = population_summary(X_tr, features)
    card = {
        "name": meta["name"], "version": version, "title": meta["title"], "status": "active",
        "intended_use": meta["intended_use"], "population": meta["population"], "outcome": meta["outcome"],
        "features": [{**f.as_dict(), "training": summary[f.name]} for f in features],
        "excluded_features": meta.get("excluded", {}),
        "missing_data": ("Missing numeric inputs are imputed with the training median and flagged by a missing "
                         "indicator the model can use; missing categories become their own 'missing' level. "
                         "Imputed inputs are listed with every prediction."),
        "learner": chosen, "candidates": candidates,
        "selection_rule": f"Highest 5-fold CV AUROC on the training part; logistic regression kept when within "
                          f"{TIE_MARGIN} of the best (simpler, more transportable).",
        "calibration": "Platt (sigmoid) recalibration fitted on 5-fold out-of-fold predictions of the training "
                       "part (CalibratedClassifierCV, ensemble=False).",
        "threshold": threshold,
        "threshold_rule": "Maximises Youden's J (sensitivity + specificity - 1) on out-of-fold calibrated "
                          "training predictions.",
        "risk_bands": {"low": [0.0, round(threshold / 2, 4)], "borderline": [round(threshold / 2, 4), threshold],
                       "high": [threshold, 1.0]},
        "uncertainty": (f"95% interval: 2.5th-97.5th centile of the calibrated probabilities of {n_members} "
                        "bootstrap refits of the learner (preprocessing and calibration held fixed). It reflects "
                        "sampling uncertainty of the model fit, not the patient's outcome."),
        "out_of_population": ("Warnings when an input lies outside the training range, and when the patient's "
                              "Mahalanobis distance (Ledoit-Wolf covariance, preprocessed inputs) exceeds the "
                              "99th centile of the training patients'."),
        "explanation": ("SHAP values on the log-odds scale, summed per input (TreeExplainer for gradient boosting, "
                        "LinearExplainer for logistic regression; interventional with the training mean as "
                        "background), multiplied by the calibration slope: base + sum(contributions) equals "
                        "the logit of the probability."),
        "validation": {"design": meta.get("design") or _design_text(split, external),
                       **{k: v for k, v in evaluations.items()}},
        "data": {"title": meta["data_title"], "source": meta["data_source"], "licence": meta["licence"],
                 "citation": meta["citation"], "n_train": int(len(y_tr)), "events_train": int(y_tr.sum()),
                 "n_test": int(len(test_df)), "n_external": int(len(external)) if external is not None else 0},
        "limitations": list(meta.get("limitations", [])),
        "training": {"seed": seed, "script": "engine/models/train.py", "command": meta.get("command"),
                     "scikit_learn": sklearn.__version__, "seconds": round(time.perf_counter() - started, 1),
                     "split": {"kind": split.kind, "column": split.column, "holdout": list(split.holdout),
                               "test_fraction": split.test_fraction}},
    }
    report(1.0, "Done")
    return bundle, card


def _design_text(split: Split, external: pd.DataFrame | None) -> str:
    text = {"random": f"Stratified random split: {int((1 - split.test_fraction) * 100)}% training, "
                      f"{int(split.test_fraction * 100)}% held-out internal validation.",
            "site": f"Site split on '{split.column}': held-out sites {', '.join(split.holdout)}.",
            "time": f"Time split on '{split.column}': the latest {int(split.test_fraction * 100)}% held out."}[split.kind]
    if external is not None:
        text += " External validation on other sites, never used for training or tuning."
    return text


def spec_meta(spec: ModelSpec) -> dict[str, Any]:
    ds = spec.dataset
    return {"name": spec.name, "title": spec.title, "intended_use": spec.intended_use, "population": spec.population,
            "outcome": spec.outcome, "excluded": spec.excluded, "limitations": spec.limitations,
            "data_title": ds.title, "data_source": ds.source, "licence": ds.licence, "citation": ds.citation,
            "command": f"python -m engine models train {spec.name}"}


def train_shipped(name: str, *, seed: int = DEFAULT_SEED, version: str = "1.0.0",
                  progress: Progress | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train one of the shipped models from its real data set (see engine.models.specs)."""
    spec = MODEL_SPECS[name]
    df = spec.load()
    external = None
    if spec.external_sites:
        is_ext = df["site"].isin(spec.external_sites)
        external, df = df[is_ext], df[~is_ext]
    meta = spec_meta(spec)
    if spec.external_sites:
        meta["design"] = (f"Developed on {', '.join(sorted(df['site'].unique()))} (stratified 75/25 split: "
                          f"training / internal validation); externally validated on "
                          f"{', '.join(spec.external_sites)}, never used for training or tuning.")
    return fit_and_evaluate(df, list(spec.features), meta, split=Split(), external=external, seed=seed,
                            version=version, progress=progress)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def card_json(card: dict[str, Any]) -> str:
    return json.dumps(card, indent=1, sort_keys=False, default=_json_default, allow_nan=False)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(type(obj).__name__)


def infer_feature(frame: pd.DataFrame, column: str) -> FeatureSpec:
    """A feature spec for a dataset-frame column: vocabulary unit/code/range when known, kind from the values."""
    from engine.models.specs import AGE, SEX
    from engine.vocabulary import CONCEPTS

    if column == "age":
        return AGE
    if column == "sex":
        return SEX
    values = frame[column].dropna()
    if column in CONCEPTS:
        c = CONCEPTS[column]
        return FeatureSpec(column, c.name, c.unit, c.code, "numeric", c.plausible)
    numeric = pd.to_numeric(values, errors="coerce")
    code = column if column.startswith("condition_") else f"local:{column}"
    if numeric.notna().all() and len(values):
        if set(numeric.unique()) <= {0, 1}:
            return FeatureSpec(column, column.replace("_", " "), "{0/1}", code, "binary", (0, 1))
        return FeatureSpec(column, column.replace("_", " "), "", code, "numeric", None)
    cats = tuple(sorted(values.astype(str).unique()))
    if len(cats) > 20:
        raise InputError(f"Column '{column}' has {len(cats)} distinct text values; choose numeric or "
                         "categorical columns with at most 20 levels.")
    return FeatureSpec(column, column.replace("_", " "), "", code, "categorical", None, cats)


def train_on_dataset(frame: pd.DataFrame, *, dataset: dict[str, Any], name: str, title: str, outcome: str,
                     features: list[str], split: Split, version: str, username: str, seed: int = DEFAULT_SEED,
                     learners: tuple[str, ...] | None = None, progress: Progress | None = None,
                     n_members: int = N_MEMBERS, n_boot: int = N_BOOT) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train a model on an imported dataset frame (engine.frames.dataset_frame) chosen on the Models page."""
    if outcome not in frame.columns:
        raise InputError(f"The outcome column '{outcome}' is not in the dataset.")
    if not features:
        raise InputError("Choose at least one feature.")
    if outcome in features:
        raise InputError("The outcome cannot also be a feature.")
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise InputError(f"Column '{missing[0]}' is not in the dataset.")
    y = pd.to_numeric(frame[outcome], errors="coerce")
    if y.isna().any() or not set(y.unique()) <= {0, 1}:
        raise InputError(f"The outcome '{outcome}' must be 0/1 in every row "
                         f"({int(y.isna().sum())} rows are missing or not numbers).")
    specs = [infer_feature(frame, c) for c in features]
    df = frame.reset_index(drop=False).copy()
    df["outcome"] = y.astype(int).to_numpy()
    if "site" not in df.columns and split.kind == "site" and split.column:
        df["site"] = df[split.column].astype(str)
    meta = {"name": name, "title": title, "outcome": f"{outcome} = 1",
            "intended_use": "Analyst-trained model for research and evaluation; not validated for clinical use "
                            "until reviewed and promoted by an administrator.",
            "population": f"Patients of dataset '{dataset['name']}' in the ClinSight store.",
            "data_title": dataset["name"], "data_source": dataset.get("source") or "imported dataset",
            "licence": dataset.get("licence") or "as recorded at import", "citation": dataset.get("citation") or "",
            "limitations": ["Trained inside ClinSight on an imported dataset; check the validation design."],
            "command": f"Models page, trained by {username}"}
    return fit_and_evaluate(df, specs, meta, split=split, seed=seed, version=version, progress=progress,
                            learners=learners, n_members=n_members, n_boot=n_boot)
