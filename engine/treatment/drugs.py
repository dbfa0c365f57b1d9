"""Medication and allergy text -> drug classes, with brands, combination products and salt forms.

Why a token matcher and not a prefix test: "lisinopril/hydrochlorothiazide", "Entresto",
"amlodipine besylate 5 mg" and "PCN" each name classes that a whole-string or prefix match
misses, and "metoprolol tartrate" must not count as the sustained-release metoprolol
succinate the heart-failure guideline names. The text is lower-cased, doses are dropped,
"/", "+", "," and "-" separate components, and at each position the longest known name
(member, brand or abbreviation from ``rules/drug_classes.yaml``) wins. Words that only say
how a drug is given (tablet, ER, mg) or which salt it is are ignored; any other word that
matches nothing makes the text *partly unmapped*, which the caller reports as a warning.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_DOSE = re.compile(r"\d+(?:[.,]\d+)?\s*(?:mg|mcg|µg|g|ml|units?|iu|%)?(?![a-z])")


@dataclass(frozen=True)
class DrugMatch:
    """What a text names: the classes (with parents), the generic ingredients recognised, and whether
    some word in it matched nothing."""

    classes: tuple[str, ...]
    ingredients: tuple[str, ...]
    unmapped: bool


def _tokens(text: str) -> list[str]:
    text = _DOSE.sub(" ", text.lower().replace("β", "beta "))
    text = re.sub(r"[/+,;()]", " / ", text).replace("-", " ")
    return text.split()


class DrugVocabulary:
    """Names -> generic ingredients -> classes, built from the drug-class file."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.classes: dict[str, dict[str, Any]] = doc["classes"]
        self.ignored = {w.lower() for w in doc.get("form_words", []) + doc.get("salt_words", [])} | {"/"}
        self._member_class: dict[tuple[str, ...], str] = {}
        for key, cls in self.classes.items():
            for member in cls.get("members", []):
                self._member_class[tuple(_tokens(member))] = key
        self._names: dict[tuple[str, ...], list[tuple[str, ...]]] = {name: [name] for name in self._member_class}
        for brand, ingredients in (doc.get("brands") or {}).items():
            self._names[tuple(_tokens(brand))] = [tuple(_tokens(i)) for i in ingredients]
        self._longest = max(len(n) for n in self._names)

    def with_parents(self, classes: list[str], *, parents: bool = True) -> list[str]:
        """The classes, every parent above them (unless ``parents`` is False: an allergy to a penicillin is
        not an allergy to every beta-lactam) and the classes their products contain, in order."""
        out: list[str] = []
        stack = list(reversed(classes))
        while stack:
            cls = stack.pop()
            if cls in out or cls not in self.classes:
                continue
            out.append(cls)
            stack.extend(reversed((self.classes[cls].get("parents", []) if parents else [])
                                  + self.classes[cls].get("contains", [])))
        return out

    def contained(self, classes: list[str]) -> set[str]:
        """Classes present only because a product contains them (the ARB inside sacubitril/valsartan)."""
        return {c for cls in classes for c in self.with_parents(self.classes.get(cls, {}).get("contains", []))}

    def match(self, text: str, *, parents: bool = True) -> DrugMatch:
        tokens = _tokens(text)
        ingredients: list[str] = []
        unmapped = False
        i = 0
        while i < len(tokens):
            for size in range(min(self._longest, len(tokens) - i), 0, -1):
                names = self._names.get(tuple(tokens[i:i + size]))
                if names is not None:
                    ingredients.extend(" ".join(n) for n in names)
                    i += size
                    break
            else:
                if tokens[i] not in self.ignored:
                    unmapped = True
                i += 1
        direct = [self._member_class[tuple(_tokens(n))] for n in ingredients]
        return DrugMatch(tuple(self.with_parents(direct, parents=parents)), tuple(dict.fromkeys(ingredients)), unmapped or not direct)
