"""The single-feature fast path gives exactly what the columnar validator gives.

``layers.io.single.validate_feature`` parses a clean feature in plain Python and
defers to ``validate_features`` otherwise; these tests hold the two to the same
values, geometry, notes and error messages on random features, and check that clean
features really take the fast path (else the first test would prove nothing).
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import shapely

from layers.io import InputFileError
from layers.io.single import _columnar, _fast, validate_feature
from layers.io.values import ENUM_LABELS
from layers.schema import PIPELINE_FIELDS, PROJECT_FIELDS
from spatial_rules.pressure import PressureClass
from vocabulary.activities import Activity

LON, LAT = 121.5849, 31.4445  # inside Chongming
SCHEMA = {"projects": PROJECT_FIELDS, "pipelines": PIPELINE_FIELDS}
ALIASES = {"name": "名称", "status": "状态", "kind": "项目类型", "builder": "建设单位",
           "outer_diameter_mm": "管径", "design_pressure_mpa": "压力", "owner": "权属单位"}


def _enum_values(kind: str):
    labels = list(ENUM_LABELS[kind])
    return st.sampled_from(labels + [v.upper() for v in labels] + [f" {labels[0]} "])


MESSY = st.one_of(
    st.none(), st.text(max_size=6), st.integers(-10**18, 10**18), st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["", "  ", "是", "否"]),
)
_ACTIVITY_WORDS = [a.value for a in Activity] + [a.label for a in Activity]
BY_TYPE = {
    "str": st.one_of(st.text(min_size=1, max_size=8), st.integers(-10**6, 10**6)),
    "float": st.one_of(
        st.floats(min_value=1, max_value=2999), st.integers(1, 2999),
        st.sampled_from([0.1, 0.2, 0.4, 0.8, 1.6, 2.5, 4.0, 0.4000001, 200, "DN200", "200 mm"]),
    ),
    "bool": st.one_of(st.booleans(), st.sampled_from(["是", "否", "true", "0"])),
    "date": st.one_of(
        st.dates().map(str),
        st.sampled_from(["2025/3/1", "2025年3月1日", "2025-02-30", "1000-01-01", "2300-06-01",
                         "2026-11-24T10:00:00", "1899-12-31", "2200-12-31"]),
    ),
    "pressure_class": st.sampled_from(
        [c.value for c in PressureClass] + [c.label for c in PressureClass] + ["中压 B", "高压"]
    ),
    "pipeline_status": _enum_values("pipeline_status"),
    "project_kind": _enum_values("project_kind"),
    "project_status": _enum_values("project_status"),
    # Codes or Chinese names, as a list or as text with any of the three separators.
    "activities": st.one_of(
        st.lists(st.sampled_from(_ACTIVITY_WORDS), max_size=4),
        st.tuples(st.lists(st.sampled_from(_ACTIVITY_WORDS), min_size=1, max_size=4),
                  st.sampled_from([",", "，", "、"])).map(lambda t: t[1].join(t[0])),
    ),
}


def _geometry(kind: str, variant: str, dx: float, dy: float):
    x, y, s = LON + dx, LAT + dy, 0.0004
    if variant == "none":
        return None
    if variant == "swapped":
        x, y = y, x
    if kind == "pipelines":
        coords = [[x, y], [x + s, y + s / 2]] if variant != "degenerate" else [[x, y], [x, y]]
        return {"type": "LineString", "coordinates": coords}
    if variant == "bowtie":
        ring = [[x, y], [x + s, y + s], [x + s, y], [x, y + s], [x, y]]
    elif variant == "degenerate":
        return {"type": "LineString", "coordinates": [[x, y], [x + s, y]]}
    else:
        ring = [[x, y], [x + s, y], [x + s, y + s], [x, y + s], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


@st.composite
def features(draw, kind: str, clean: bool):
    """A GeoJSON Feature: typed values (clean) or typed, messy and missing ones mixed."""
    props = {}
    for field, (type_name, required) in SCHEMA[kind].items():
        if field in ("registration_code", "external_code"):
            props["id"] = draw(st.from_regex(r"[A-Z]{1,3}-[0-9]{1,5}", fullmatch=True))
            continue
        if clean and type_name == "pressure_class":
            continue  # derived from the design pressure, never contradicting it
        keep = required or (clean and field == "design_pressure_mpa")
        if not keep and draw(st.booleans()):
            continue
        value = draw(BY_TYPE[type_name]) if clean or draw(st.integers(0, 3)) else draw(MESSY)
        if not clean and type_name.endswith(("_status", "_kind")) and draw(st.integers(0, 4)) == 0:
            value = draw(st.sampled_from(["bogus", "", " "]))
        if clean and type_name == "float" and field == "design_pressure_mpa":
            value = draw(st.floats(min_value=0.001, max_value=4.0))
        if clean and type_name == "str" and isinstance(value, str) and not value.strip():
            value = "x"  # blank text counts as missing: a blank required name is not clean
        if clean and type_name in ("float", "bool", "date") and isinstance(value, str):
            value = {"float": 200.0, "bool": True, "date": "2026-01-15"}[type_name]
        key = ALIASES.get(field, field) if draw(st.booleans()) else field
        props[key] = value
    variants = ["ok"] if clean else ["ok", "ok", "none", "swapped", "bowtie", "degenerate"]
    geometry = _geometry(
        kind, draw(st.sampled_from(variants)),
        draw(st.floats(-0.01, 0.01)), draw(st.floats(-0.01, 0.01)),
    )
    return {"type": "Feature", "properties": props, "geometry": geometry}


def _outcome(func, feature, kind):
    """Return comparable values, WKB and notes, or the error message."""
    try:
        result = func(feature, kind, 2000.0, True) if func is not validate_feature else func(feature, kind)
    except InputFileError as exc:
        return ("error", str(exc))
    values = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in result.values.items()}
    return ("ok", values, shapely.to_wkb(result.geometry), result.notes)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), kind=st.sampled_from(["projects", "pipelines"]))
def test_fast_path_agrees_with_columnar_validator(data, kind):
    feature = data.draw(features(kind, clean=data.draw(st.booleans())))
    assert _outcome(validate_feature, feature, kind) == _outcome(_columnar, feature, kind)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), kind=st.sampled_from(["projects", "pipelines"]))
def test_clean_features_take_the_fast_path(data, kind):
    feature = data.draw(features(kind, clean=True))
    fast = _fast(feature, kind, 2000.0, True)  # raises _Unsure if it had to defer
    assert _outcome(lambda f, k, m, r: fast, feature, kind) == _outcome(_columnar, feature, kind)


def test_bad_feature_gets_the_file_validators_message():
    feature = {"type": "Feature", "properties": {"id": "P-1", "name": "x", "kind": "housing",
                                                 "status": "不存在的状态"},
               "geometry": _geometry("projects", "swapped", 0, 0)}
    try:
        validate_feature(feature, "projects")
    except InputFileError as exc:
        message = str(exc)
    assert "字段 status" in message and "不是有效取值" in message
    assert "疑似经纬度颠倒" in message
