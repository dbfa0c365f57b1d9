"""The model registry: bundles on disk, their sha256, and admin decisions in the store.

``assets/models/registry.json`` (the manifest) names every bundle and the
sha256 of its weights; each ``<name>/<version>/card.json`` records the same
hash. Weights are scikit-learn objects serialised with skops, which refuses
unknown types, and are loaded only here, only after both hashes match: a
tampered or swapped file raises :class:`ModelUnavailableError` instead of
running. Status (active/retired), the promoted version and threshold re-sets
are stored in ``model_versions`` and audited.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine import audit
from engine.config import get_settings
from engine.errors import InputError, ModelUnavailableError, NotFoundError
from engine.models.metrics import sens_spec_at
from engine.models.train import card_json, sha256_file
from engine.store import Database, open_db, transaction
from engine.store import models as model_rows

MANIFEST = "registry.json"
WEIGHTS = "model.skops"
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")
CARD_FEATURE_KEYS = ("name", "label", "unit", "code", "kind", "plausible", "categories")


def models_dir() -> Path:
    return get_settings().models_dir


def version_key(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in str(version).split("."))


def read_manifest(root: Path | None = None) -> dict[str, dict[str, dict[str, str]]]:
    path = (root or models_dir()) / MANIFEST
    if not path.exists():
        return {}
    return json.loads(path.read_text())["models"]


def _write_manifest(manifest: dict, root: Path) -> None:
    ordered = {n: dict(sorted(v.items(), key=lambda kv: version_key(kv[0]))) for n, v in sorted(manifest.items())}
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps({"models": ordered}, indent=1) + "\n")
    tmp.replace(root / MANIFEST)


def _read_card(name: str, version: str, root: Path) -> dict[str, Any]:
    """A version's card, refused when it differs from the sha256 the manifest recorded at registration."""
    path = root / name / version / "card.json"
    if not path.exists():
        raise ModelUnavailableError(f"The card of model '{name}' version {version} is missing.")
    raw = path.read_bytes()
    expected = read_manifest(root).get(name, {}).get(version, {}).get("card_sha256")
    if expected is None or hashlib.sha256(raw).hexdigest() != expected:
        raise ModelUnavailableError(f"The card of model '{name}' version {version} failed its integrity check "
                                    "(sha256 mismatch); it was changed after registration.")
    return json.loads(raw)


def _states() -> dict[tuple[str, str], dict[str, Any]]:
    with open_db() as db:
        return model_rows.model_states(db)


def _effective(name: str, versions: list[str], states: dict) -> dict[str, dict[str, Any]]:
    """Status, promoted flag and threshold per version: store decisions over card defaults.

    While no admin has promoted any version of ``name``, the first active *shipped* version serves (a
    fresh install has predictions without an admin step). A version trained in the app never gets this
    default: it is served only after an admin promotes it.
    """
    def state(v: str) -> dict[str, Any]:
        return states.get((name, v), {})

    out = {v: {"status": state(v).get("status", "active"), "promoted": bool(state(v).get("promoted", 0)),
               "threshold_override": state(v).get("threshold"),
               "origin": state(v).get("origin", "shipped")} for v in versions}
    if not any(e["promoted"] for e in out.values()):
        shipped = sorted((v for v, e in out.items() if e["status"] == "active" and e["origin"] == "shipped"),
                         key=version_key)
        if shipped:
            out[shipped[0]]["promoted"] = True
    return out


def is_servable(entry: dict[str, Any]) -> bool:
    """True for the one version of a model that may reach clinicians: promoted and active."""
    return bool(entry["promoted"]) and entry["status"] == "active"


def _summary(card: dict[str, Any], eff: dict[str, Any]) -> dict[str, Any]:
    threshold = eff["threshold_override"] if eff["threshold_override"] is not None else card["threshold"]
    internal = card["validation"].get("internal", {}).get("metrics", {})
    return {"name": card["name"], "version": card["version"], "status": eff["status"], "promoted": eff["promoted"],
            "servable": is_servable(eff), "origin": eff["origin"],
            "title": card["title"], "learner": card.get("learner"), "threshold": threshold,
            "auroc": internal.get("auroc", {}).get("value"),
            "features": [{k: f.get(k) for k in CARD_FEATURE_KEYS} for f in card["features"]]}


def list_models() -> list[dict[str, Any]]:
    """Every model version in the registry with status, promoted flag and features (name, unit, code)."""
    root = models_dir()
    manifest = read_manifest(root)
    states = _states()
    out = []
    for name, versions in sorted(manifest.items()):
        eff = _effective(name, list(versions), states)
        for version in sorted(versions, key=version_key):
            out.append(_summary(_read_card(name, version, root), eff[version]))
    return out


def resolve_version(name: str, version: str | None = None) -> str:
    """The version asked for, or the promoted one; NotFoundError when there is none."""
    manifest = read_manifest()
    if name not in manifest:
        raise NotFoundError(f"There is no model named '{name}'.")
    if version is not None:
        if version not in manifest[name]:
            raise NotFoundError(f"Model '{name}' has no version {version}.")
        return version
    eff = _effective(name, list(manifest[name]), _states())
    for v, e in eff.items():
        if is_servable(e):
            return v
    raise ModelUnavailableError(f"Model '{name}' has no active promoted version.")


def serving_card(name: str, version: str | None = None) -> dict[str, Any]:
    """The card of the version that may score patients: the promoted, active one.

    Every path that gives a risk to a clinician (Predict, the REST API, batch scoring, the command line)
    goes through here, so an analyst-trained or retired version cannot reach a patient even when a caller
    names it explicitly. Analysts read any version's card with :func:`get_card`.
    """
    card = get_card(name, version)
    if card["status"] != "active":
        raise ModelUnavailableError(f"Model '{name}' version {card['version']} is retired and cannot be used.")
    if not card["promoted"]:
        raise ModelUnavailableError(f"Model '{name}' version {card['version']} has not been promoted for clinical "
                                    "use; an administrator must review and promote it on the Models page first.")
    return card


def get_card(name: str, version: str | None = None) -> dict[str, Any]:
    """The card.json of a version (default: the promoted one) with its current status and threshold."""
    version = resolve_version(name, version)
    card = _read_card(name, version, models_dir())
    eff = _effective(name, list(read_manifest()[name]), _states())[version]
    card["status"] = eff["status"]
    card["promoted"] = eff["promoted"]
    card["card_threshold"] = card["threshold"]
    if eff["threshold_override"] is not None:
        card["threshold"] = eff["threshold_override"]
    return card


@dataclass
class LoadedModel:
    """A verified bundle ready to predict: the calibrated pipeline plus what explanation needs."""

    name: str
    version: str
    card: dict[str, Any]
    bundle: dict[str, Any]
    sha256: str

    @property
    def pipeline(self):
        return self.bundle["pipeline"]


_CACHE: dict[tuple, LoadedModel] = {}
_LOCK = threading.Lock()


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()


def load_model(name: str, version: str | None = None) -> LoadedModel:
    """Load a bundle after checking its sha256 against the manifest and its card (cached per file state)."""
    version = resolve_version(name, version)
    root = models_dir()
    entry = read_manifest(root)[name][version]
    path = root / name / version / entry.get("weights", WEIGHTS)
    if not path.exists():
        raise ModelUnavailableError(f"The weights of model '{name}' version {version} are missing.")
    stat = path.stat()
    card_path = root / name / version / "card.json"
    key = (str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino, card_path.stat().st_mtime_ns, entry["sha256"])
    with _LOCK:
        cached = _CACHE.get(key)
    if cached is not None:
        return cached
    card = _read_card(name, version, root)
    digest = sha256_file(path)
    if digest != entry["sha256"] or digest != card.get("weights", {}).get("sha256"):
        raise ModelUnavailableError(f"Model '{name}' version {version} failed its integrity check (sha256 "
                                    "mismatch); it was changed after registration and will not be loaded.")
    bundle = _skops_load(path, name, version)
    loaded = LoadedModel(name, version, card, bundle, digest)
    with _LOCK:
        _CACHE[key] = loaded
    return loaded


def _skops_load(path: Path, name: str, version: str) -> dict[str, Any]:
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=path)
        bad = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
        if bad:
            raise ModelUnavailableError(f"Model '{name}' version {version} contains types outside scikit-learn "
                                        f"and numpy ({', '.join(bad[:3])}); it will not be loaded.")
        return sio.load(path, trusted=untrusted)
    except ModelUnavailableError:
        raise
    except Exception as exc:  # a corrupt file must not crash the app
        raise ModelUnavailableError(f"Model '{name}' version {version} could not be read ({type(exc).__name__}).") \
            from exc


def write_bundle(bundle: dict[str, Any], card: dict[str, Any], root: Path | None = None) -> Path:
    """Serialise weights with skops, record their sha256 in the card and the manifest; return the folder."""
    import re

    import skops.io as sio

    if not re.fullmatch(r"[a-z][a-z0-9_]{1,63}", card["name"]):
        raise InputError("A model name must start with a letter and use lower-case letters, digits and "
                         "underscores only (2-64 characters).")
    if not re.fullmatch(r"\d{1,4}\.\d{1,4}\.\d{1,4}", card["version"]):
        raise InputError("A model version must look like 1.2.0.")
    root = root or models_dir()
    folder = root / card["name"] / card["version"]
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    weights = folder / WEIGHTS
    sio.dump(bundle, weights)
    digest = sha256_file(weights)
    card = {**card, "weights": {"file": WEIGHTS, "format": "skops", "sha256": digest}}
    card_bytes = (card_json(card) + "\n").encode("utf-8")
    (folder / "card.json").write_bytes(card_bytes)
    manifest = read_manifest(root)
    manifest.setdefault(card["name"], {})[card["version"]] = {
        "weights": WEIGHTS, "sha256": digest, "card_sha256": hashlib.sha256(card_bytes).hexdigest()}
    _write_manifest(manifest, root)
    clear_cache()
    return folder


def next_version(name: str) -> str:
    """1.0.0 for a new model name, else the next minor version after the highest one."""
    versions = list(read_manifest().get(name, {}))
    if not versions:
        return "1.0.0"
    major, minor, *_ = (list(version_key(max(versions, key=version_key))) + [0, 0])
    return f"{major}.{int(minor) + 1}.0"


def _check_version(name: str, version: str) -> None:
    if version not in read_manifest().get(name, {}):
        raise NotFoundError(f"Model '{name}' has no version {version}.")


def promote(db: Database, name: str, version: str, *, username: str) -> None:
    """Make ``version`` the served one (admin); audited."""
    _check_version(name, version)
    with transaction(db):
        state = model_rows.model_states(db).get((name, version), {})
        if state.get("status") == "retired":
            raise InputError(f"Version {version} of '{name}' is retired; re-activate it before promoting it.")
        model_rows.set_promoted(db, name, version, username=username)
        audit.record(db, username=username, action="models.promote", target_type="model",
                     target_id=f"{name}@{version}")


def set_status(db: Database, name: str, version: str, status: str, *, username: str) -> None:
    """Retire or re-activate a version (admin); a retired version is never served; audited."""
    if status not in ("active", "retired"):
        raise InputError("Status must be 'active' or 'retired'.")
    _check_version(name, version)
    with transaction(db):
        model_rows.upsert_model_state(db, name, version, username=username, status=status)
        if status == "retired":
            model_rows.clear_promoted(db, name, version)
        audit.record(db, username=username, action=f"models.{'retire' if status == 'retired' else 'activate'}",
                     target_type="model", target_id=f"{name}@{version}")


def threshold_effect(card: dict[str, Any], threshold: float, validation: str = "internal") -> dict[str, float]:
    """Sensitivity and specificity of a version's held-out data at ``threshold`` (from its stored ROC)."""
    roc = card["validation"][validation]["curves"]["roc"]
    return sens_spec_at(roc, threshold)


def set_threshold(db: Database, name: str, version: str, threshold: float, *, username: str) -> dict[str, Any]:
    """Re-set the operating threshold of a version (admin); audited with the old/new sensitivity and specificity."""
    if not (isinstance(threshold, (int, float)) and 0.0 < float(threshold) < 1.0 and np.isfinite(threshold)):
        raise InputError("The operating threshold must be a probability strictly between 0 and 1.")
    card = get_card(name, version)
    old = float(card["threshold"])
    effect = {"old_threshold": old, "new_threshold": float(threshold),
              "old": threshold_effect(card, old), "new": threshold_effect(card, float(threshold))}
    with transaction(db):
        model_rows.upsert_model_state(db, name, version, username=username, threshold=float(threshold))
        audit.record(db, username=username, action="models.threshold", target_type="model",
                     target_id=f"{name}@{version}", details=effect)
    return effect


def register_trained(db: Database, bundle: dict[str, Any], card: dict[str, Any], *, username: str) -> Path:
    """Write an analyst-trained version (active, not promoted) and audit it."""
    folder = write_bundle(bundle, card)
    with transaction(db):
        model_rows.upsert_model_state(db, card["name"], card["version"], username=username, status="active")
        model_rows.mark_trained(db, card["name"], card["version"])
        audit.record(db, username=username, action="models.train", target_type="model",
                     target_id=f"{card['name']}@{card['version']}",
                     details={"learner": card["learner"], "n_train": card["data"]["n_train"]})
    return folder


METRIC_LABELS = {"auroc": "AUROC", "auprc": "AUPRC", "brier": "Brier score", "calibration_slope": "Calibration slope",
                 "calibration_intercept": "Calibration intercept", "sensitivity": "Sensitivity",
                 "specificity": "Specificity", "ppv": "PPV", "npv": "NPV"}


def metrics_rows(card: dict[str, Any]) -> list[dict[str, Any]]:
    """The card's held-out metrics as rows: metric, then 'value (low-high)' per validation set."""
    rows = []
    sections = [k for k, v in card["validation"].items() if isinstance(v, dict) and "metrics" in v]
    for key, label in METRIC_LABELS.items():
        row = {"metric": label}
        for section in sections:
            m = card["validation"][section]["metrics"][key]
            row[section] = "n/a" if m["value"] is None else f"{m['value']:.3f} ({m['low']:.3f}-{m['high']:.3f})"
        rows.append(row)
    rows.append({"metric": "n (events)", **{
        s: f"{card['validation'][s]['metrics']['n']['value']} ({card['validation'][s]['metrics']['events']['value']})"
        for s in sections}})
    return rows


def subgroup_rows(card: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for section, ev in card["validation"].items():
        if not (isinstance(ev, dict) and "subgroups" in ev):
            continue
        for group, levels in ev["subgroups"].items():
            for level, m in levels.items():
                row = {"validation": section, "subgroup": group, "level": level, "n": m["n"]["value"],
                       "events": m["events"]["value"]}
                for key in ("auroc", "calibration_slope", "sensitivity", "specificity"):
                    v = m.get(key)
                    row[key] = "n/a" if not v or v["value"] is None else \
                        f"{v['value']:.2f} ({v['low']:.2f}-{v['high']:.2f})"
                rows.append(row)
    return rows


def compare_versions(name: str, version_a: str, version_b: str) -> dict[str, Any]:
    """Two versions side by side: metrics and the operating threshold's sensitivity/specificity movement."""
    card_a, card_b = get_card(name, version_a), get_card(name, version_b)
    rows = []
    for key, label in METRIC_LABELS.items():
        a = card_a["validation"]["internal"]["metrics"][key]["value"]
        b = card_b["validation"]["internal"]["metrics"][key]["value"]
        rows.append({"metric": label, version_a: a, version_b: b,
                     "change": None if a is None or b is None else round(b - a, 4)})
    movement = {v: {"threshold": c["threshold"], **threshold_effect(c, float(c["threshold"]))}
                for v, c in ((version_a, card_a), (version_b, card_b))}
    return {"rows": rows, "threshold_movement": movement}
