"""Units, numbers and counts written for people, for messages, labels and tables.

One place for how a figure reads: UCUM codes as people write them (:func:`readable_unit`),
numbers without binary noise or a needless ".00" (:func:`format_number`) and a count with its
noun in the right number ("1 row", "2 rows": :func:`count_noun`).

The engine stores and converts units as UCUM codes ("a" is a year, "mm[Hg]" is
mmHg, "{count}" is an annotation on a plain number). Those codes are exact but read
badly in a sentence ("between 0 and 120 a"), so messages pass them through
:func:`readable_unit`. Codes not listed are shown as they are.
"""
from __future__ import annotations

import math

READABLE_UNITS: dict[str, str] = {
    "a": "years", "mo": "months", "wk": "weeks", "d": "days", "h": "hours", "min": "minutes",
    "/d": "per day", "/min": "per minute", "/h": "per hour",
    "mm[Hg]": "mmHg", "Cel": "°C", "[degF]": "°F",
    "[lb_av]": "lb", "[in_i]": "in", "meq/L": "mEq/L", "umol/L": "µmol/L",
    "mL/min/{1.73_m2}": "mL/min/1.73 m2", "10*3/uL": "x10^3/µL", "u[IU]/mL": "µIU/mL",
    "1": "", "[pH]": "",
}


def readable_unit(unit: str | None) -> str:
    """The unit as a reader expects it; "" for a plain number (no unit, or an annotation like {count})."""
    if not unit:
        return ""
    unit = unit.strip()
    if unit in READABLE_UNITS:
        return READABLE_UNITS[unit]
    if unit.startswith("{") and unit.endswith("}"):
        # A UCUM annotation alone is a dimensionless number; a few annotations still say what is counted.
        inner = unit[1:-1].strip()
        return "" if inner in {"count", "score", "ratio", "0/1", ""} else inner
    return unit


def with_unit(text: str, unit: str | None) -> str:
    """``text`` followed by the readable unit, if there is one ("0-120 years", "0-25")."""
    readable = readable_unit(unit)
    return f"{text} {readable}" if readable else text


def count_noun(count: int, noun: str, plural: str | None = None) -> str:
    """"1 row", "1,234 rows": the count with thousands separators and the noun agreeing with it."""
    word = noun if count == 1 else (plural or f"{noun}s")
    return f"{count:,} {word}"


def format_number(value: float | int | None, significant: int = 6) -> str:
    """A number as a person writes it: 120 (not 120.00), 6.2 (not 6.199999809265137), "" when missing.

    Values read from files are often float32; their widened float64 carries noise past the 7th digit,
    so at most ``significant`` significant digits are kept and trailing zeros dropped.
    """
    if value is None:
        return ""
    x = float(value)
    if math.isnan(x):
        return ""
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    text = f"{x:.{significant}g}"
    if "e" in text:
        # 2487.5 at 3 digits is "2.49e+03": people write 2490. The exponent stays only for tiny numbers
        # (0.0000123), where positional digits would read as zero at a glance, and for the astronomically large.
        rounded = float(text)
        return str(int(rounded)) if rounded.is_integer() and abs(rounded) < 1e15 else text
    return text.rstrip("0").rstrip(".") if "." in text else text
