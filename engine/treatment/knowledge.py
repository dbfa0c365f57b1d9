"""The rule knowledge base: YAML files under ``engine/treatment/rules/``, loaded and validated.

Why data files: the rules are clinical content reviewed like code, each traceable to
its guideline (body, year, section) with thresholds in UCUM units. Loading checks the
structure with a JSON Schema and then the meaning: every observation code is a known
concept, every threshold unit converts to that concept's unit, every drug class
exists, every strength uses a known grading scheme, and rule ids are unique. A rule
base that fails any check does not load (an engine error naming the rule), so a typo
can never silently switch a contraindication off.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from engine.errors import EngineError
from engine.treatment import units
from engine.treatment.drugs import DrugVocabulary
from engine.treatment.valuesets import ValueSet, load_value_sets
from engine.vocabulary import concept_for_code

RULES_DIR = Path(__file__).resolve().parent / "rules"
NON_RULE_FILES = {"drug_classes.yaml", "interactions.yaml", "value_sets.yaml", "data_windows.yaml"}
COMPARATORS = ("<", "<=", ">", ">=")


class KnowledgeBaseError(EngineError):
    """A rule file is malformed or refers to something that does not exist."""


_CODES = {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}
# Conditions are named ICD-10-CM value sets (rules/value_sets.yaml), never code prefixes.
_CONDITION_REF = {"type": "object", "required": ["value_set"], "additionalProperties": False,
                  "properties": {"value_set": {"type": "string"}, "label": {"type": "string"}}}
_CLASSES = {"type": "array", "minItems": 1, "items": {"type": "string"}}
_CITATION = {"type": "object", "required": ["section"], "additionalProperties": False,
             "properties": {"section": {"type": "string", "minLength": 3},
                            "recommendation": {"type": ["string", "null"]},
                            "body": {"type": "string"}, "year": {"type": "integer"}}}
_STRENGTH = {"type": "object", "required": ["scheme"], "properties": {"scheme": {"type": "string"}},
             "additionalProperties": {"type": "string"}}

CRITERION_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "object", "required": ["observation", "comparator", "threshold", "unit"], "additionalProperties": False,
         "properties": {"observation": {"type": "object", "required": ["codes", "name"], "additionalProperties": False,
                                        "properties": {"codes": _CODES, "name": {"type": "string"}}},
                        "comparator": {"enum": list(COMPARATORS)}, "threshold": {"type": "number"},
                        "unit": {"type": "string", "minLength": 1},
                        # The same threshold as the guideline also states it in other units (LDL-C 190 mg/dL
                        # = 4.9 mmol/L): a value recorded in one of them is compared in that unit.
                        "thresholds_by_unit": {"type": "object", "additionalProperties": {"type": "number"}}}},
        {"type": "object", "required": ["finding"], "additionalProperties": False,
         "properties": {"finding": {"enum": ["pregnant", "angioedema_history"]},
                        # In an inclusion, an unrecorded state may have to count as "not met" (an option for
                        # pregnant patients is not shown to everyone who could be pregnant).
                        "if_unknown": {"enum": ["to_confirm", "not_met"]}}},
        {"type": "object", "required": ["medication"], "additionalProperties": False,
         "properties": {"medication": {"type": "object", "required": ["classes"], "additionalProperties": False,
                                       "properties": {"classes": _CLASSES,
                                                      "unless_classes": {"type": "array", "items": {"type": "string"}}}}}},
        {"type": "object", "required": ["age"], "additionalProperties": False,
         "properties": {"age": {"type": "object", "required": ["comparator", "threshold", "unit"],
                                "additionalProperties": False,
                                "properties": {"comparator": {"enum": list(COMPARATORS)},
                                               "threshold": {"type": "number"}, "unit": {"type": "string"}}}}},
        {"type": "object", "required": ["condition"], "additionalProperties": False,
         "properties": {"condition": _CONDITION_REF}},
        {"type": "object", "required": ["confirm"], "additionalProperties": False,
         "properties": {"confirm": {"type": "string", "minLength": 5}}},
        {"type": "object", "required": ["all"], "additionalProperties": False,
         "properties": {"all": {"type": "array", "items": {"$ref": "#/$defs/criterion"}}}},
        {"type": "object", "required": ["any"], "additionalProperties": False,
         "properties": {"any": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/criterion"}}}},
    ]
}

RULE_FILE_SCHEMA: dict[str, Any] = {
    "$defs": {"criterion": CRITERION_SCHEMA},
    "type": "object",
    "required": ["knowledge_base", "version", "guideline", "rules"],
    "additionalProperties": False,
    "properties": {
        "knowledge_base": {"type": "string"},
        "version": {"type": "integer", "minimum": 1},
        "reviewed": {"type": "string"},
        "guideline": {"type": "object", "required": ["body", "title", "year", "edition", "superseded_by"],
                      "additionalProperties": False,
                      "properties": {"body": {"type": "string"}, "title": {"type": "string"},
                                     "year": {"type": "integer", "minimum": 1990}, "doi": {"type": "string"},
                                     "edition": {"type": "string"}, "superseded_by": {"type": ["string", "null"]},
                                     "currency_note": {"type": "string"}}},
        "triggers": {"type": "array", "items": {
            "type": "object", "required": ["value_set", "criterion", "note", "section"], "additionalProperties": False,
            "properties": {"value_set": {"type": "string"}, "criterion": {"$ref": "#/$defs/criterion"},
                           "note": {"type": "string"}, "section": {"type": "string"}}}},
        "rules": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["id", "condition", "option", "statement", "strength", "citation", "inclusion",
                         "contraindications", "cautions"],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string", "pattern": r"^[a-z0-9]+(\.[a-z0-9-]+)+$"},
                "condition": _CONDITION_REF,
                "option": {"type": "object", "required": ["label", "kind", "drug_classes"], "additionalProperties": False,
                           "properties": {"label": {"type": "string"},
                                          "kind": {"enum": ["drug_class", "switch", "stop", "lifestyle", "referral",
                                                            "test"]},
                                          "drug_classes": {"type": "array", "items": {"type": "string"}},
                                          # A switch replaces a current drug: the class it replaces and the
                                          # washout the guideline requires before the first dose.
                                          "switch_from": {"type": "array", "items": {
                                              "type": "object", "required": ["class", "washout_hours"],
                                              "additionalProperties": False,
                                              "properties": {"class": {"type": "string"},
                                                             "washout_hours": {"type": "number", "minimum": 0}}}}}},
                "statement": {"type": "string", "minLength": 20},
                "strength": _STRENGTH,
                "citation": _CITATION,
                "not_applicable_if": {"type": "array", "items": {"$ref": "#/$defs/criterion"}},
                "inclusion": {"$ref": "#/$defs/criterion"},
                "contraindications": {"type": "array", "items": {
                    "type": "object", "required": ["id", "reason", "criterion"], "additionalProperties": False,
                    "properties": {"id": {"type": "string"}, "reason": {"type": "string", "minLength": 10},
                                   "criterion": {"$ref": "#/$defs/criterion"}}}},
                "cautions": {"type": "array", "items": {
                    "type": "object", "required": ["id", "note", "criterion"], "additionalProperties": False,
                    "properties": {"id": {"type": "string"}, "note": {"type": "string", "minLength": 10},
                                   "criterion": {"$ref": "#/$defs/criterion"}}}},
            },
        }},
    },
}

# Strength grading schemes the rules may use, each mapped to an ordinal so options from
# different guidelines can be ranked. Tier: how firmly the guideline recommends (ADA statements
# are all recommendations, so tier 3); evidence: the guideline's own evidence level.
STRENGTH_SCHEMES: dict[str, dict[str, dict[str, int]]] = {
    "ADA evidence grade": {"grade": {"A": 4, "B": 3, "C": 2, "E": 1}},
    "ACC/AHA COR/LOE": {"class": {"I": 3, "1": 3, "IIa": 2, "2a": 2, "IIb": 1, "2b": 1,
                                  # Harm / no-benefit classes appear only on contraindications and interactions.
                                  "III: Harm": 0, "3: Harm": 0, "III: No Benefit": 0, "3: No Benefit": 0},
                        "level": {"A": 4, "A-SR": 4, "B-R": 3, "B-NR": 3, "C-LD": 2, "C-EO": 1}},
    "GRADE (IDSA)": {"recommendation": {"strong": 3, "weak": 1},
                     "quality": {"high": 4, "moderate": 3, "low": 2, "very low": 1}},
}


@dataclass(frozen=True)
class Guideline:
    key: str
    version: int
    body: str
    title: str
    year: int
    doi: str | None
    edition: str = ""
    superseded_by: str | None = None
    currency_note: str | None = None

    def currency(self) -> dict[str, Any]:
        """Edition and any newer edition that supersedes it (shown on the page and in the JSON)."""
        return {"knowledge_base": self.key, "title": self.title, "body": self.body, "year": self.year,
                "edition": self.edition, "superseded_by": self.superseded_by, "note": self.currency_note}


@dataclass(frozen=True)
class Rule:
    """One rule as loaded: the raw mapping plus its guideline; read-only."""

    id: str
    guideline: Guideline
    data: dict[str, Any]

    @property
    def value_set(self) -> str:
        return str(self.data["condition"]["value_set"])

    def citation(self) -> dict[str, Any]:
        c = self.data["citation"]
        return {"body": self.guideline.body, "year": self.guideline.year, "title": self.guideline.title,
                "section": c["section"], "recommendation": c.get("recommendation"), "doi": self.guideline.doi,
                "knowledge_base": self.guideline.key, "knowledge_base_version": self.guideline.version,
                "edition": self.guideline.edition, "superseded_by": self.guideline.superseded_by}


@dataclass(frozen=True)
class KnowledgeBase:
    rules: tuple[Rule, ...]
    drug_classes: dict[str, dict[str, Any]]
    interactions: tuple[dict[str, Any], ...]
    versions: dict[str, int]
    value_sets: dict[str, ValueSet]
    drugs: DrugVocabulary
    harms: tuple[dict[str, Any], ...]
    triggers: tuple[dict[str, Any], ...]
    guidelines: tuple[Guideline, ...]
    windows: dict[str, Any]

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def conditions(self) -> dict[str, str]:
        """ICD-10-CM code -> label for every condition some rule covers (for pickers)."""
        out: dict[str, str] = {}
        for rule in self.rules:
            vs = self.value_sets[rule.value_set]
            for code in vs.roots():
                out.setdefault(code, vs.label)
        return dict(sorted(out.items()))

    def condition_label(self, ref: dict[str, Any]) -> str:
        return ref.get("label") or self.value_sets[ref["value_set"]].label

    def value_sets_read(self) -> set[str]:
        """Names of every value set a rule reads, as its condition or inside its criteria.

        Why: other vocabularies (the SNOMED CT map, the notes findings) must cover each of them.
        """
        names = set()
        for rule in self.rules:
            names.add(rule.value_set)
            for leaf in rule_criteria(rule.data):
                if "condition" in leaf and "value_set" in leaf["condition"]:
                    names.add(leaf["condition"]["value_set"])
        return names

    def ancestors(self, drug_class: str) -> set[str]:
        """``drug_class`` and every parent class above it."""
        seen: set[str] = set()
        stack = [drug_class]
        while stack:
            cls = stack.pop()
            if cls in seen or cls not in self.drug_classes:
                continue
            seen.add(cls)
            stack.extend(self.drug_classes[cls].get("parents", []))
        return seen


def strength_rank(strength: dict[str, str]) -> int:
    """Ordinal used to rank options: 10 x recommendation tier + evidence level (higher first)."""
    scheme = STRENGTH_SCHEMES.get(strength.get("scheme", ""))
    if scheme is None:
        raise KnowledgeBaseError(f"Strength scheme '{strength.get('scheme')}' is not one of {sorted(STRENGTH_SCHEMES)}.")
    if strength["scheme"] == "ADA evidence grade":
        return 30 + scheme["grade"][strength["grade"]]
    if strength["scheme"] == "GRADE (IDSA)":
        return 10 * scheme["recommendation"][strength["recommendation"]] + scheme["quality"][strength["quality"]]
    level = _best_level(strength["level"], scheme["level"])
    return 10 * scheme["class"][strength["class"]] + level


def _best_level(text: str, levels: dict[str, int]) -> int:
    """ACC/AHA levels may be split by component ("SBP: A; DBP: C-EO"); rank on the highest named."""
    found = [levels[token] for token in re.findall(r"A-SR|B-NR|B-R|C-LD|C-EO|\bA\b", text) if token in levels]
    if not found:
        raise KnowledgeBaseError(f"Level of evidence '{text}' names no known ACC/AHA level.")
    return max(found)


def strength_text(strength: dict[str, str]) -> str:
    """The strength as the guideline writes it, e.g. 'COR I, LOE A' or 'strong recommendation; moderate-quality evidence'."""
    if strength["scheme"] == "ADA evidence grade":
        return f"ADA evidence grade {strength['grade']}"
    if strength["scheme"] == "GRADE (IDSA)":
        return f"{strength['recommendation']} recommendation; {strength['quality']}-quality evidence"
    return f"COR {strength['class']}, LOE {strength['level']}"


def _check_strength(rule_id: str, strength: dict[str, str]) -> None:
    scheme = STRENGTH_SCHEMES.get(strength.get("scheme", ""))
    if scheme is None:
        raise KnowledgeBaseError(f"Rule {rule_id}: unknown strength scheme '{strength.get('scheme')}'.")
    for part, allowed in scheme.items():
        if part not in strength:
            raise KnowledgeBaseError(f"Rule {rule_id}: strength needs '{part}' for scheme {strength['scheme']}.")
        if part != "level" and strength[part] not in allowed:
            raise KnowledgeBaseError(f"Rule {rule_id}: strength {part} '{strength[part]}' is not one of {sorted(allowed)}.")
    strength_rank(strength)


def iter_criteria(criterion: dict[str, Any]):
    """Every leaf criterion inside ``criterion`` (depth first)."""
    if "all" in criterion or "any" in criterion:
        for child in criterion.get("all", criterion.get("any", [])):
            yield from iter_criteria(child)
    else:
        yield criterion


def rule_criteria(rule_data: dict[str, Any]):
    """Every leaf criterion of a rule: applicability, inclusion, contraindications, cautions."""
    for crit in rule_data.get("not_applicable_if", []):
        yield from iter_criteria(crit)
    yield from iter_criteria(rule_data["inclusion"])
    for item in rule_data["contraindications"] + rule_data["cautions"]:
        yield from iter_criteria(item["criterion"])


def _check_criterion(rule_id: str, leaf: dict[str, Any], value_sets: dict[str, ValueSet] | None = None,
                     drug_classes: dict[str, Any] | None = None) -> None:
    if "condition" in leaf and value_sets is not None and leaf["condition"]["value_set"] not in value_sets:
        raise KnowledgeBaseError(f"Rule {rule_id}: value set '{leaf['condition']['value_set']}' is not in value_sets.yaml.")
    if "medication" in leaf and drug_classes is not None:
        for cls in leaf["medication"]["classes"] + leaf["medication"].get("unless_classes", []):
            if cls not in drug_classes:
                raise KnowledgeBaseError(f"Rule {rule_id}: drug class '{cls}' is not in drug_classes.yaml.")
    if "observation" in leaf:
        for unit in leaf.get("thresholds_by_unit", {}):
            for code in leaf["observation"]["codes"]:
                if units.normalise_unit(unit) not in units.accepted_units(code):
                    raise KnowledgeBaseError(f"Rule {rule_id}: threshold unit '{unit}' cannot be used for '{code}'.")
        for code in leaf["observation"]["codes"]:
            if concept_for_code(code) is None:
                raise KnowledgeBaseError(f"Rule {rule_id}: observation code '{code}' is not in engine.vocabulary.")
            if units.normalise_unit(leaf["unit"]) not in units.accepted_units(code):
                raise KnowledgeBaseError(f"Rule {rule_id}: threshold unit '{leaf['unit']}' cannot be used for code "
                                         f"'{code}' (accepted: {', '.join(units.accepted_units(code))}).")
    elif "age" in leaf:
        if units.normalise_unit(leaf["age"]["unit"]) not in units.QUANTITIES["age"].units():
            raise KnowledgeBaseError(f"Rule {rule_id}: age unit '{leaf['age']['unit']}' is not a UCUM time unit.")


def load_knowledge_base(rules_dir: Path | None = None) -> KnowledgeBase:
    """Load and validate every rule file in ``rules_dir`` (default: the packaged rules)."""
    return _load(str(rules_dir or RULES_DIR))


@functools.lru_cache(maxsize=4)
def _load(rules_dir: str) -> KnowledgeBase:
    directory = Path(rules_dir)
    drug_doc = _read_yaml(directory / "drug_classes.yaml")
    drug_classes = drug_doc["classes"]
    interactions_doc = _read_yaml(directory / "interactions.yaml")
    interactions = tuple(interactions_doc["interactions"])
    harms = tuple(interactions_doc.get("harms", []))
    value_sets = load_value_sets(directory / "value_sets.yaml")
    windows = _read_yaml(directory / "data_windows.yaml")
    validator = jsonschema.Draft202012Validator(RULE_FILE_SCHEMA)
    rules: list[Rule] = []
    versions: dict[str, int] = {}
    guidelines: list[Guideline] = []
    triggers: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name in NON_RULE_FILES:
            continue
        doc = _read_yaml(path)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.path) or "(top level)"
            raise KnowledgeBaseError(f"Rule file {path.name} is malformed at {where}: {first.message}")
        g = doc["guideline"]
        guideline = Guideline(doc["knowledge_base"], doc["version"], g["body"], g["title"], g["year"], g.get("doi"),
                              g["edition"], g.get("superseded_by"), g.get("currency_note"))
        versions[guideline.key] = guideline.version
        guidelines.append(guideline)
        for trigger in doc.get("triggers", []):
            if trigger["value_set"] not in value_sets:
                raise KnowledgeBaseError(f"Trigger in {path.name}: value set '{trigger['value_set']}' is unknown.")
            for leaf in iter_criteria(trigger["criterion"]):
                _check_criterion(f"trigger {trigger['value_set']}", leaf, value_sets, drug_classes)
            triggers.append(dict(trigger, guideline=guideline))
        for data in doc["rules"]:
            _check_strength(data["id"], data["strength"])
            if data["condition"]["value_set"] not in value_sets:
                raise KnowledgeBaseError(f"Rule {data['id']}: value set '{data['condition']['value_set']}' is not in "
                                         "value_sets.yaml.")
            for leaf in rule_criteria(data):
                _check_criterion(data["id"], leaf, value_sets, drug_classes)
            for cls in data["option"]["drug_classes"] + [s["class"] for s in data["option"].get("switch_from", [])]:
                if cls not in drug_classes:
                    raise KnowledgeBaseError(f"Rule {data['id']}: drug class '{cls}' is not in drug_classes.yaml.")
            if data["option"]["kind"] in ("drug_class", "switch") and not data["option"]["drug_classes"]:
                raise KnowledgeBaseError(f"Rule {data['id']}: a drug option must name its drug classes.")
            if (data["option"]["kind"] == "switch") != bool(data["option"].get("switch_from")):
                raise KnowledgeBaseError(f"Rule {data['id']}: a switch option, and only a switch, names switch_from.")
            rules.append(Rule(data["id"], guideline, data))
    ids = [r.id for r in rules]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise KnowledgeBaseError(f"Rule ids must be unique; repeated: {', '.join(duplicates)}.")
    for item in interactions + harms:
        for cls in item["classes"]:
            if cls not in drug_classes:
                raise KnowledgeBaseError(f"Interaction {item['id']}: drug class '{cls}' is not in drug_classes.yaml.")
        _check_strength(item["id"], item["strength"])
        for leaf in iter_criteria(item.get("when", {"all": []})):
            _check_criterion(item["id"], leaf, value_sets, drug_classes)
    return KnowledgeBase(tuple(rules), drug_classes, interactions, versions, value_sets, DrugVocabulary(drug_doc),
                         harms, tuple(triggers), tuple(guidelines), windows)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as handle:
            doc = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as exc:
        raise KnowledgeBaseError(f"Rule file {path.name} cannot be read: {exc}") from exc
    if not isinstance(doc, dict):
        raise KnowledgeBaseError(f"Rule file {path.name} must hold a mapping at the top level.")
    return doc
