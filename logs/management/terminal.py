"""What the commands print goes through ``terminal_text``: a file's header names, user_ids, raw
cells, file names and execution names reach the operator's terminal, and a control character
among them would be obeyed there (an ANSI sequence clears the screen, rewrites earlier lines,
sets the window title). The stored data keeps the raw text; only what a terminal shows changes.
"""

from __future__ import annotations

import re

# C0, DEL and C1 controls, and lone surrogates (bytes of a file name that are not UTF-8, which a
# POSIX-locale stdout writes back as those bytes: 0x9b is the C1 CSI).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    character = match[0]
    code = ord(character)
    if character in _NAMED:
        return _NAMED[character]
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def terminal_text(text: str) -> str:
    """``text`` as a terminal may show it: each control character written as its Python escape
    (``\\x1b``, ``\\x9b``, ``\\n``, ``\\t``), everything else as is, so nothing quoted from a file
    can move the cursor, erase, set the title or start a line of its own."""
    return _CONTROL.sub(_escape, text)
