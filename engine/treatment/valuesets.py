"""ICD-10-CM value sets and code checks against the real tabular list.

Why value sets and not string prefixes: "G45" as a prefix catches G45.4 (transient global
amnesia) as a transient ischemic attack, and "I10" misses I11-I16 and the pregnancy
hypertension codes. Each clinical concept is an explicit, reviewed list of ICD-10-CM codes
(``rules/value_sets.yaml``) whose descendants come from the tabular hierarchy itself, with
named exclusions. Every code in the knowledge base and every code a user submits is checked
against the tabular list (CDC's data as shipped by ``simple-icd-10-cm``), so a typo or an
invented code is refused with a sentence instead of silently matching nothing.

The tabular list takes a few seconds to load, so it is loaded once per process, on first use.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine.errors import EngineError

VALUE_SETS_FILE = Path(__file__).resolve().parent / "rules" / "value_sets.yaml"


class ValueSetError(EngineError):
    """The value-set file is malformed or names a code that is not in the ICD-10-CM tabular list."""


@functools.cache
def _icd():  # noqa: ANN202 - the library module
    import warnings

    with warnings.catch_warnings():
        # The library reads its bundled data with importlib.resources' legacy API (a DeprecationWarning).
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as cm  # imported on first use: loading the tabular list takes seconds

    return cm


def normalise_code(code: str) -> str:
    """Upper case with the dot where ICD-10-CM puts it (E119 -> E11.9); blocks (O10-O16) unchanged."""
    text = code.strip().upper()
    if "-" in text:
        return text
    return _icd().add_dot(text.replace(".", "")) if len(text.replace(".", "")) > 3 else text.replace(".", "")


def is_icd10cm_code(code: str) -> bool:
    """Whether ``code`` (any dot placement, any case) is a category, subcategory or code of the tabular list."""
    try:
        return bool(_icd().is_valid_item(normalise_code(code)))
    except (ValueError, TypeError):
        return False


def description(code: str) -> str | None:
    """The tabular list's description of ``code``, or None when the code is not in it."""
    return _icd().get_description(normalise_code(code)) if is_icd10cm_code(code) else None


@dataclass(frozen=True)
class ValueSet:
    """One concept: its label, source, the codes as written, and the expanded membership."""

    key: str
    label: str
    source: str
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    left_out: tuple[str, ...]
    members: frozenset[str]

    def contains(self, code: str) -> bool:
        return normalise_code(code) in self.members

    def roots(self) -> list[str]:
        """The codes as listed (blocks such as O10-O16 expanded to their categories), for pickers."""
        out: list[str] = []
        for code in self.include:
            out.extend(_icd().get_children(code) if "-" in code else [code])
        return [c for c in out if c in self.members]


def _expand(key: str, codes: list[str], *, skip_descriptions: tuple[str, ...] = ()) -> set[str]:
    cm = _icd()
    out: set[str] = set()
    for code in codes:
        if not cm.is_valid_item(code):
            raise ValueSetError(f"Value set '{key}': '{code}' is not in the ICD-10-CM tabular list.")
        # Blocks ("O10-O16") and chapters ("15") are containers, not codes; the library also calls some
        # single-category blocks (O09) blocks, so the test is the written form.
        items = [code, *cm.get_descendants(code)]
        out.update(c for c in items if "-" not in c and not c.isdigit()
                   and not any(p in cm.get_description(c).lower() for p in skip_descriptions))
    return out


def load_value_sets(path: Path | None = None) -> dict[str, ValueSet]:
    """Every value set in ``path`` (default: the packaged file), expanded and checked."""
    return _load(str(path or VALUE_SETS_FILE))


@functools.lru_cache(maxsize=4)
def _load(path: str) -> dict[str, ValueSet]:
    try:
        doc: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueSetError(f"The value-set file cannot be read: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("value_sets"), dict):
        raise ValueSetError("The value-set file must hold a 'value_sets' mapping.")
    out: dict[str, ValueSet] = {}
    for key, spec in doc["value_sets"].items():
        if not isinstance(spec, dict) or not spec.get("include") or not spec.get("label") or not spec.get("source"):
            raise ValueSetError(f"Value set '{key}' needs a label, a source and at least one included code.")
        phrases = tuple(p.lower() for p in spec.get("exclude_descriptions", []))
        members = _expand(key, spec["include"], skip_descriptions=phrases) - _expand(key, spec.get("exclude", []))
        out[key] = ValueSet(key, spec["label"], " ".join(spec["source"].split()), tuple(spec["include"]),
                            tuple(spec.get("exclude", [])), tuple(spec.get("left_out", [])), frozenset(members))
    return out


def release() -> str:
    """The ICD-10-CM release the value sets are checked against (for citations and the page)."""
    doc = yaml.safe_load(VALUE_SETS_FILE.read_text(encoding="utf-8"))
    return str(doc.get("release", "ICD-10-CM"))
