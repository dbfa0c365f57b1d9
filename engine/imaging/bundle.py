"""Load the chest X-ray model bundle: ``assets/models/chest_xray_pneumonia/<version>/{weights.pt, card.json}``.

Why the checks: weights are a ``state_dict`` loaded with ``weights_only=True``
(no pickled code runs) and only after their sha256 matches the card, so a
swapped or damaged file is refused rather than silently used.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from engine.config import get_settings
from engine.errors import ModelUnavailableError
from engine.imaging.appearance import AppearanceGate
from engine.imaging.model import XrayNet
from engine.imaging.preprocess import model_input

MODEL_NAME = "chest_xray_pneumonia"


@dataclass(frozen=True)
class Bundle:
    """A loaded, verified model and its card."""

    model: XrayNet
    card: dict
    path: Path
    #: The classifier-independent appearance check (``engine.imaging.appearance``), when the card declares one.
    gate: AppearanceGate | None = None

    @property
    def version(self) -> str:
        return str(self.card["version"])

    @property
    def intensity(self) -> str:
        """The intensity normalisation the model was trained with (cards before 2.0.0 do not say: standardise)."""
        return str(self.card.get("input", {}).get("intensity", "standardise"))

    def inputs(self, squares) -> torch.Tensor:
        """Model input for [0, 1] squares through the one preprocessing contract, with this model's intensity step."""
        return model_input(squares, self.intensity)


def _version_key(name: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in name.split("."))


def installed_versions(models_dir: Path | None = None) -> list[str]:
    """Installed versions, oldest first."""
    root = (models_dir or get_settings().models_dir) / MODEL_NAME
    return sorted((p.name for p in root.glob("*") if (p / "card.json").exists()), key=_version_key) if root.is_dir() else []


#: Seconds a process reuses the promoted version it read from the store. Why: every read (page, API, bench)
#: asked the store, a connection and a query per image (~1.5 ms on SQLite, a round trip on PostgreSQL). A
#: promotion clears this process's copy at once; other replicas follow within this many seconds.
PROMOTED_TTL_S = 5.0
_promoted_cache: dict[str, tuple[float, str | None]] = {}


def _store_key() -> str:
    settings = get_settings()
    return settings.database_url or str(settings.db_path)


def promoted_version() -> str | None:
    """The version an administrator promoted (``python -m engine imaging promote``), from the store's model_versions.

    Why the store and not "the newest folder": a new version is installed beside the old one for comparison
    and reaches clinicians only after review, as tabular models do (engine.models.registry). Reused for
    :data:`PROMOTED_TTL_S` per store.
    """
    key = _store_key()
    hit = _promoted_cache.get(key)
    if hit is not None and time.monotonic() < hit[0]:
        return hit[1]
    from engine.store import open_db
    from engine.store import models as model_rows

    with open_db() as db:
        states = model_rows.model_states(db)
    promoted = [v for (n, v), st in states.items() if n == MODEL_NAME and st.get("promoted") and st.get("status") == "active"]
    version = promoted[0] if promoted else None
    _promoted_cache[key] = (time.monotonic() + PROMOTED_TTL_S, version)
    return version


@lru_cache(maxsize=32)
def _card_at(path_str: str, mtime_ns: int, size: int) -> dict:
    return json.loads(Path(path_str).read_text())


def read_card(folder: Path) -> dict:
    """A bundle folder's card, parsed once per change of the file (a stat per call): the served version is
    resolved on every read, and that must not parse every installed card each time. Shared: do not mutate
    (:func:`update_card` writes)."""
    path = Path(folder) / "card.json"
    stat = path.stat()
    return _card_at(str(path), stat.st_mtime_ns, stat.st_size)


def update_card(version: str, change: Callable[[dict], None], models_dir: Path | None = None) -> Path:
    """Apply ``change`` to a fresh read of ``version``'s card and write it back (the weights are untouched)."""
    path = bundle_dir(version, models_dir) / "card.json"
    card = json.loads(path.read_text())
    change(card)
    path.write_text(json.dumps(card, indent=2) + "\n")
    _card_at.cache_clear()  # a write within the file system's time stamp tick must not be read back stale
    return path


def shipped_default(versions: list[str], root: Path) -> str:
    """The version a fresh install serves: the newest whose card says ``promotion.shipped_default`` (the release
    decision, taken with the card's evidence), else the first installed version."""
    marked = [v for v in versions if read_card(root / v).get("promotion", {}).get("shipped_default")]
    return marked[-1] if marked else versions[0]


def bundle_dir(version: str | None = None, models_dir: Path | None = None) -> Path:
    """Folder of ``version``; by default the served one: the version an administrator promoted, else the
    shipped default (:func:`shipped_default`), as the tabular registry serves its shipped version until a
    promotion."""
    root = (models_dir or get_settings().models_dir) / MODEL_NAME
    if version is not None:
        path = root / version
        if not (path / "card.json").exists():
            raise ModelUnavailableError(f"Chest X-ray model version {version} is not installed.")
        return path
    versions = installed_versions(models_dir)
    if not versions:
        raise ModelUnavailableError("No chest X-ray model is installed (train one with `python -m engine imaging train`).")
    promoted = promoted_version() if models_dir is None else None
    return root / (promoted if promoted in versions else shipped_default(versions, root))


def served_version() -> str:
    """The version the page, the API and the command line use when none is named (see :func:`bundle_dir`)."""
    return bundle_dir().name


def promote(version: str, *, username: str) -> dict:
    """Serve ``version`` from now on (administrator); its own card's threshold comes with it. Audited."""
    from engine import audit
    from engine.store import open_db, transaction
    from engine.store import models as model_rows

    path = bundle_dir(version)
    card = json.loads((path / "card.json").read_text())
    with open_db() as db, transaction(db):
        model_rows.set_promoted(db, MODEL_NAME, version, username=username)
        audit.record(db, username=username, action="models.promote", target_type="model",
                     target_id=f"{MODEL_NAME}@{version}")
    _promoted_cache.pop(_store_key(), None)
    return {"model": MODEL_NAME, "promoted": version, "threshold": card["output"]["threshold"]}


def recorded_reports(kind: str, versions: list[str] | None = None) -> dict[str, dict]:
    """Version -> its ``kind`` report (``stress``, ``pairs``...), from whichever installed card records it (a later
    version's card may hold an earlier version's report; a later card wins). ``versions``: the installed
    versions when the caller has just listed them."""
    root = get_settings().models_dir / MODEL_NAME
    reports: dict[str, dict] = {}
    for version in installed_versions() if versions is None else versions:
        reports.update(read_card(root / version).get("robustness", {}).get(kind, {}))
    return reports


def version_summaries() -> list[dict]:
    """One row per installed version for the Models page: which one serves and why, its threshold, hold-out
    figures, worst specificity drop under the stress shifts (:func:`recorded_reports`), and whether it has the
    appearance gate. Read from the cards (no weights are loaded)."""
    root = get_settings().models_dir / MODEL_NAME
    versions = installed_versions()
    if not versions:
        return []
    served, promoted, stress = served_version(), promoted_version(), recorded_reports("stress", versions)
    rows = []
    for v in versions:
        card = read_card(root / v)
        holdout = card.get("metrics", {}).get("holdout", {})
        rows.append({
            "version": v,
            "served": v == served,
            "why": ("" if v != served else "promoted by an administrator" if v == promoted else "shipped default"),
            "threshold": card.get("output", {}).get("threshold"),
            "holdout_sensitivity": _point(holdout.get("sensitivity")),
            "holdout_specificity": _point(holdout.get("specificity")),
            "holdout_auroc": _point(holdout.get("auroc")),
            "worst_stress_specificity_drop": stress.get(v, {}).get("worst_specificity_drop"),
            "appearance_gate": "appearance_gate" in card,
        })
    return rows


def _point(value):
    """A card metric is a number or {"value": ..., "ci95": [...]}: the point estimate."""
    return value.get("value") if isinstance(value, dict) else value


@lru_cache(maxsize=4)
def _load(path_str: str, mtime: float) -> Bundle:
    path = Path(path_str)
    card = json.loads((path / "card.json").read_text())
    weights = path / card["weights"]["file"]
    if not weights.exists():
        raise ModelUnavailableError(f"The chest X-ray model version {card['version']} has no weights file.")
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    if digest != card["weights"]["sha256"]:
        raise ModelUnavailableError(
            f"The chest X-ray model version {card['version']} failed its integrity check (weights checksum differs from the card)."
        )
    torch.set_num_threads(max(1, get_settings().imaging_threads))  # process-wide; see Settings.imaging_threads
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model = XrayNet()
    model.platt_boot = torch.zeros_like(state["platt_boot"])  # size is set by training
    model.load_state_dict(state)
    model.eval()
    return Bundle(model=model, card=card, path=path, gate=_load_gate(path, card))


def _load_gate(path: Path, card: dict) -> AppearanceGate | None:
    """The card's appearance gate, verified like the weights (a changed file is refused, not used)."""
    entry = card.get("appearance_gate")
    if not entry:
        return None
    file = path / entry["file"]
    if not file.exists() or hashlib.sha256(file.read_bytes()).hexdigest() != entry["sha256"]:
        raise ModelUnavailableError(
            f"The chest X-ray model version {card['version']} failed its integrity check (appearance gate file "
            "missing or its checksum differs from the card).")
    return AppearanceGate.from_file(file)


def load_bundle(version: str | None = None, models_dir: Path | None = None) -> Bundle:
    """Load (cached per process, refreshed when a file of the bundle changes) and verify a bundle."""
    path = bundle_dir(version, models_dir)
    # Any file of the bundle changing (weights, card, gate) reloads it; no file is read to find that out.
    mtime = max((f.stat().st_mtime for f in path.iterdir()), default=0.0)
    return _load(str(path), mtime)


def record_report(version: str, kind: str, report: dict, models_dir: Path | None = None) -> Path:
    """Store a measured report (``stress``, ``pairs``, ``shortcut``) in ``version``'s card, keyed by the version
    it measured, so the card shows 1.0.0 and 2.0.0 side by side. The weights (and their checksum) are untouched."""
    def add(card: dict) -> None:
        card.setdefault("robustness", {}).setdefault(kind, {})[str(report["version"])] = report

    return update_card(version, add, models_dir)
