"""Hypothesis strategies for fuzzing the doors: raw bytes, mutated real files, CSV-ish text, JSON values.

Why mutation: purely random bytes rarely get past a parser's first magic-number
check, so most cases would test one branch. Mutating a valid seed file (bit
flips, cuts, inserted junk, splices) reaches the deep parsing code too.
"""
from __future__ import annotations

from hypothesis import strategies as st

INTERESTING_BYTES = (b"\x00", b"\xff", b"\x7f", b"\x80", b"\n", b"\r\n", b",", b'"', b"\xef\xbb\xbf", b"%", b"'",
                     b";", b"\t", b"\\")


@st.composite
def mutated_bytes(draw, corpus: tuple[bytes, ...], max_mutations: int = 8) -> bytes:
    """A seed file from ``corpus`` with up to ``max_mutations`` random edits."""
    data = bytearray(draw(st.sampled_from(corpus)))
    for _ in range(draw(st.integers(0, max_mutations))):
        op = draw(st.sampled_from(("flip", "insert", "delete", "duplicate", "truncate", "splice", "interesting")))
        n = len(data)
        if op == "flip" and n:
            i = draw(st.integers(0, n - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            i = draw(st.integers(0, n))
            data[i:i] = draw(st.binary(min_size=1, max_size=64))
        elif op == "delete" and n:
            i = draw(st.integers(0, n - 1))
            data[i:i + draw(st.integers(1, 64))] = b""
        elif op == "duplicate" and n:
            i = draw(st.integers(0, n - 1))
            chunk = data[i:i + draw(st.integers(1, 256))]
            data[i:i] = chunk * draw(st.integers(1, 4))
        elif op == "truncate" and n:
            del data[draw(st.integers(0, n - 1)):]
        elif op == "splice":
            other = draw(st.sampled_from(corpus))
            if other:
                j = draw(st.integers(0, len(other) - 1))
                i = draw(st.integers(0, n))
                data[i:] = other[j:]
        elif op == "interesting":
            i = draw(st.integers(0, n))
            data[i:i + 1] = draw(st.sampled_from(INTERESTING_BYTES))
    return bytes(data)


def any_bytes(corpus: tuple[bytes, ...]) -> st.SearchStrategy[bytes]:
    """Mostly mutated seed files, some raw random bytes."""
    return st.one_of(mutated_bytes(corpus), mutated_bytes(corpus), mutated_bytes(corpus), st.binary(max_size=2048))


# Text with the characters that break naive parsers: quotes, delimiters, newlines, unicode, controls.
nasty_text = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8", exclude_categories=("Cs",)),
                       st.sampled_from(list(',;"\'\t\r\n%_=+-@\\/{}[]<>\x00'))),
    max_size=80,
)

cell = st.one_of(nasty_text, st.integers(-10**12, 10**12).map(str),
                 st.floats(allow_nan=True, allow_infinity=True).map(repr), st.just(""))


@st.composite
def csv_text(draw) -> bytes:
    """CSV-shaped text: a header and rows of odd cells, with a random delimiter and ragged rows."""
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    width = draw(st.integers(1, 8))
    header = [draw(st.one_of(st.sampled_from(["age", "sex", "glucose", "bmi", "id", "name", "date"]), nasty_text))
              for _ in range(width)]
    rows = [header]
    for _ in range(draw(st.integers(0, 12))):
        rows.append([draw(cell) for _ in range(draw(st.integers(0, width + 2)))])
    text = "\n".join(delimiter.join(r) for r in rows)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    return text.encode(encoding, errors="replace")


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False), nasty_text)
json_values = st.recursive(json_scalars, lambda children: st.one_of(
    st.lists(children, max_size=6), st.dictionaries(nasty_text, children, max_size=6)), max_leaves=30)
