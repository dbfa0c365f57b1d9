"""De-identification of note text before anything is stored (HIPAA Safe Harbor kinds that occur in notes).

What is replaced, and how:
- names after a title or a label ("Mr. John Smith", "Dr. Wong", "Patient: Jane Doe", "Signed by ..."),
  and any name the caller already knows for the patient (a CSV's name column) -> ``[NAME]``;
- dates -> the same date shifted by the patient's own offset (``engine.privacy.date_shift_days``, as
  the records import does), written ISO; a year alone is kept (Safe Harbor allows it);
- record / account / SSN numbers (labelled, or any run of 6+ digits) -> ``[ID]``;
- phone and fax numbers -> ``[PHONE]``; e-mails -> ``[EMAIL]``; URLs -> ``[URL]``;
- street addresses and ZIP codes -> ``[ADDRESS]``;
- ages over 89 -> ``90+``.
Limits (said in the README): a bare name with no title, label or known value is not recognised.
Nothing here logs or returns the identifiers themselves; only counts per kind.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from engine.notes.text import strip_invisible
from engine.privacy import SAFE_HARBOR_MAX_AGE

_MONTHS = {m: i + 1 for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}
_MONTH = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?|" \
         r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
_NAME_WORD = r"[A-Z][a-zA-Z'\-]+"
_FULL_NAME = rf"{_NAME_WORD}(?:\s+[A-Z]\.)?(?:\s+{_NAME_WORD}){{0,2}}"

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("email", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")),
    ("url", re.compile(r"\bhttps?://\S+|\bwww\.\S+", re.IGNORECASE)),
    ("ssn", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    ("phone", re.compile(r"(?:\+?\d{1,3}[\s.-]?)?\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b")),
    ("id", re.compile(r"(?i)\b(?:MRN|MR#|medical record(?: number| no\.?)?|record (?:number|no\.?)|"
                      r"acct(?:ount)?(?: number| no\.?)?|account|patient id|hospital number|encounter|"
                      r"ssn|social security(?: number)?)\s*[:#]?\s*[A-Z0-9][A-Z0-9-]{3,}")),
    ("address", re.compile(r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|"
                           r"Boulevard|Blvd|Court|Ct|Way|Place|Pl|Terrace|Circle)\b\.?"
                           r"(?:,?\s+(?:Apt|Suite|Unit)\.?\s*\w+)?"
                           r"(?:,\s*[A-Z][a-zA-Z]+(?:\s[A-Z][a-zA-Z]+)?)?(?:,?\s*[A-Z]{2})?(?:\s+\d{5}(?:-\d{4})?)?")),
    ("address", re.compile(r"\b[A-Z]{2}\s+\d{5}(?:-\d{4})?\b")),
]
_LONG_NUMBER = re.compile(r"\b\d{6,}\b")
_TITLED_NAME = re.compile(rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?\s+{_FULL_NAME}")
_LABELLED_NAME = re.compile(
    rf"(?im)\b(?:patient(?: name)?|name|attending|physician|provider|nurse|signed by|electronically signed by|"
    rf"dictated by|transcribed by|cc|referring(?: physician)?|seen by|resident)\s*[:\-]\s*{_FULL_NAME}")
_AGE = re.compile(r"(?i)\b(?:(?:age[d]?|aged)\s*[:\s]?\s*(\d{2,3})|(\d{2,3})(\s*-?\s*(?:year|yr)s?[\s-]*old|\s*y/?o\b|"
                  r"\s*yo\b))")
_DATES: list[tuple[str, re.Pattern[str]]] = [
    ("iso", re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")),
    ("mdy", re.compile(r"\b(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})\b")),
    ("month_d_y", re.compile(rf"\b({_MONTH})\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b")),
    ("d_month_y", re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH}),?\s+(\d{{4}})\b")),
    ("month_y", re.compile(rf"\b({_MONTH})\s+(\d{{4}})\b")),
]


@dataclass
class DeidResult:
    """The scrubbed text and how many fragments of each kind were replaced (never the fragments)."""

    text: str
    counts: Counter = field(default_factory=Counter)

    @property
    def n_replaced(self) -> int:
        return sum(self.counts.values())


def _month(text: str) -> int:
    return _MONTHS[text.strip(".")[:3].lower()]


def _shifted(y: int, m: int, d: int, shift_days: int) -> str | None:
    try:
        from datetime import timedelta
        return (date(y, m, d) + timedelta(days=shift_days)).isoformat()
    except ValueError:
        return None


def _replace_dates(text: str, shift_days: int, counts: Counter) -> str:
    def sub(kind: str, m: re.Match[str]) -> str:
        g = m.groups()
        if kind == "iso":
            y, mo, d = int(g[0]), int(g[1]), int(g[2])
        elif kind == "mdy":
            mo, d, y = int(g[0]), int(g[1]), int(g[2])
            y = y + 2000 if y < 100 and y < 50 else (y + 1900 if y < 100 else y)
        elif kind == "month_d_y":
            mo, d, y = _month(g[0]), int(g[1]), int(g[2])
        elif kind == "d_month_y":
            d, mo, y = int(g[0]), _month(g[1]), int(g[2])
        else:  # month and year: keep the year only (Safe Harbor)
            counts["date"] += 1
            return g[1]
        counts["date"] += 1
        return _shifted(y, mo, d, shift_days) or "[DATE]"

    for kind, pattern in _DATES:
        text = pattern.sub(lambda m, k=kind: sub(k, m), text)
    return text


def _replace_ages(text: str, counts: Counter) -> str:
    def sub(m: re.Match[str]) -> str:
        value = m.group(1) or m.group(2)
        if int(value) <= SAFE_HARBOR_MAX_AGE:
            return m.group(0)
        counts["age"] += 1
        return m.group(0).replace(value, "90+", 1)
    return _AGE.sub(sub, text)


def deidentify(text: str, *, shift_days: int, known_names: Sequence[str] = ()) -> DeidResult:
    """Replace identifiers in ``text`` (see module docstring); ``shift_days`` is the patient's date offset.

    Zero-width and format characters are removed first: one inside a name, record number or phone number
    ("Jo\u200bhn", "123\u200b4567") splits it past every pattern here, and the stored text, which has them
    removed too, would then show the identifier whole.
    """
    text = strip_invisible(text)
    counts: Counter = Counter()
    for kind, pattern in _PATTERNS:
        label = "[ADDRESS]" if kind == "address" else ("[ID]" if kind in ("id", "ssn") else f"[{kind.upper()}]")
        text, n = pattern.subn(label, text)
        counts[kind] += n

    def keep_label(m: re.Match[str]) -> str:
        head = re.match(r"(?is)^(.*?[:\-]\s*)", m.group(0))
        return (head.group(1) if head else "") + "[NAME]"
    text, n = _TITLED_NAME.subn(lambda m: m.group(0).split()[0] + " [NAME]", text)
    counts["name"] += n
    text, n = _LABELLED_NAME.subn(keep_label, text)
    counts["name"] += n
    for name in sorted({n.strip() for n in known_names if n and len(n.strip()) > 1}, key=len, reverse=True):
        parts = [re.escape(p) for p in name.split()]
        variants = [r"\s+".join(parts)] + [p for p in parts if len(p) > 2]
        for variant in variants:
            text, n = re.subn(rf"(?i)\b{variant}\b", "[NAME]", text)
            counts["name"] += n
    text = _replace_dates(text, shift_days, counts)
    text, n = _LONG_NUMBER.subn("[ID]", text)
    counts["id"] += n
    text = _replace_ages(text, counts)
    return DeidResult(text, Counter({k: v for k, v in counts.items() if v}))
