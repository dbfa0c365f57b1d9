"""Fixtures for the REST API tests: a temp store with one user and token per role, a TestClient,
and the engine features (real where this build has them, stand-ins only where it does not)."""
from __future__ import annotations

import importlib
import sys
from typing import Any

import pytest

from tests.api.api_standins import MODULES, build_module



def _import_or_none(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            return False
        raise
    return True


@pytest.fixture
def engine_features(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Module name -> "real" or "stand-in". Stand-ins go into sys.modules only for missing modules."""
    kinds: dict[str, str] = {}
    for name in MODULES:
        if _import_or_none(name) and all(hasattr(sys.modules[name], f) for f in MODULES[name]):
            kinds[name] = "real"
            continue
        parts = name.split(".")
        for i in range(2, len(parts) + 1):
            sub = ".".join(parts[:i])
            if i < len(parts) and _import_or_none(sub):
                continue
            module = build_module(sub)
            monkeypatch.setitem(sys.modules, sub, module)
            monkeypatch.setattr(sys.modules[".".join(parts[: i - 1])], parts[i - 1], module, raising=False)
        kinds[name] = "stand-in"
    return kinds


@pytest.fixture
def api_db(role_users_db):
    """The three-role users store (tests/conftest.py) at CLINSIGHT_DB, open."""
    return role_users_db


@pytest.fixture
def tokens(api_db) -> dict[str, str]:
    """role -> API token for ada / cleo / ana, created by the admin through the engine."""
    from engine.api_tokens import create_token

    return {role: create_token(api_db, name, actor="ada")
            for role, name in (("admin", "ada"), ("clinician", "cleo"), ("analyst", "ana"))}


@pytest.fixture
def client(engine_features, tokens):
    from fastapi.testclient import TestClient

    from engine.api.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def model(engine_features) -> dict[str, Any]:
    """The first model the registry lists (the stand-in's when the registry is not on main)."""
    from engine.models.registry import list_models

    models = list_models()
    if not models:
        pytest.skip("The model registry lists no models in this build.")
    return models[0]
