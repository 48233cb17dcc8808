"""Text rules shared by the request models and the graph, written so that Python's `re` and
ECMA-262 (the regular expressions of JSON Schema, which API clients and fuzzers use) read
them alike: no `\\s`, `\\w` or `\\d` (each means something else in each), explicit classes."""

from __future__ import annotations

import re
import unicodedata

# whitespace to both: ECMA's `\s` without U+FEFF, Python's without U+001C-U+001F and U+0085
SPACE = r"\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
SPACE_CHARS = "".join(c for c in map(chr, range(0x3001)) if re.fullmatch(f"[{SPACE}]", c))

# Unicode puts every Cc and Cf code point in the first two planes or the tags block of plane
# 14; the planes between hold ideographs, private use or nothing. Scanning only these ranges
# keeps the import fast (tests/test_text.py checks against a scan of every code point).
FORMAT_RANGES = (range(0x20000), range(0xE0000, 0xE1000))


def _hidden_class(ranges: tuple[range, ...] = FORMAT_RANGES) -> str:
    """Every control or invisible code point (Unicode's Cc and Cf: zero-width spaces and
    joiners, bidi overrides, the BOM), as a regex class body."""
    spans: list[list[int]] = []
    for code in (c for r in ranges for c in r):
        if unicodedata.category(chr(code)) in ("Cc", "Cf"):
            if spans and spans[-1][1] == code - 1:
                spans[-1][1] = code
            else:
                spans.append([code, code])
    return "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "") for a, b in spans)


HIDDEN = _hidden_class()
# punctuation and separators: ASCII's, Latin-1's, the General and Supplemental Punctuation
# blocks, CJK punctuation and the fullwidth forms of ASCII's
PUNCTUATION = (
    r"!-/:-@\[-`{-~\u00a1-\u00bf\u00d7\u00f7\u2000-\u206f\u2e00-\u2e7f\u3000-\u303f"
    r"\ufe10-\ufe1f\ufe30-\ufe4f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
)
# a character of a word (a tag's, say): not a space, punctuation or an invisible character;
# letters and digits of every script, and symbols such as emoji
WORD_CHAR = f"[^{SPACE}{PUNCTUATION}{HIDDEN}]"


def strip_spaces(text: str) -> str:
    return text.strip(SPACE_CHARS)


def fold(text: str) -> str:
    """Case-insensitive form: trimmed and lowercased (the Turkish dotted capital I becomes
    `i`, not `i` and a combining dot, so folding never lengthens a text)."""
    return strip_spaces(text).replace("İ", "i").lower()
