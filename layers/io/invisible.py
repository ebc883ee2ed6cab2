"""Characters a code must not contain: invisible ones and those that reorder the text.

A code such as ``CM-2026‮1000`` (with U+202E, right-to-left override) displays as a
different code from the one stored, and ``CM-2026​-01`` (with a zero-width space) looks
identical to ``CM-2026-01`` while being another code: both let one project pass for
another in lists, reports and searches. Codes are refused when they contain control
characters, bidirectional formatting characters or zero-width / invisible formatting
characters; the message names the character.
"""

from __future__ import annotations

import re
import unicodedata

_FORBIDDEN = re.compile(
    "[\x00-\x1f\x7f-\x9f"          # C0 and C1 control characters
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    "\u200b-\u200f"                # zero-width space/joiners, LRM, RLM
    "\u202a-\u202e"                # bidi embeddings and overrides
    "\u2060-\u206f"                # word joiner, invisible operators, bidi isolates
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb"
    "\U000e0000-\U000e007f]"       # tags
)


def contains_forbidden(text: str) -> bool:
    """Return True when ``text`` holds any character ``forbidden_in_code`` refuses."""
    return _FORBIDDEN.search(text) is not None


def forbidden_in_code(value: str) -> str | None:
    """Return why ``value`` is refused as a code (naming the character), or None."""
    found = _FORBIDDEN.search(value)
    if found is None:
        return None
    char = found.group()
    name = unicodedata.name(char, "控制字符")
    return (f"含不可见或改变文字方向的字符 U+{ord(char):04X}（{name}，第 {found.start() + 1} 个字符），"
            "编号中不允许；请删除后重新提交")
