"""The text classes of graph.infra.text, against Unicode itself."""

from __future__ import annotations

import re
import sys

from graph.infra.text import HIDDEN, SPACE, SPACE_CHARS, _hidden_class, strip_spaces


def test_the_hidden_class_holds_every_control_and_format_character() -> None:
    """The import scans only the ranges where Unicode puts them; a scan of every code point
    finds no other."""
    assert _hidden_class((range(sys.maxunicode + 1),)) == HIDDEN


def test_the_spaces_are_one_set_in_both_forms() -> None:
    assert re.fullmatch(f"[{SPACE}]+", SPACE_CHARS)
    assert len(SPACE_CHARS) == 24  # tab to CR, space, NBSP, ogham, 11 typographic, 5 more
    assert strip_spaces("\u3000 lamp\u2028") == "lamp"
    assert strip_spaces("\ufefflamp") == "\ufefflamp"  # a space to ECMA-262 only
