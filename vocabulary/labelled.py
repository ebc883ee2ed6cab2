"""The base of every vocabulary enum: a string code (stored, sent in the API) and one Chinese label."""

from __future__ import annotations

from enum import StrEnum
from typing import Self


class LabelledEnum(StrEnum):
    """A ``StrEnum`` whose members are declared as ``NAME = "code", "中文标签"``.

    The member equals its code (``PermitState.APPROVED == "approved"``); ``.label`` is the
    one Chinese word shown to users on every page, report, table and message.
    """

    _label_: str

    def __new__(cls, code: str, label: str = "") -> Self:
        """Create a member from its code and its Chinese label (lookups by code pass only the code)."""
        member = str.__new__(cls, code)
        member._value_ = code
        member._label_ = label
        return member

    @property
    def label(self) -> str:
        """Return the Chinese label shown to users."""
        return self._label_

    @classmethod
    def labels(cls) -> dict[str, str]:
        """Return ``{code: label}`` of every member, in declaration order."""
        return {member.value: member.label for member in cls}

    @classmethod
    def parse(cls, text: str) -> Self:
        """Return the member named by its code or its Chinese label (surrounding blanks ignored).

        Raises ``ValueError`` with a Chinese message listing the accepted words.
        """
        word = text.strip()
        for member in cls:
            if word in (member.value, member.label):
                return member
        known = "、".join(f"{m.value}（{m.label}）" for m in cls)
        raise ValueError(f"无法识别“{text}”（可用：{known}）")

    @classmethod
    def label_of(cls, code: str | None, default: str = "") -> str:
        """Return the label of a stored code; an unknown code is shown as it is, None as ``default``."""
        if code is None:
            return default
        try:
            return cls(code).label
        except ValueError:
            return code
