"""Engine features the API serves, loaded lazily so the API runs in any build.

Why lazily: prediction, imaging and treatment land as separate features; an API
process must start (and say what it lacks) even when one of them is not
installed, instead of failing at import time.
"""
from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

from engine.errors import EngineError

# feature key -> (module, function, what a person calls it)
FEATURES: dict[str, tuple[str, str, str]] = {
    "predict": ("engine.models.predict", "predict_record", "Risk prediction"),
    "models": ("engine.models.registry", "list_models", "The model registry"),
    "model_card": ("engine.models.registry", "get_card", "The model registry"),
    "imaging": ("engine.imaging.service", "predict_image", "Chest X-ray reading"),
    "treatment": ("engine.treatment", "suggest", "Treatment options"),
    "icu": ("engine.icu.service", "predict_series", "ICU deterioration risk"),
}


class FeatureUnavailableError(EngineError):
    """The engine feature behind a route is not installed in this build (HTTP 503)."""


def _is_missing(exc: ModuleNotFoundError, module: str) -> bool:
    """True when the import failed because ``module`` (or a parent package) does not exist.

    An ImportError from inside an existing module is a real bug and must not be
    disguised as "not installed".
    """
    name = exc.name or ""
    return bool(name) and (module == name or module.startswith(name + "."))


def load(feature: str) -> Callable[..., Any]:
    """Return the engine function behind ``feature`` or raise :class:`FeatureUnavailableError`."""
    module_name, attr, label = FEATURES[feature]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if _is_missing(exc, module_name):
            raise FeatureUnavailableError(f"{label} is not installed in this build of ClinSight.") from None
        raise
    function = getattr(module, attr, None)
    if function is None:
        raise FeatureUnavailableError(f"{label} is not installed in this build of ClinSight.")
    return function


def installed() -> dict[str, bool]:
    """Which features this build has (for /health); imports each once, as the first call would."""
    status: dict[str, bool] = {}
    for feature in FEATURES:
        try:
            load(feature)
        except FeatureUnavailableError:
            status[feature] = False
        else:
            status[feature] = True
    return status
