"""Findings in a whole note: sentences, then sections, then target findings, then their context.

Why this order: ConText scopes never cross a sentence, so sentences come first (medspaCy's PyRuSH
splitter, built for clinical text); section headers ("PAST MEDICAL HISTORY:", "FAMILY HISTORY:")
then say what a sentence alone cannot (a bare "Hypertension." under past history is historical);
targets come from the ICD-10-CM vocabulary; ConText labels each target inside its sentence.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from engine.notes.context import (_SPACES, SPAN_ATTRS, TERMINATING_TYPES, _ensure_extensions, apply_section,
                                  context_rules, labels_of, load_candidate_groups, load_selected_names)
from engine.notes.text import strip_invisible
from engine.notes.vocabulary import BY_CODE, target_rules

CONCLUSION_SECTIONS = frozenset({"impression", "observation_and_plan", "assessment_and_plan"})


@dataclass(frozen=True)
class NoteFinding:
    """One mention of a vocabulary finding in a note, with where it is and what the note says about it."""

    code: str
    label: str
    text: str
    start: int
    end: int
    sentence: int
    section: str | None
    negation: str
    temporality: str
    experiencer: str
    certainty: str = "Certain"  # "Uncertain": raised, not asserted ("possible pneumonia", "r/o pneumonia")

    @property
    def suggests_problem(self) -> bool:
        """What may be proposed for the problem list: see :func:`asserted_now`."""
        return asserted_now(asdict(self))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def asserted_now(finding: Mapping[str, Any]) -> bool:
    """Affirmed, current, about the patient, and asserted rather than raised as possible: what the notes say
    the patient has now. A finding stored before certainty was read (None) counts as asserted, as it did."""
    return (finding["negation"] == "Affirmed" and finding["temporality"] == "Recent"
            and finding["experiencer"] == "Patient" and finding.get("certainty") != "Uncertain")


_INLINE_HEADER = re.compile(r"^([A-Z][A-Z0-9 /&(),-]{2,60}):[ \t]+(?=\S)", re.MULTILINE)


def normalise_note(text: str) -> str:
    """Collapse runs of spaces (report padding) but keep line breaks, which carry section structure; an
    upper-case header followed by text on its line ("IMPRESSION: No effusion.") gets its own line, so
    the header's colon cannot join the next word as a cue (ConText's default ": no" looks backwards)."""
    text = strip_invisible(text)  # a byte-order mark or zero-width space would hide a cue ("\ufeffNo fever")
    text = "\n".join(_SPACES.sub(" ", line).rstrip() for line in text.replace("\r\n", "\n").split("\n"))
    return _INLINE_HEADER.sub(lambda m: m.group(1) + ":\n", text)


@lru_cache(maxsize=1)
def get_pipeline():
    """Blank English spaCy + PyRuSH sentences + sections + targets + ConText (selected rules)."""
    import medspacy  # noqa: F401  (registers the factories)
    import spacy
    from loguru import logger

    logger.disable("PyRuSH")  # its per-token DEBUG lines would flood the logs
    _ensure_extensions()
    nlp = spacy.blank("en")
    nlp.add_pipe("medspacy_pyrush")
    nlp.add_pipe("medspacy_target_matcher").add(target_rules())
    nlp.add_pipe("medspacy_sectionizer", config={"rules": "default"})
    groups = {g["name"]: g for g in load_candidate_groups()}
    chosen = [groups[n] for n in load_selected_names()]
    prune = any(g.get("setting", {}).get("prune_on_target_overlap") for g in chosen)
    context = nlp.add_pipe("medspacy_context", config={"rules": None, "span_attrs": SPAN_ATTRS,
                                                       "terminating_types": TERMINATING_TYPES,
                                                       "prune_on_target_overlap": prune})
    context.add(context_rules(chosen))
    return nlp


def extract_findings(text: str) -> list[NoteFinding]:
    """Every vocabulary finding in ``text`` (already normalised: offsets refer to the text given)."""
    doc = get_pipeline()(text)
    sentence_starts = [s.start for s in doc.sents]
    out: list[NoteFinding] = []
    # Rules + sections only: the learned layer (engine.notes.learned) was fitted on single sentences with no
    # section in view and learns that a bare list line is historical; in a note the section header says so.
    for ent in doc.ents:
        section = ent._.section_category if ent._.section is not None else None
        labels = apply_section(labels_of(ent), section)
        sentence = max(i for i, s in enumerate(sentence_starts) if s <= ent.start) if sentence_starts else 0
        finding = BY_CODE[ent.label_]
        out.append(NoteFinding(finding.code, finding.label, ent.text, ent.start_char, ent.end_char, sentence,
                               section, labels.negation, labels.temporality, labels.experiencer,
                               "Uncertain" if ent._.is_uncertain else "Certain"))
    return out


def report_conclusion(text: str) -> dict[str, Any] | None:
    """The conclusion of a radiology report: its IMPRESSION/CONCLUSION section, else its last sentence,
    with the radiograph findings found there. None for an empty text."""
    doc = get_pipeline()(text)
    if not len(doc):
        return None
    sections = [s for s in doc._.sections if s.category in CONCLUSION_SECTIONS]
    if sections:
        span = doc[sections[-1].body_start:sections[-1].body_end]
    else:
        span = list(doc.sents)[-1]
    findings = [f for f in extract_findings(text) if span.start_char <= f.start < span.end_char]
    return {"text": span.text.strip(), "findings": [f.as_dict() for f in findings]}


def finding_style(finding: dict[str, Any]) -> str:
    """How a mention is shown: family, then negated, then uncertain, then historical, then hypothetical, else
    affirmed.

    Why this precedence: a relative's history is about someone else whatever its tense; a negated mention
    is absent whatever its tense; a possible one is not asserted, so it must not look like a present one.
    """
    if finding["experiencer"] != "Patient":
        return "family"
    if finding["negation"] == "Negated":
        return "negated"
    if finding.get("certainty") == "Uncertain":
        return "uncertain"
    if finding["temporality"] == "Historical":
        return "historical"
    if finding["temporality"] == "Not particular":
        return "hypothetical"
    return "affirmed"


def highlight_segments(text: str, findings: list[dict[str, Any]]) -> list[tuple[str, str | None, str | None]]:
    """``text`` cut into (piece, style or None, finding label or None) for display; overlaps keep the first."""
    out: list[tuple[str, str | None, str | None]] = []
    pos = 0
    for f in sorted(findings, key=lambda f: (f["start"], -f["end"])):
        if f["start"] < pos:
            continue
        if f["start"] > pos:
            out.append((text[pos:f["start"]], None, None))
        out.append((text[f["start"]:f["end"]], finding_style(f), f"{f['label']} ({f['code']})"))
        pos = f["end"]
    if pos < len(text):
        out.append((text[pos:], None, None))
    return out
