"""Text as notes and sentence files arrive: decoding bytes, and removing characters nobody can see.

Why its own module: the notes import, ``notes extract`` and the annotation contract all read text written by
other tools. A byte-order mark or a zero-width space in front of "No" hides the negation cue from ConText
("\\ufeffNo pneumonia." was read as affirmed), and an older tool's Western code page must not stop a run.
"""
from __future__ import annotations

import re

# Zero-width and format characters: byte-order mark, zero-width space / non-joiner / joiner, word joiner and
# the soft hyphen. Invisible on screen, they split or glue words for the tokenizer.
_INVISIBLE = re.compile("[\ufeff\u200b\u200c\u200d\u2060\u00ad]")


def decode_text(data: bytes) -> str:
    """UTF-8 (a byte-order mark dropped), else Windows-1252, where every byte maps to a character (the few
    undefined ones become U+FFFD), so nothing is dropped and no line shifts."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def strip_invisible(text: str) -> str:
    """``text`` without zero-width and format characters (see ``_INVISIBLE``)."""
    return _INVISIBLE.sub("", text)
