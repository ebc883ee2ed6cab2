"""Parse attribute columns into canonical values; each parser returns values and bad rows.

Parsers work on whole columns (pandas), so a 300,000-row file is parsed without a
Python loop per row; loops run only over the distinct values of enums.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re

import numpy as np
import pandas as pd

from layers.schema import PipelineStatus, ProjectKind, ProjectStatus
from spatial_rules.errors import PressureError
from spatial_rules.pressure import parse_pressure_class
from vocabulary import LabelledEnum
from vocabulary.activities import Activity, ActivityError, canonical_activities, parse_activities

# bad: Series of the original text of unparseable values, indexed by row, with the reason.
Parsed = tuple[pd.Series, pd.Series, str]

_TRUE = {"true", "t", "1", "1.0", "yes", "y", "是", "有", "√"}
_FALSE = {"false", "f", "0", "0.0", "no", "n", "否", "无", "×"}
_DATE_RE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T].*)?$")
_DIAMETER_RE = re.compile(r"^(?:dn|de|d|φ|Φ|ф)?\s*([0-9.eE+\-]+)\s*(?:mm)?$", re.IGNORECASE)


def _enum_labels(members: type[LabelledEnum]) -> dict[str, str]:
    """Return lower-cased code and Chinese label -> code."""
    labels = {m.value.lower(): m.value for m in members}
    labels.update({m.label.lower(): m.value for m in members})
    return labels


ENUM_LABELS: dict[str, dict[str, str]] = {
    "pipeline_status": _enum_labels(PipelineStatus),
    "project_kind": _enum_labels(ProjectKind),
    "project_status": _enum_labels(ProjectStatus),
}


def as_text(column: pd.Series) -> pd.Series:
    """Return stripped strings (object dtype) with None for blanks; 12.0 -> "12"."""
    if len(column) <= _SMALL_COLUMN:
        # A request's single feature: plain Python beats a dozen pandas operations.
        texts = [None if _missing(v) else (_one_text(v).strip() or None) for v in column.tolist()]
        return pd.Series(texts, index=column.index, dtype=object)
    if column.dtype == object or isinstance(column.dtype, pd.StringDtype):
        plain = _plain_texts(column.tolist())
        if plain is not None:
            return pd.Series(plain, index=column.index, dtype=object)
    return _as_text_columnar(column)


def _as_text_columnar(column: pd.Series) -> pd.Series:
    """as_text for any column, in pandas passes (numbers become text without ".0")."""
    values = column.astype(object)
    out = pd.Series(None, index=column.index, dtype=object)
    present = values.notna()
    if not present.any():
        return out
    kept = values[present]
    inferred = pd.api.types.infer_dtype(kept, skipna=True)
    if inferred == "string":
        text = kept
    elif inferred in ("integer", "floating", "mixed-integer-float"):
        numbers = kept.astype("float64")
        integral = np.isfinite(numbers) & (numbers == np.floor(numbers))
        text = numbers.astype(str).astype(object)
        text[integral] = numbers[integral].astype("int64").astype(str)
    else:
        text = kept.map(_one_text)
    # A list comprehension strips 300,000 codes several times faster than ``.str.strip()``.
    stripped = [str(v).strip() or None for v in text.tolist()]
    out[present] = pd.Series(stripped, index=kept.index, dtype=object)
    return _none_for_missing(out)


_SMALL_COLUMN = 64


def _plain_texts(values: list) -> list[str | None] | None:
    """Return stripped texts in one pass when every value is a str or missing, else None.

    The usual text column from GDAL or CSV: for it the general path below gives exactly
    this (each str stripped, blanks and missing values None), through several pandas
    passes. Anything else (numbers, str subclasses, other missing markers) returns None.
    """
    if values and set(map(type, values)) == {str}:
        # Every value a plain str (a code column): strip them all in C.
        stripped: list[str | None] = list(map(str.strip, values))
        if "" in stripped:
            stripped = [text or None for text in stripped]
        return stripped
    texts: list[str | None] = [(v.strip() or None) if v.__class__ is str else None for v in values]
    others = [i for i, v in enumerate(values) if v.__class__ is not str]
    if others and not all(_plain_missing(values[i]) for i in others):
        return None
    return texts


def _plain_missing(value: object) -> bool:
    """Return True for None, float NaN and pd.NA: the missing markers GDAL and pandas use."""
    return value is None or value is pd.NA or (value.__class__ is float and value != value)


def _none_for_missing(values: pd.Series) -> pd.Series:
    """Return an object column with None for every missing value (setitem turns None into NaN)."""
    return values.where(values.notna(), None)


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (
        isinstance(value, float | np.floating) and np.isnan(value)
    )


def _one_text(value: object) -> str:
    """Return one value as text, integral floats without the decimal point."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def parse_text(column: pd.Series) -> Parsed:
    """Return strings; nothing is unparseable."""
    return as_text(column), pd.Series(dtype=object), ""


def _precise_floats(texts: pd.Series) -> pd.Series:
    """Return ``pd.to_numeric(texts, errors="coerce")`` as float64, each value correctly rounded.

    pandas before 3.1 parses some decimal strings one unit in the last place off
    ("0.0010000000000000002" gives 0.001), so a file import and a single posted feature
    (parsed by Python's ``float``) stored different numbers. Whatever pandas parsed is read
    again by ``float``.
    """
    values = pd.to_numeric(texts, errors="coerce").astype("float64")
    parsed = (values.notna() & texts.notna()).to_numpy(dtype=bool)
    if parsed.any():
        rows = np.flatnonzero(parsed)
        exact = values.to_numpy(dtype="float64", copy=True)
        for i, text in zip(rows.tolist(), texts.iloc[rows].tolist(), strict=True):
            with contextlib.suppress(TypeError, ValueError):  # else keep pandas' value
                exact[i] = float(text)
        values = pd.Series(exact, index=texts.index, dtype="float64")
    return values


def parse_float(column: pd.Series, *, diameter: bool = False) -> Parsed:
    """Return float64 values (NaN for blanks) and the non-numeric entries."""
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        values = column.astype("float64")
        bad = pd.Series(~np.isfinite(values), index=values.index) & values.notna()
        return values.where(~bad), column[bad].astype(str), "不是有限数值"
    text = as_text(column)
    cleaned = text
    if diameter:
        cleaned = text.str.extract(_DIAMETER_RE, expand=False)
    values = _precise_floats(cleaned)
    bad = text.notna() & (values.isna() | ~np.isfinite(values.fillna(0.0)))
    return values.where(~bad), text[bad], "不是数字"


def parse_bool(column: pd.Series) -> Parsed:
    """Return True/False/None from true/false/1/0/是/否/yes/no."""
    text = as_text(column).str.lower()
    values = pd.Series(None, index=column.index, dtype=object)
    values[text.isin(_TRUE)] = True
    values[text.isin(_FALSE)] = False
    bad = text.notna() & values.isna()
    return _none_for_missing(values), text[bad], "不是是/否值（可用 是/否、true/false、1/0）"


def parse_date(column: pd.Series) -> Parsed:
    """Return datetime.date values from ISO yyyy-mm-dd (also yyyy/mm/dd, 2025年3月1日)."""
    values = pd.Series(None, index=column.index, dtype=object)
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        present = column.notna()
        values[present] = column[present].dt.date
        return values, pd.Series(dtype=object), ""
    raw = column.astype(object)
    native = raw.map(lambda v: isinstance(v, dt.date))
    values[native] = raw[native].map(lambda v: v.date() if isinstance(v, dt.datetime) else v)
    text = as_text(raw.where(~native, None))
    parts = text.str.extract(_DATE_RE)
    iso = parts[0] + "-" + parts[1].str.zfill(2) + "-" + parts[2].str.zfill(2)
    stamps = pd.to_datetime(iso, format="%Y-%m-%d", errors="coerce")
    ok = stamps.notna()
    values[ok] = stamps[ok].dt.date
    bad = text.notna() & ~ok
    return _none_for_missing(values), text[bad], "不是日期（格式 yyyy-mm-dd）"


def parse_enum(column: pd.Series, kind: str) -> Parsed:
    """Return enum codes from a code or its Chinese label (e.g. 在建 -> under_construction)."""
    labels = ENUM_LABELS[kind]
    text = as_text(column)
    values = text.str.lower().map(labels).astype(object)
    values = values.where(values.notna(), None)
    bad = text.notna() & values.isna()
    allowed = "、".join(dict.fromkeys(labels.values()))
    zh = "、".join(k for k in labels if not k.isascii())
    return values, text[bad], f"不是有效取值（可用：{allowed}，或 {zh}）"


def parse_pressure_classes(column: pd.Series) -> Parsed:
    """Return pressure class codes via parse_pressure_class, once per distinct value."""
    text = as_text(column)
    codes: dict[str, str | None] = {}
    for value in text.dropna().unique():
        try:
            codes[value] = parse_pressure_class(value).value
        except PressureError:
            codes[value] = None
    values = text.map(codes).astype(object)
    values = values.where(values.notna(), None)
    bad = text.notna() & values.isna()
    return values, text[bad], "无法识别的压力级制（可用：low、medium_b、中压A、次高压A 等）"


def activities_text(value) -> str | None:
    """Return the canonical declaration of one value (text or list); raise ActivityError."""
    if isinstance(value, list | tuple):
        value = [str(v) for v in value if not _missing(v)]
    elif _missing(value):
        return None
    else:
        value = _one_text(value)
    return canonical_activities(parse_activities(value))


def parse_activity_lists(column: pd.Series) -> Parsed:
    """Return canonical activity declarations (sorted codes, comma-joined) and the bad rows."""
    parsed: dict = {}
    bad_rows: dict = {}
    unknown: list[str] = []
    cache: dict = {}
    for row, value in column.items():
        key = tuple(map(str, value)) if isinstance(value, list | tuple) else value
        result = cache.get(key, cache)
        if result is cache:
            try:
                result = activities_text(value)
            except ActivityError as exc:
                result = exc
            cache[key] = result
        if isinstance(result, ActivityError):
            bad_rows[row] = "、".join(key) if isinstance(key, tuple) else _one_text(value)
            unknown.extend(w for w in result.unknown if w not in unknown)
        else:
            parsed[row] = result
    values = pd.Series([parsed.get(row) for row in column.index], index=column.index, dtype=object)
    words = "、".join(f"“{w}”" for w in unknown)
    reason = (f"含未知的作业类型 {words}（可用：{'、'.join(a.value for a in Activity)}，"
              "或其中文名称，以“,”“，”或“、”分隔）")
    return values, pd.Series(bad_rows, dtype=object), reason


# Columns longer than this with few distinct values are parsed once per distinct value.
_FACTORIZE_MIN_ROWS = 1000
# Codes and names differ row by row: factorizing them would only cost time.
_MOSTLY_DISTINCT = frozenset({"external_code", "registration_code", "name"})


def parse_column(column: pd.Series, type_name: str, canonical: str) -> Parsed:
    """Parse one column according to its schema type name; object values use None for missing.

    A long column with few distinct values (owner, material, status, class: a
    300,000-segment file has a handful) is parsed once per distinct value and
    expanded back, which is much faster than string operations on every row.
    """
    if (
        len(column) >= _FACTORIZE_MIN_ROWS
        and canonical not in _MOSTLY_DISTINCT
        and (column.dtype == object or pd.api.types.is_string_dtype(column.dtype))
    ):
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        if len(uniques) * 4 < len(column):
            return _parse_factorized(codes, uniques, column.index, type_name, canonical)
    return _parse_column(column, type_name, canonical)


def _parse_factorized(codes, uniques, index, type_name: str, canonical: str) -> Parsed:
    distinct = pd.Series(np.asarray(uniques, dtype=object), dtype=object)
    values_u, bad_u, reason = _parse_column(distinct, type_name, canonical)
    # One extra slot stands for the missing values (code -1).
    slots = np.where(codes >= 0, codes, len(distinct))
    padded = values_u.reindex(range(len(distinct) + 1))
    if padded.dtype == object:
        padded = padded.astype(object).where(padded.notna(), None)
    values = pd.Series(padded.to_numpy()[slots], index=index, dtype=padded.dtype)
    bad_mask = np.isin(codes, bad_u.index.to_numpy())
    bad = pd.Series(bad_u.reindex(codes[bad_mask]).to_numpy(), index=index[bad_mask], dtype=object)
    return values, bad, reason


def _parse_column(column: pd.Series, type_name: str, canonical: str) -> Parsed:
    if type_name == "str":
        return parse_text(column)
    if type_name == "float":
        return parse_float(column, diameter=canonical == "outer_diameter_mm")
    if type_name == "bool":
        return parse_bool(column)
    if type_name == "date":
        return parse_date(column)
    if type_name == "pressure_class":
        return parse_pressure_classes(column)
    if type_name == "activities":
        return parse_activity_lists(column)
    return parse_enum(column, type_name)
