"""Tolerant reading of user CSV files: UTF-8 (with or without BOM) or GBK, row-exact errors.

Every problem raises ``CampaignInputError`` naming the file, the 1-based data row (the
header is row 0), the row's id and the column, so that a user can find it in Excel
(whose row number is the data row plus one).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal, TypeVar, overload

from campaign.errors import CampaignInputError

MAX_ROWS = 1_000_000
MAX_BYTES = 200 * 1024 * 1024  # ~2x what 1,000,000 rows of a projects file take
ENCODINGS = ("utf-8-sig", "gb18030")  # GB18030 is a superset of GBK
TRUE_WORDS = frozenset({"true", "yes", "y", "t", "1", "是", "有"})
FALSE_WORDS = frozenset({"false", "no", "n", "f", "0", "否", "无", ""})
_DATE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]0{1,2}:00(?::00)?)?$"
)
E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True)
class CsvRow:
    """One data row: its 1-based number, its values by column and its id for messages."""

    path: Path
    number: int
    values: Mapping[str, str]
    id_column: str

    @property
    def row_id(self) -> str:
        """Return the row's id value, or a placeholder when it is empty."""
        return self.values.get(self.id_column, "").strip() or "（空）"

    def error(self, column: str, problem: str) -> CampaignInputError:
        """Return an error naming file, row, id and column."""
        return CampaignInputError(
            f"文件 {self.path.name} 第 {self.number} 行数据（{self.id_column}={self.row_id}，"
            f"表格第 {self.number + 1} 行）的列 “{column}”：{problem}"
        )

    def text(self, column: str) -> str:
        """Return the stripped text of ``column`` ("" when the column is absent)."""
        return self.values.get(column, "").strip()

    def required_text(self, column: str) -> str:
        """Return the non-empty text of ``column`` or raise."""
        value = self.text(column)
        if not value:
            raise self.error(column, "不能为空。")
        return value

    @overload
    def date(self, column: str, *, required: Literal[True]) -> dt.date: ...

    @overload
    def date(self, column: str, *, required: bool) -> dt.date | None: ...

    def date(self, column: str, *, required: bool) -> dt.date | None:
        """Parse a date such as 2026-05-31, 2026/5/31 or 2026年5月31日."""
        value = self.text(column)
        if not value:
            if required:
                raise self.error(column, "不能为空，请填写日期，例如 2026-05-31。")
            return None
        match = _DATE.match(value)
        try:
            if match is None:
                raise ValueError
            year, month, day = (int(part) for part in match.groups())
            return dt.date(year, month, day)
        except ValueError:
            raise self.error(
                column, f"“{value}” 不是有效日期，请写成 2026-05-31 的形式。"
            ) from None

    def boolean(self, column: str) -> bool:
        """Parse a yes/no value (true/false, 1/0, 是/否); empty means no."""
        value = self.text(column).lower()
        if value in TRUE_WORDS:
            return True
        if value in FALSE_WORDS:
            return False
        raise self.error(
            column, f"“{self.text(column)}” 不是是/否值，请填写 true/false、1/0 或 是/否。"
        )

    def integer(self, column: str, *, minimum: int = 0, maximum: int | None = None) -> int | None:
        """Parse a whole number in [minimum, maximum]; empty gives None."""
        value = self.text(column)
        if not value:
            return None
        try:
            number = int(value)
        except ValueError:
            raise self.error(column, f"“{value}” 不是整数。") from None
        if number < minimum or (maximum is not None and number > maximum):
            bound = f"{minimum} 到 {maximum}" if maximum is not None else f"不小于 {minimum}"
            raise self.error(column, f"{number} 超出允许范围（{bound}）。")
        return number

    def choice(self, column: str, enum: type[E], aliases: Mapping[str, E]) -> E | None:
        """Parse an enum value or one of its (Chinese) aliases; empty gives None."""
        value = self.text(column)
        if not value:
            return None
        key = value.lower()
        for member in enum:
            if key == member.value:
                return member
        if value in aliases:
            return aliases[value]
        allowed = "、".join([m.value for m in enum] + list(aliases))
        raise self.error(column, f"未知取值 “{value}”，允许的取值为：{allowed}。")


def read_rows(
    path: str | Path,
    *,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    id_column: str,
    max_rows: int = MAX_ROWS,
) -> Iterator[CsvRow]:
    """Yield the data rows of a CSV file after checking its encoding and header."""
    path = Path(path)
    text = _decode(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = _header(path, reader, required, optional)
    try:
        for number, record in enumerate(reader, start=1):
            if number > max_rows:
                raise CampaignInputError(
                    f"文件 {path.name} 超过 {max_rows:,} 行数据的上限，请拆分后分批处理。"
                )
            if not any(cell.strip() for cell in record):
                continue  # blank lines, common at the end of exported files
            if len(record) != len(header):
                raise CampaignInputError(
                    f"文件 {path.name} 第 {number} 行数据有 {len(record)} 个字段，"
                    f"而表头有 {len(header)} 列（{'、'.join(header)}）；请检查多余或缺少的逗号。"
                )
            yield CsvRow(path, number, dict(zip(header, record, strict=True)), id_column)
    except csv.Error as err:
        raise CampaignInputError(
            f"文件 {path.name} 第 {reader.line_num} 行附近不是有效的 CSV：{err}。"
        ) from err


def _decode(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise CampaignInputError(
                f"文件 {path.name} 有 {size / 2**20:.0f} MB，超过 {MAX_BYTES // 2**20} MB 的上限。"
            )
        raw = path.read_bytes()
    except FileNotFoundError as err:
        raise CampaignInputError(f"找不到文件 {path}。") from err
    except IsADirectoryError as err:
        raise CampaignInputError(f"{path} 是文件夹，请给出 CSV 文件。") from err
    except OSError as err:
        raise CampaignInputError(f"无法读取文件 {path}：{err.strerror}。") from err
    for encoding in ENCODINGS:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CampaignInputError(
        f"文件 {path.name} 既不是 UTF-8 也不是 GBK 编码，请在 Excel 中另存为“CSV UTF-8”。"
    )


def _header(
    path: Path, reader: Iterator[list[str]], required: tuple[str, ...], optional: tuple[str, ...]
) -> list[str]:
    try:
        first = next(reader, None)
    except csv.Error as err:
        raise CampaignInputError(f"文件 {path.name} 的表头不是有效的 CSV：{err}。") from err
    if first is None or not any(cell.strip() for cell in first):
        raise CampaignInputError(
            f"文件 {path.name} 是空文件，第一行应为表头：{'、'.join(required + optional)}。"
        )
    header = [cell.strip().lower() for cell in first]
    allowed = required + optional
    for position, name in enumerate(header, start=1):
        if not name:
            raise CampaignInputError(f"文件 {path.name} 表头第 {position} 列没有列名。")
        if name not in allowed:
            raise CampaignInputError(
                f"文件 {path.name} 表头含未知列 “{name}”（第 {position} 列）；"
                f"允许的列为：{'、'.join(allowed)}。"
            )
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise CampaignInputError(f"文件 {path.name} 表头中的列重复：{'、'.join(duplicates)}。")
    missing = [name for name in required if name not in header]
    if missing:
        raise CampaignInputError(
            f"文件 {path.name} 缺少必需的列：{'、'.join(missing)}（必需的列为："
            f"{'、'.join(required)}）。"
        )
    return header
