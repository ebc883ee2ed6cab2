"""Map file columns onto the canonical fields of a layer and parse their values."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import cast

import numpy as np
import pandas as pd

from layers.io.errors import FeatureProblem
from layers.io.invisible import contains_forbidden, forbidden_in_code
from layers.io.values import parse_column
from layers.schema import PIPELINE_FIELDS, PROJECT_FIELDS
from spatial_rules.errors import PressureError
from spatial_rules.pressure import PressureClass, classify_pressure

KINDS = ("pipelines", "projects", "sites")
SCHEMAS = {"pipelines": PIPELINE_FIELDS, "projects": PROJECT_FIELDS, "sites": PROJECT_FIELDS}
ID_FIELDS = {
    "pipelines": "external_code",
    "projects": "registration_code",
    "sites": "registration_code",
}
MIN_DIAMETER_MM, MAX_DIAMETER_MM = 0.0, 3000.0

_COMMON_ALIASES = {"id": "@id", "编号": "@id", "名称": "name", "状态": "status", "name": "name"}
ALIASES: dict[str, dict[str, str]] = {
    "pipelines": {
        "管道编号": "@id",
        "code": "@id",
        "管道名称": "name",
        "pressure_mpa": "design_pressure_mpa",
        "design_pressure": "design_pressure_mpa",
        "pressure": "design_pressure_mpa",
        "压力": "design_pressure_mpa",
        "设计压力": "design_pressure_mpa",
        "diameter_mm": "outer_diameter_mm",
        "diameter": "outer_diameter_mm",
        "od_mm": "outer_diameter_mm",
        "dn": "outer_diameter_mm",
        "管径": "outer_diameter_mm",
        "外径": "outer_diameter_mm",
        "压力级制": "pressure_class",
        "压力等级": "pressure_class",
        "权属单位": "owner",
        "产权单位": "owner",
        "材质": "material",
        "管材": "material",
        "运行状态": "status",
    },
    "projects": {
        "项目编号": "@id",
        "登记编号": "@id",
        "code": "@id",
        "项目名称": "name",
        "工程名称": "name",
        "项目类型": "kind",
        "工程类型": "kind",
        "类型": "kind",
        "建设单位": "builder",
        "施工单位": "contractor",
        "监理单位": "supervisor",
        "所属单位": "organisation",
        "organization": "organisation",
        "乡镇": "township",
        "镇": "township",
        "开工日期": "start_date",
        "计划竣工日期": "planned_completion_date",
        "竣工日期": "planned_completion_date",
        "项目状态": "status",
        "危大工程": "hazardous",
        "是否危大工程": "hazardous",
        "投保": "insured",
        "是否投保": "insured",
        "纳入监管": "under_supervision",
        "是否纳入监管": "under_supervision",
        "纳入监管日期": "supervised_since",
        "作业类型": "activities",
        "计划作业": "activities",
        "施工作业": "activities",
        "activity": "activities",
    },
}
ALIASES["sites"] = ALIASES["projects"]
FIELD_LABELS = {
    "external_code": "管道编号",
    "registration_code": "项目编号",
    "name": "名称",
    "kind": "项目类型",
    "status": "状态",
    "outer_diameter_mm": "管径",
    "activities": "作业类型",
}


def column_key(name: str) -> str:
    """Return a column name lower-cased, without spaces or a trailing unit in brackets."""
    key = re.sub(r"\s+", "", str(name)).lower()
    return re.sub(r"[（(][^）)]*[）)]$", "", key) or key


def alias_table(kind: str) -> Mapping[str, str]:
    """Return normalised column name -> canonical field ('@id' for the layer's code)."""
    return _alias_table(kind)


@functools.cache
def _alias_table(kind: str) -> Mapping[str, str]:
    """Return normalised alias -> canonical field ('@id' for the layer's code), built once."""
    schema = SCHEMAS[kind]
    table = {column_key(f): f for f in schema}
    # Shapefile .dbf names are cut to 10 characters: design_pre, outer_diam, registrati.
    table.update({f[:10]: f for f in schema if len(f) > 10})
    table.update({column_key(k): v for k, v in _COMMON_ALIASES.items()})
    table.update({column_key(k): v for k, v in ALIASES[kind].items()})
    table[ID_FIELDS[kind]] = "@id"
    return MappingProxyType(table)


def map_columns(
    columns: list[str], kind: str, field_map: dict[str, str] | None
) -> tuple[dict[str, str], list[FeatureProblem], list[str]]:
    """Return (file column -> canonical field, problems, ignored columns)."""
    schema = SCHEMAS[kind]
    id_field = ID_FIELDS[kind]
    problems: list[FeatureProblem] = []
    mapping: dict[str, str] = {}
    for column, target in (field_map or {}).items():
        canonical = id_field if target in ("id", "@id") else target
        if column not in columns:
            problems.append(
                FeatureProblem(None, None, column, f"字段映射中的列“{column}”在文件中不存在")
            )
        elif canonical not in schema:
            known = "、".join(["id", *schema])
            problems.append(
                FeatureProblem(
                    None, None, column, f"字段映射的目标“{target}”不是已知字段（可用：{known}）"
                )
            )
        else:
            mapping[column] = canonical
    aliases = _alias_table(kind)
    user_targets = set(mapping.values())
    ignored: list[str] = []
    for column in columns:
        if column in mapping or column in (field_map or {}):
            continue
        alias = aliases.get(column_key(column))
        if alias is None:
            ignored.append(column)
            continue
        target = id_field if alias == "@id" else alias
        if target in user_targets:
            ignored.append(column)  # the user's own mapping wins over a built-in alias
            continue
        mapping[column] = target
    by_field: dict[str, list[str]] = {}
    for column, canonical in mapping.items():
        by_field.setdefault(canonical, []).append(column)
    for canonical, sources in by_field.items():
        if len(sources) > 1:
            names = "、".join(f"“{s}”" for s in sources)
            problems.append(
                FeatureProblem(
                    None, None, canonical, f"多个列 {names} 都对应同一字段，请用字段映射指定其一"
                )
            )
    return mapping, problems, ignored


def _label(canonical: str, column: str | None) -> str:
    """Return how a field is named in messages: the canonical name, plus the file column."""
    return canonical if column in (None, canonical) else f"{canonical}（列“{column}”）"


def normalize_attributes(
    attributes: pd.DataFrame, kind: str, mapping: dict[str, str]
) -> tuple[pd.DataFrame, list[FeatureProblem]]:
    """Return canonical columns for ``kind`` and every value problem found."""
    schema = SCHEMAS[kind]
    id_field = ID_FIELDS[kind]
    source_of = {canonical: column for column, canonical in mapping.items()}
    index = attributes.index
    out = pd.DataFrame(index=index)
    problems: list[FeatureProblem] = []
    unparsed: dict[str, set] = {}  # rows whose value was given but unparseable, per field
    ids = pd.Series(None, index=index, dtype=object)
    parsed_ids = None
    if id_field in source_of:
        parsed_ids = parse_column(attributes[source_of[id_field]], "str", id_field)
        ids = parsed_ids[0]

    def fid(row: int) -> str | None:
        return ids.get(row)

    for canonical, (type_name, _required) in schema.items():
        column = source_of.get(canonical)
        if column is None:
            if kind == "sites" and canonical != id_field:
                continue
            out[canonical] = np.nan if type_name == "float" else None
            continue
        if canonical == id_field and parsed_ids is not None:
            values, bad, reason = parsed_ids  # the id column is a "str" field: parsed above
        else:
            values, bad, reason = parse_column(attributes[column], type_name, canonical)
        unparsed[canonical] = set(bad.index)
        for row, text in zip(bad.index.tolist(), bad.tolist(), strict=True):
            problems.append(
                FeatureProblem(int(row), fid(row), _label(canonical, column), f"值“{text}”{reason}")
            )
        # parse_column gives None (never NaN) for a missing value in an object column.
        out[canonical] = values
    problems.extend(_required_problems(out, kind, source_of, fid, unparsed))
    problems.extend(_invisible_in_codes(out[id_field], _label(id_field, source_of.get(id_field, id_field))))
    # A project's code is unique within its organisation (migration 0017): a file may
    # give one code to two organisations' projects.
    namespace = out["organisation"] if kind == "projects" and "organisation" in out.columns else None
    problems.extend(_duplicate_ids(out[id_field], source_of.get(id_field), namespace))
    problems.extend(_long_ids(out[id_field], source_of.get(id_field)))
    if kind == "pipelines":
        problems.extend(_pipeline_rules(out, source_of, fid, unparsed))
    return out, problems


def _invisible_in_codes(codes: pd.Series, field: str) -> list[FeatureProblem]:
    """One problem per code holding an invisible or text-reordering character."""
    texts = [code for code in codes.tolist() if code.__class__ is str]
    # The usual file has none: one search over all codes joined by a space (an allowed
    # character, so the join adds no match) answers that in C; a match anywhere sends
    # the column through the per-code loop below, which names every offending code.
    if not contains_forbidden(" ".join(texts)):
        return []
    problems = []
    for row, code in codes.items():
        if isinstance(code, str):
            why = forbidden_in_code(code)
            if why:
                problems.append(FeatureProblem(int(str(row)), code.encode("unicode_escape").decode("ascii"),
                                               field, why))
    return problems


def _required_problems(
    out: pd.DataFrame, kind: str, source_of: dict, fid, unparsed: dict[str, set]
) -> list[FeatureProblem]:
    """Return one problem per missing column, else one per blank required value."""
    problems: list[FeatureProblem] = []
    for canonical, (_type, required) in SCHEMAS[kind].items():
        required = required if kind != "sites" else canonical == ID_FIELDS[kind]
        if not required:
            continue
        what = FIELD_LABELS.get(canonical, canonical)
        if canonical not in source_of:
            hint = "（文件中用 id 列）" if canonical == ID_FIELDS[kind] else ""
            problems.append(FeatureProblem(None, None, canonical, f"缺少必需的列：{what}{hint}"))
            continue
        for row in out.index[out[canonical].isna()]:
            if row in unparsed.get(canonical, ()):
                continue
            problems.append(
                FeatureProblem(
                    int(row), fid(row), _label(canonical, source_of[canonical]), f"缺少{what}"
                )
            )
    return problems


MAX_ID_CHARS = 64  # the code columns are varchar(64)


def _long_ids(ids: pd.Series, column: str | None) -> list[FeatureProblem]:
    """Return a problem for every id longer than the stored code column allows."""
    texts = [value for value in ids.tolist() if value.__class__ is str]
    if not texts or max(map(len, texts)) <= MAX_ID_CHARS:
        return []  # the usual case, found without a Python step per id
    too_long = [(cast(int, row), value) for row, value in ids.items()
                if isinstance(value, str) and len(value) > MAX_ID_CHARS]
    return [
        FeatureProblem(int(row), value[:20] + "…", _label(str(ids.name), column),
                       f"编号过长（{len(value)} 个字符，最多 {MAX_ID_CHARS} 个）")
        for row, value in too_long
    ]


def _duplicate_ids(ids: pd.Series, column: str | None,
                   namespace: pd.Series | None = None) -> list[FeatureProblem]:
    """Return a problem for every repeated id (within its ``namespace``: organisation), naming
    the row where it first appeared."""
    values = ids.tolist()
    blanks = values.count(None)
    if len(set(values)) == len(values) - max(blanks - 1, 0):
        return []  # the usual case, found by one set: every id given once (None is missing)
    return _repeated_ids(ids, column, namespace)


def _repeated_ids(ids: pd.Series, column: str | None,
                  namespace: pd.Series | None = None) -> list[FeatureProblem]:
    """_duplicate_ids without the shortcut: one problem per repeat, in pandas passes."""
    present = ids.dropna()
    if namespace is not None:  # the key is (organisation or '', code)
        orgs = namespace.reindex(present.index).map(lambda o: "" if o is None or o != o else str(o))
        keys = pd.Series(list(zip(orgs.tolist(), present.tolist(), strict=True)), index=present.index)
    else:
        keys = present
    dup = keys.duplicated(keep=False)
    repeated, repeated_keys = present[dup], keys[dup]
    if repeated.empty:
        return []
    first_of: dict = {}
    for row, key in zip(repeated_keys.index.tolist(), repeated_keys.tolist(), strict=True):
        first_of.setdefault(key, int(row))
    field = _label(str(ids.name), column)
    return [
        FeatureProblem(int(row), value, field, f"编号重复：与第 {first_of[key]} 个要素的编号相同")
        for row, value, key in zip(repeated.index.tolist(), repeated.tolist(), repeated_keys.tolist(),
                                   strict=True)
        if int(row) != first_of[key]
    ]


def _pipeline_rules(
    out: pd.DataFrame, source_of: dict, fid, unparsed: dict[str, set]
) -> list[FeatureProblem]:
    """Check diameter range and pressure; fill pressure_class from design_pressure_mpa."""
    problems: list[FeatureProblem] = []
    diameter = out["outer_diameter_mm"]
    label = _label("outer_diameter_mm", source_of.get("outer_diameter_mm"))
    out_of_range = diameter[(diameter <= MIN_DIAMETER_MM) | (diameter >= MAX_DIAMETER_MM)]
    for row, value in zip(out_of_range.index.tolist(), out_of_range.tolist(), strict=True):
        problems.append(
            FeatureProblem(
                int(row), fid(row), label, f"管径 {value:g} mm 超出范围（应大于 0 且小于 3000 mm）"
            )
        )
    if "pressure_class" not in source_of and "design_pressure_mpa" not in source_of:
        problems.append(
            FeatureProblem(
                None,
                None,
                "pressure_class",
                "缺少压力列：至少需要 pressure_class（压力级制）"
                "或 design_pressure_mpa（设计压力）之一",
            )
        )
        return problems
    mpa = out["design_pressure_mpa"]
    # Each distinct pressure is classified once; slot -1 (the extra last one) stands for
    # a blank pressure. Class codes and error messages are plain strings or None.
    mpa_slots, distinct = pd.factorize(mpa, use_na_sentinel=True)
    codes = np.full(len(distinct) + 1, None, dtype=object)
    errors = np.full(len(distinct) + 1, None, dtype=object)
    for k, value in enumerate(distinct):
        try:
            codes[k] = classify_pressure(value).value
        except PressureError as exc:
            errors[k] = str(exc)
    derived = codes[mpa_slots]
    error_text = errors[mpa_slots]
    mpa_label = _label("design_pressure_mpa", source_of.get("design_pressure_mpa"))
    rows = out.index
    invalid = np.array([e is not None for e in errors], dtype=bool)[mpa_slots]
    for i in np.flatnonzero(invalid).tolist():
        problems.append(FeatureProblem(int(rows[i]), fid(rows[i]), mpa_label, str(error_text[i])))
    given = out["pressure_class"].to_numpy(dtype=object)
    given_blank = pd.isna(given)
    valid = np.array([c is not None for c in codes], dtype=bool)[mpa_slots] & ~invalid
    fill = given_blank & valid
    if fill.any():
        filled = given.copy()
        filled[fill] = derived[fill]
        out["pressure_class"] = pd.Series(filled, index=rows, dtype=object)
    both = np.flatnonzero(~given_blank & valid)
    disagree = both[given[both] != derived[both]]
    class_label = _label("pressure_class", source_of.get("pressure_class"))
    for i in disagree.tolist():
        problems.append(
            FeatureProblem(
                int(rows[i]),
                fid(rows[i]),
                class_label,
                f"压力级制 {PressureClass(given[i]).label} 与设计压力 {mpa.iloc[i]:g} MPa"
                f"（属于 {PressureClass(derived[i]).label}）不一致",
            )
        )
    missing = given_blank & (mpa_slots < 0)
    reported = unparsed.get("pressure_class", set()) | unparsed.get("design_pressure_mpa", set())
    for row in rows[missing].tolist():
        if row in reported:
            continue
        problems.append(
            FeatureProblem(
                int(row), fid(row), "pressure_class", "缺少压力：压力级制和设计压力都为空"
            )
        )
    status = out["status"]
    out["status"] = status.where(status.notna(), "in_service")
    return problems
