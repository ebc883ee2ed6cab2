"""Errors raised while reading a user's geodata file: one problem per feature and field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from spatial_rules.errors import DomainError

# How many problems the message lists before summarising the rest.
MAX_LISTED_PROBLEMS = 20


@dataclass(frozen=True)
class FeatureProblem:
    """One problem in an input file; ``row`` is the 1-based feature number, None for the file."""

    row: int | None
    feature_id: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        """Return e.g. 第 5 个要素（id=P-5）字段 outer_diameter_mm：缺少管径."""
        where = ""
        if self.row is not None:
            where = f"第 {self.row} 个要素"
            if self.feature_id:
                where += f"（id={self.feature_id}）"
        elif self.feature_id:
            where = f"要素（id={self.feature_id}）"
        if self.field:
            sep = " " if where and not where.endswith("）") else ""
            where += f"{sep}字段 {self.field}"
        return f"{where}：{self.message}" if where else self.message


class InputFileError(DomainError):
    """An input file cannot be imported; ``problems`` lists every problem found."""

    def __init__(self, path: str | Path | None, problems: list[FeatureProblem]) -> None:
        """Build the message from the file name and the problems (at most 20 listed)."""
        self.path = None if path is None else str(path)
        self.problems = list(problems)
        super().__init__(self._message())

    def _message(self) -> str:
        head = f"文件 {Path(self.path).name}：" if self.path else "输入有误："
        lines = [str(p) for p in self.problems[:MAX_LISTED_PROBLEMS]]
        if len(self.problems) > MAX_LISTED_PROBLEMS:
            lines.append(f"……共 {len(self.problems)} 处问题")
        return "\n".join([head, *lines])


def file_error(path: str | Path | None, message: str) -> InputFileError:
    """Return an error about the whole file (no feature, no field)."""
    return InputFileError(path, [FeatureProblem(None, None, None, message)])
