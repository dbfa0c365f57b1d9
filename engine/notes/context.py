"""ConText for one target phrase per sentence: negation, temporality, experiencer.

Why medspaCy: its ConText component (Harkema et al., J Biomed Inform 2009) is the maintained
implementation of the algorithm the annotated set was built for; we add a small, cross-validated set of
general cue families on top of its default rules (``rules/candidates.json`` -> ``rules/selected.json``)
instead of writing our own matcher. The labels returned are the annotation set's own words, so the
command-line output can be scored against the file directly.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from engine.errors import InputError

RULES_DIR = Path(__file__).resolve().parent / "rules"
CANDIDATES_PATH = RULES_DIR / "candidates.json"
SELECTED_PATH = RULES_DIR / "selected.json"

NEGATION_LABELS = ("Affirmed", "Negated")
TEMPORALITY_LABELS = ("Recent", "Historical", "Not particular")
EXPERIENCER_LABELS = ("Patient", "Family member", "Other")

# ConText categories -> span attributes; PSEUDO_* categories deliberately set nothing.
SPAN_ATTRS: dict[str, dict[str, bool]] = {
    "NEGATED_EXISTENCE": {"is_negated": True},
    "POSSIBLE_EXISTENCE": {"is_uncertain": True},
    "HISTORICAL": {"is_historical": True},
    "HYPOTHETICAL": {"is_hypothetical": True},
    "FAMILY": {"is_family": True},
    "OTHER_EXPERIENCER": {"is_other_experiencer": True},
}

# Category-specific terminators (genConText's CONJ lists end only the property they belong to). A plain
# medspaCy TERMINATE rule ends every category's scope, negation included, so these get their own categories.
# A semicolon joins two clauses in one sentence ("No fever or chills; cough present."): it ends a negation's or
# a possibility's reach, not a tense's or a relative's (protocol round 6; the rule is ``CLAUSE_END``).
TERMINATING_TYPES = {"HISTORICAL": ["HISTORICAL_TERMINATOR"], "HYPOTHETICAL": ["HYPOTHETICAL_TERMINATOR"],
                     "NEGATED_EXISTENCE": ["CLAUSE_END"], "POSSIBLE_EXISTENCE": ["CLAUSE_END"]}

# medspaCy section categories that change a finding's context (notes and, when chosen, annotated sentences).
HISTORICAL_SECTIONS = frozenset({"past_medical_history", "past_surgical_history", "problem_list"})
FAMILY_SECTIONS = frozenset({"family_history"})

_SPACES = re.compile(r"[ \t\u00a0]+")


@dataclass(frozen=True)
class ContextLabels:
    """The three ConText properties of one target, in the annotation set's words."""

    negation: str
    temporality: str
    experiencer: str

    def as_dict(self) -> dict[str, str]:
        return {"negation": self.negation, "temporality": self.temporality, "experiencer": self.experiencer}


def apply_section(labels: ContextLabels, section: str | None) -> ContextLabels:
    """What a section header says that the sentence may not: past history is historical, family history
    is a relative's. A hypothetical mention stays hypothetical; a negation is untouched."""
    temporality, experiencer = labels.temporality, labels.experiencer
    if section in HISTORICAL_SECTIONS and temporality == "Recent":
        temporality = "Historical"
    if section in FAMILY_SECTIONS:
        experiencer = "Family member"
    return ContextLabels(labels.negation, temporality, experiencer)


def load_candidate_groups(path: Path = CANDIDATES_PATH) -> list[dict[str, Any]]:
    """Every candidate cue family (rules or a setting) that tuning may choose from."""
    return list(json.loads(path.read_text(encoding="utf-8"))["groups"])


def load_selected_names(path: Path = SELECTED_PATH) -> tuple[str, ...]:
    """Names of the groups cross-validation chose; none when tuning has not been run."""
    if not path.exists():
        return ()
    return tuple(json.loads(path.read_text(encoding="utf-8"))["groups"])


# A token that ends a clause: punctuation or a line break. The cues below match only up to one, so that a cue
# read backwards reaches its own clause only.
_CLAUSE_END = {"TEXT": {"REGEX": r"^(\W+|\s+)$"}}

# medspaCy's default ": no" cue (NEGATED_EXISTENCE, BACKWARD) is meant for answers ("Fever: no."), but it also
# matches "Lungs: no consolidation." and, as the longer cue, wins the overlap with the forward "no": the finding
# after it was read as affirmed (engine/notes/rules/protocol.md, round 4). It is kept only where "no" ends the
# answer.
ANSWER_NO = {"literal": ": no", "category": "NEGATED_EXISTENCE", "direction": "BACKWARD",
             "pattern": [{"ORTH": ":"}, {"LOWER": "no"}, _CLAUSE_END]}

# Cues written after the finding that medspaCy's defaults only know before it or in longer forms ("Pneumonia
# ruled out.", "Pneumonia has resolved.", "Pneumonia cannot be excluded."): round 5 of the protocol. Then the
# semicolon, which ends a negation's or a possibility's reach (round 6; see ``TERMINATING_TYPES``).
AFTER_FINDING = [
    {"literal": "ruled out", "category": "NEGATED_EXISTENCE", "direction": "BACKWARD",
     "pattern": [{"LOWER": {"IN": ["was", "were", "is", "are"]}, "OP": "?"}, {"LOWER": "ruled"}, {"LOWER": "out"},
                 _CLAUSE_END]},
    {"literal": "has resolved", "category": "NEGATED_EXISTENCE", "direction": "BACKWARD",
     "pattern": [{"LOWER": {"IN": ["has", "have", "had"]}, "OP": "?"}, {"LOWER": "resolved"}, _CLAUSE_END]},
    {"literal": "cannot be excluded", "category": "POSSIBLE_EXISTENCE", "direction": "BACKWARD",
     "pattern": [{"LOWER": {"IN": ["cannot", "can", "not"]}}, {"LOWER": "not", "OP": "?"}, {"LOWER": "be", "OP": "?"},
                 {"LOWER": {"IN": ["excluded", "ruled"]}}, {"LOWER": "out", "OP": "?"}, _CLAUSE_END]},
    {"literal": ";", "category": "CLAUSE_END"},
]


def _as_rule(rule: dict[str, Any]):
    """A ConTextRule from the rule files' dictionary form (bidirectional unless it says otherwise)."""
    from medspacy.context import ConTextRule

    return ConTextRule(rule["literal"], rule["category"], pattern=rule.get("pattern"),
                       direction=rule.get("direction", "BIDIRECTIONAL"), max_scope=rule.get("max_scope"))


def context_rules(groups: Sequence[dict[str, Any]] = ()) -> list:
    """medspaCy's default ConText rules, with its ": no" cue narrowed to answers (``ANSWER_NO``) and the cues
    written after a finding (``AFTER_FINDING``), then the rules of the chosen cue families: one list for the
    sentence labeller and the note extractor alike."""
    import medspacy
    from medspacy.context import ConTextRule

    path = Path(medspacy.__file__).resolve().parents[1] / "resources" / "en" / "context_rules.json"
    rules = [_as_rule(ANSWER_NO) if rule.literal == ": no" and rule.pattern is None else rule
             for rule in ConTextRule.from_json(path)]
    return rules + [_as_rule(r) for r in AFTER_FINDING] + [_as_rule(r) for g in groups for r in g.get("rules", [])]


def _ensure_extensions() -> None:
    from spacy.tokens import Span

    if not Span.has_extension("is_other_experiencer"):
        Span.set_extension("is_other_experiencer", default=False)


class ContextLabeller:
    """medspaCy ConText with the default rules plus the chosen cue families.

    Builds one blank-English spaCy pipeline (no statistical model, nothing downloaded) and reuses it.
    """

    def __init__(self, group_names: Sequence[str] | None = None, groups: Sequence[dict[str, Any]] | None = None,
                 learned: dict[str, Any] | None = None):
        import medspacy  # noqa: F401  (registers the medspacy_* spaCy factories)
        import spacy

        _ensure_extensions()
        all_groups = {g["name"]: g for g in (groups if groups is not None else load_candidate_groups())}
        names = load_selected_names() if group_names is None else tuple(group_names)
        unknown = [n for n in names if n not in all_groups]
        if unknown:
            raise InputError(f"Unknown ConText rule group(s): {', '.join(unknown)}.")
        self.group_names = tuple(names)
        self.learned = learned  # engine.notes.learned classifiers applied on top of the rules, when given
        settings: dict[str, Any] = {}
        for name in names:
            settings.update(all_groups[name].get("setting", {}))
        self.collapse_whitespace = bool(settings.get("collapse_whitespace", False))
        self.nlp = spacy.blank("en")
        # Section headers inside the sentence ("PAST MEDICAL HISTORY: ..."), with medspaCy's default rules.
        self.sectionizer = (self.nlp.add_pipe("medspacy_sectionizer", config={"rules": "default"})
                            if settings.get("sections") else None)
        self.context = self.nlp.add_pipe(
            "medspacy_context",
            config={"rules": None, "span_attrs": SPAN_ATTRS, "terminating_types": TERMINATING_TYPES,
                    "prune_on_target_overlap": bool(settings.get("prune_on_target_overlap", False))},
        )
        self.context.add(context_rules([all_groups[name] for name in names]))

    def _normalise(self, text: str) -> str:
        return _SPACES.sub(" ", text) if self.collapse_whitespace else text

    def analyse(self, sentence: str, condition: str, *, cues: bool = False
                ) -> tuple[ContextLabels, dict[str, float] | None]:
        """The rules' labels (sections applied when chosen, no learned layer) and, if asked, the cue features
        the learned layer reads (engine.notes.learned.cue_features)."""
        sentence, condition = self._normalise(sentence), self._normalise(condition)
        doc = self.nlp.make_doc(sentence)
        for i, token in enumerate(doc):
            token.is_sent_start = i == 0
        span = locate_target(doc, condition)
        if span is None:
            return ContextLabels("Affirmed", "Recent", "Patient"), ({} if cues else None)
        if self.sectionizer is not None:
            doc = self.sectionizer(doc)
        doc.ents = [span]
        doc = self.context(doc)
        target = doc.ents[0]
        section = target._.section_category if self.sectionizer is not None and target._.section is not None else None
        labels = apply_section(labels_of(target), section)
        if not cues:
            return labels, None
        from engine.notes.learned import cue_features

        return labels, cue_features(doc, target, section)

    def label(self, sentence: str, condition: str) -> ContextLabels:
        """Labels for ``condition`` as it appears in ``sentence`` (found case-insensitively, any spacing)."""
        use_cues = bool(self.learned and self.learned.get("cue_features"))
        labels, cues = self.analyse(sentence, condition, cues=use_cues)
        return refine(labels, self._normalise(sentence), self._normalise(condition), self.learned, cues)

    def label_many(self, rows: Iterable[tuple[str, str]]) -> list[ContextLabels]:
        return [self.label(sentence, condition) for sentence, condition in rows]


def locate_target(doc, condition: str):
    """The span of ``condition`` in ``doc``: first case-insensitive match, whitespace-insensitive."""
    words = condition.split()
    if not words:
        return None
    pattern = r"\s+".join(re.escape(w) for w in words)
    match = re.search(pattern, doc.text, flags=re.IGNORECASE)
    if match is None:
        return None
    return doc.char_span(match.start(), match.end(), label="FINDING", alignment_mode="expand")


def labels_of(span) -> ContextLabels:
    """Map medspaCy's span attributes onto the annotation set's labels."""
    negation = "Negated" if span._.is_negated else "Affirmed"
    if span._.is_hypothetical:
        temporality = "Not particular"
    elif span._.is_historical:
        temporality = "Historical"
    else:
        temporality = "Recent"
    if span._.is_family:
        experiencer = "Family member"
    elif span._.is_other_experiencer:
        experiencer = "Other"
    else:
        experiencer = "Patient"
    return ContextLabels(negation, temporality, experiencer)


def refine(labels: ContextLabels, sentence: str, condition: str, learned: dict[str, Any] | None,
           cues: dict[str, float] | None = None) -> ContextLabels:
    """Negation and temporality from the learned window classifiers (which see the rules' label), if any."""
    if not learned:
        return labels
    from engine.notes.learned import apply_property_model, window_features

    values = labels.as_dict()
    for prop in ("negation", "temporality"):
        if prop in learned:
            feats = window_features(sentence, condition, values[prop], cues)
            values[prop] = apply_property_model(learned[prop], feats, values[prop])
    return ContextLabels(**values)


@lru_cache(maxsize=4)
def get_labeller(group_names: tuple[str, ...] | None = None, use_learned: bool = True) -> ContextLabeller:
    """A shared labeller: the chosen rules plus the learned layer when one is shipped."""
    from engine.notes.learned import load_learned

    return ContextLabeller(group_names, learned=load_learned() if use_learned else None)
