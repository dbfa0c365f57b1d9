"""House rules that keep the engine testable and the pages safe."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_engine_never_imports_streamlit():
    offenders = [str(p.relative_to(REPO)) for p in (REPO / "engine").rglob("*.py")
                 if any(m == "streamlit" or m.startswith("streamlit.") for m in _imported_modules(p))]
    assert offenders == []


def test_every_navigation_page_has_a_page_test():
    from pages.components.navigation import available_specs

    missing = []
    for spec in available_specs():
        name = spec.module.rsplit(".", 1)[1]
        if not (REPO / "tests" / "pages" / f"test_{name}.py").exists():
            missing.append(name)
    assert missing == [], f"pages without tests/pages/test_<page>.py: {missing}"


def test_every_page_module_runs_the_app_when_opened_alone():
    """Legacy multipage runs of pages/<x>.py must go through app.py's gate (see pages/components/standalone.py)."""
    from pages.components.navigation import available_specs

    for spec in available_specs():
        path = REPO / (spec.module.replace(".", "/") + ".py")
        if not path.exists():   # a page split into a package of tab modules (pages/explore/)
            path = REPO / spec.module.replace(".", "/") / "__init__.py"
        source = path.read_text(encoding="utf-8")
        assert 'if __name__ == "__main__":' in source and "run_app_instead()" in source, path.name
        tree = ast.parse(source)
        top_level_calls = [n for n in tree.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)]
        assert top_level_calls == [], f"{path.name} runs code at import time"


def test_app_is_a_thin_router():
    lines = [l for l in (REPO / "app.py").read_text().splitlines() if l.strip() and not l.strip().startswith("#")]
    assert len(lines) < 40
