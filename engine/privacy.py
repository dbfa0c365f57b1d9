"""De-identification helpers following HIPAA Safe Harbor (45 CFR 164.514(b)(2)).

Only the generalisations the whole engine shares live here; the import path's
identifier detection builds on them.
"""
from __future__ import annotations

import math

from engine.errors import InputError

SAFE_HARBOR_MAX_AGE = 89


OVER_89_GROUP = "90+"
# Analysis-only stand-in for "90 or older" (see ``top_code_ages``): the store never holds an age over 89.
TOP_CODED_AGE = 90.0
TOP_CODED_FLAG = "age_90_or_older"


def generalise_age(age: float | None) -> tuple[float | None, str | None]:
    """Return (age kept, age group): ages over 89 are dropped and grouped as "90+".

    Other ages are kept and also given a 10-year band for k-anonymity and display. The store keeps
    exactly this (age NULL, group "90+"); analyses use :func:`top_code_ages` so those patients are
    not silently left out.
    """
    if age is None:
        return None, None
    age = float(age)
    if math.isnan(age):
        return None, None
    if math.isinf(age) or age < 0:
        # Found by fuzzing: -inf crashed with a ValueError; a negative or infinite age is an input error.
        raise InputError("An age must be a number of years from 0 upwards.")
    if age > SAFE_HARBOR_MAX_AGE:
        return None, OVER_89_GROUP
    low = int(age // 10) * 10
    return float(age), f"{low}-{low + 9}"


def top_code_ages(frame):
    """An analysis frame in which patients stored as "90+" (age missing) get age 90 and the 0/1 flag
    column ``age_90_or_older``; returns (frame, how many were top-coded).

    Safe Harbor allows ages over 89 only as one "90 or older" category. Coding that category as 90 (the
    category's lower bound) lets Cox models, clustering and tests keep these patients instead of dropping
    them as missing; the flag says which ages mean "90 or older", and the store, displays and exports keep
    "90+" (``age_group``). Frames without ``age`` / ``age_group`` or without such patients are unchanged.
    """
    if "age" not in frame.columns or "age_group" not in frame.columns:
        return frame, 0
    over = frame["age"].isna() & frame["age_group"].eq(OVER_89_GROUP)
    if not over.any():
        return frame, 0
    coded = frame.assign(age=frame["age"].astype(float).where(~over, TOP_CODED_AGE))
    coded[TOP_CODED_FLAG] = over.astype(int)
    return coded, int(over.sum())


# --- Identifier detection, pseudonymisation and generalisation for imports (issue 3) ------------------
#
# Safe Harbor lists 18 identifier kinds. Column *names* catch most of them in
# exports; cell *values* catch the rest (an e-mail in a notes column). Detected
# identifier columns are removed, pseudonymised with a keyed HMAC (the key is
# generated once and lives in the store's ``secrets`` table, never in the repo:
# without it nobody can recompute a pseudonym from an MRN), or generalised
# (dates to year or a per-patient shift, ZIP to its first three digits).

import hashlib  # noqa: E402
import hmac  # noqa: E402
import re  # noqa: E402
import secrets as _secrets  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Iterable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import date, timedelta  # noqa: E402

# 3-digit ZIP areas with 20,000 or fewer people (2000 census, per HHS guidance): reported as "000".
RESTRICTED_ZIP3 = frozenset({"036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831",
                             "878", "879", "884", "890", "893"})

IDENTIFIER_NAMES: dict[str, tuple[str, ...]] = {
    "name": ("name", "patient_name", "full_name", "fullname", "first_name", "firstname", "last_name", "lastname",
             "surname", "given_name", "family_name", "forename", "middle_name"),
    "email": ("email", "e_mail", "email_address", "mail"),
    "phone": ("phone", "telephone", "phone_number", "tel", "mobile", "cell", "fax", "contact_number"),
    "address": ("address", "street", "street_address", "address_line", "address_1", "address1", "city", "town",
                "county"),
    "ssn": ("ssn", "social_security", "social_security_number", "national_id", "nhs_number", "sin"),
    "mrn": ("mrn", "medical_record_number", "record_number", "hospital_number", "chart_number"),
    "zip": ("zip", "zipcode", "zip_code", "postal_code", "postcode", "post_code"),
    "account": ("account", "account_number", "insurance_id", "health_plan_id", "beneficiary_id", "member_id",
                "licence_number", "license_number", "policy_number"),
    "url": ("url", "website", "ip", "ip_address", "device_serial", "serial_number", "vehicle_id", "plate"),
}

_VALUE_PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    "ssn": re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),
    "phone": re.compile(r"(?:\+?\d{1,3}[ .-]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b"),
    "url": re.compile(r"\bhttps?://\S+|\bwww\.\S+", re.IGNORECASE),
    "address": re.compile(r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|"
                          r"Boulevard|Blvd|Court|Ct|Way|Place|Pl)\b\.?"),
    "date": re.compile(r"\b(?:\d{4}-\d{2}-\d{2}|\d{1,2}[/.]\d{1,2}[/.]\d{4})\b"),
}
_PERSON_NAME = re.compile(r"^[A-Z][a-z'\-]+(?:\s+[A-Z]\.?)?(?:\s+[A-Z][a-z'\-]+){1,2}$")


@dataclass(frozen=True)
class IdentifierFinding:
    """A column that holds, or looks like it holds, a Safe Harbor identifier; never the values themselves."""

    column: str
    kind: str
    evidence: str  # "column name" or "values (12 of 20 sampled)"
    share: float


def normalise_header(name: str) -> str:
    """Lower-case, unit suffix dropped, non-alphanumerics as single underscores."""
    name = re.sub(r"[\(\[][^()\[\]]*[\)\]]", " ", name)
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def identifier_kind_from_name(column: str) -> str | None:
    norm = normalise_header(column)
    for kind, names in IDENTIFIER_NAMES.items():
        if norm in names:
            return kind
    return None


def detect_identifier_values(values: Sequence[str]) -> tuple[str, float] | None:
    """The identifier kind most values of a text column match, with the share; None below 50%."""
    sample = [v for v in values if v]
    if not sample:
        return None
    best: tuple[str, float] | None = None
    for kind, pattern in _VALUE_PATTERNS.items():
        share = sum(1 for v in sample if pattern.search(v)) / len(sample)
        if share >= 0.5 and (best is None or share > best[1]):
            best = (kind, share)
    if best is None:
        share = sum(1 for v in sample if _PERSON_NAME.match(v)) / len(sample)
        distinct = len(set(sample)) / len(sample)
        if share >= 0.8 and distinct >= 0.5 and len(sample) >= 3:
            best = ("name", share)
    return best


def scrub_text(text: str) -> tuple[str, int]:
    """Replace identifier-looking fragments (e-mail, phone, SSN, URL, street address) in free text."""
    count = 0
    for kind in ("email", "ssn", "phone", "url", "address"):
        text, n = _VALUE_PATTERNS[kind].subn("[redacted]", text)
        count += n
    return text, count


def new_pseudonym_key() -> str:
    """A fresh 256-bit key (hex) for keyed pseudonyms; stored once in the store's secrets table."""
    return _secrets.token_hex(32)


def pseudonymise(key: str, value: str, *, prefix: str = "P-") -> str:
    """A stable pseudonym for ``value``: HMAC-SHA256 under the store's key, 64 bits shown."""
    return pseudonymiser(key, prefix=prefix)(value)


def pseudonymiser(key: str, *, prefix: str = "P-"):
    """:func:`pseudonymise` bound to one key (decoded once: imports call it a million times)."""
    key_bytes = bytes.fromhex(key)
    digest = hmac.digest

    def apply(value: str) -> str:
        return prefix + digest(key_bytes, b"id:" + value.strip().encode("utf-8"), "sha256")[:8].hex().upper()
    return apply


def date_shift_days(key: str, patient_value: str, *, max_days: int = 182) -> int:
    """Per-patient date shift in [-max_days, max_days], derived from the key: intervals survive, dates do not."""
    digest = hmac.new(bytes.fromhex(key), b"shift:" + patient_value.strip().encode("utf-8"), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") % (2 * max_days + 1) - max_days


def shift_date(day: date, days: int) -> str:
    return (day + timedelta(days=days)).isoformat()


def generalise_zip(value: str | None) -> str | None:
    """ZIP code -> its first three digits, or "000" where that area has 20,000 people or fewer."""
    if not value:
        return None
    digits = re.sub(r"\D", "", value)
    if len(digits) < 3:
        return None
    zip3 = digits[:3]
    return "000" if zip3 in RESTRICTED_ZIP3 else zip3


@dataclass(frozen=True)
class KAnonymity:
    """Smallest equivalence-class size over the quasi-identifiers and the rows in classes below target."""

    k: int
    target: int
    quasi_identifiers: tuple[str, ...]
    n_classes: int
    violating_rows: list[int]
    violating_count: int


def compute_k_anonymity(records: Iterable[tuple[int, tuple]], quasi_identifiers: Sequence[str],
                        target: int) -> KAnonymity:
    """k over (row number, quasi-identifier tuple) pairs; rows in classes smaller than ``target`` break it."""
    items = list(records)
    counts = Counter(key for _, key in items)
    if not counts:
        return KAnonymity(0, target, tuple(quasi_identifiers), 0, [], 0)
    violating = [row for row, key in items if counts[key] < target]
    return KAnonymity(min(counts.values()), target, tuple(quasi_identifiers), len(counts), violating[:1000],
                      len(violating))
