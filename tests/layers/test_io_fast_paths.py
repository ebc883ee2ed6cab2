"""The fast paths of file reading give what the general paths give.

Shortcuts taken for large, clean columns (plain text stripped in one pass, duplicate
ids found by one set) and for the screen (``read_layer_fields`` leaves out optional
text fields) must never change a value, a problem or a note.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import geopandas as gpd
import shapely

from layers.io import InputFileError, read_layer
from layers.io.normalize import _duplicate_ids, _repeated_ids
from layers.io.reader import droppable_fields, read_layer_fields
from layers.io.values import _as_text_columnar, as_text, parse_column
from layers.schema import PIPELINE_FIELDS, PROJECT_FIELDS
from layers.screen_files import PIPELINE_FIELDS as SCREEN_PIPELINE_FIELDS
from layers.screen_files import SITE_FIELDS, UNSCREENED_PIPELINE_STATUSES

TEXTS = st.sampled_from(["", " ", "a", " a ", "中压A", "\t城桥镇 ", "CM-1", "0", "12"])
MISSING = st.sampled_from([None, math.nan, pd.NA])


def _same_series(a: pd.Series, b: pd.Series) -> None:
    assert a.dtype == b.dtype == object
    assert list(a.index) == list(b.index)
    assert a.tolist() == b.tolist()
    assert all(v is None for v in a.tolist() if not isinstance(v, str))


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.one_of(TEXTS, MISSING), min_size=65, max_size=300),
    dtype=st.sampled_from([object, "str"]),
)
def test_plain_text_fast_path_matches_the_columnar_path(values, dtype):
    column = pd.Series(values, index=pd.RangeIndex(1, len(values) + 1), dtype=dtype)
    _same_series(as_text(column), _as_text_columnar(column))


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(
        st.one_of(TEXTS, MISSING, st.integers(-5, 5), st.floats(-3, 3), st.just(np.str_("x"))),
        min_size=65,
        max_size=200,
    )
)
def test_mixed_columns_fall_back_to_the_columnar_path(values):
    column = pd.Series(values, index=pd.RangeIndex(1, len(values) + 1), dtype=object)
    _same_series(as_text(column), _as_text_columnar(column))


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(st.one_of(st.none(), st.sampled_from(["P-1", "P-2", "P-3"]), st.text(max_size=3))))
def test_duplicate_id_shortcut_matches_the_general_search(ids):
    column = pd.Series(ids, index=pd.RangeIndex(1, len(ids) + 1), dtype=object, name="external_code")
    assert _duplicate_ids(column, "id") == _repeated_ids(column, "id")


@settings(max_examples=60, deadline=None)
@given(
    type_name=st.sampled_from(["str", "bool", "date", "project_kind", "pressure_class", "float"]),
    values=st.lists(
        st.one_of(MISSING, st.sampled_from(["是", "x", "2025-03-01", "在建", "中压A", "12", " ", ""])),
        min_size=1,
        max_size=1500,
    ),
)
def test_parsed_object_columns_use_none_for_missing(type_name, values):
    column = pd.Series(values, index=pd.RangeIndex(1, len(values) + 1), dtype=object)
    parsed, _bad, _reason = parse_column(column, type_name, "x")
    if parsed.dtype == object:
        assert not any(v is not None and pd.isna(v) for v in parsed.tolist())


def test_droppable_fields_are_optional_text_only():
    assert droppable_fields("pipelines", SCREEN_PIPELINE_FIELDS) == {"name", "owner", "material"}
    dropped_sites = droppable_fields("sites", SITE_FIELDS)
    assert dropped_sites == {n for n, (t, _r) in PROJECT_FIELDS.items() if t == "str"} - {
        "registration_code"
    }
    # projects require a name: it is always read and checked
    assert "name" not in droppable_fields("projects", ("registration_code",))
    assert all(PIPELINE_FIELDS[f][0] == "str" for f in droppable_fields("pipelines", ()))


def test_unscreened_statuses_match_the_database_engine():
    from layers.screening_db import UNSCREENED_PIPELINE_STATUSES as DB_STATUSES

    assert UNSCREENED_PIPELINE_STATUSES == DB_STATUSES == ("abandoned",)


def _pipes(rows: list[dict]) -> gpd.GeoDataFrame:
    starts = [(121.45 + (i % 40) * 0.003, 31.62 + (i // 40) * 0.002) for i in range(len(rows))]
    lines = [shapely.LineString([(x, y), (x + 0.0005, y + 0.0005)]) for x, y in starts]
    return gpd.GeoDataFrame(rows, geometry=lines, crs=4490)


PIPE_ROW = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["A", " B ", "", None, "C"]),
        "name": st.sampled_from([None, "", " 支管 ", "干管"]),
        "owner": st.sampled_from([None, "上海燃气", " 上海燃气 "]),
        "pressure_class": st.sampled_from([None, "low", "中压A", "超超压", "medium_b"]),
        "design_pressure_mpa": st.sampled_from([None, 0.3, 0.005, -1.0]),
        "管径": st.sampled_from(["DN200", "160", "abc", None, "3500"]),
        "material": st.sampled_from([None, "PE", "钢"]),
        "status": st.sampled_from([None, "在役", "废弃", "坏了"]),
        "extra": st.sampled_from(["x", "y"]),
    }
)
# Values that pass every check, so that some examples read without problems.
CLEAN = {"id": "A", "pressure_class": "low", "design_pressure_mpa": None, "管径": "DN200", "status": "在役"}


def _outcome(read):
    try:
        result = read()
    except InputFileError as err:
        return "error", str(err), [(p.row, p.feature_id, p.field, p.message) for p in err.problems]
    return "ok", result.frame, result.notes, result.source_crs


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(PIPE_ROW, min_size=1, max_size=20),
    clean=st.booleans(),
    repeat=st.sampled_from([1, 70]),
    ext=st.sampled_from([".gpkg", ".geojson", ".csv"]),
)
def test_read_layer_fields_matches_read_layer(tmp_path_factory, rows, clean, repeat, ext):
    """Leaving out optional text fields changes no problem, note or kept value."""
    if clean:
        rows = [dict(r, **CLEAN) for r in rows]
    # Long files (70 copies) take the fast paths; ids stay as drawn in the first copy.
    rows = [
        dict(r, id=f"{r['id']}-{k}" if r["id"] and k else r["id"]) for k in range(repeat) for r in rows
    ]
    rows = [dict(r, id=f"{r['id']}{i}") if clean else r for i, r in enumerate(rows)]
    frame = _pipes(rows)
    path = tmp_path_factory.mktemp("fields") / f"pipes{ext}"
    if ext == ".csv":
        table = pd.DataFrame(frame.drop(columns="geometry"))
        table["wkt"] = frame.geometry.to_wkt()
        table.to_csv(path, index=False)
    else:
        frame.to_file(path, engine="pyogrio")
    full = _outcome(lambda: read_layer(path, "pipelines"))
    fields = _outcome(lambda: read_layer_fields(path, "pipelines", SCREEN_PIPELINE_FIELDS))
    assert full[0] == fields[0]
    assert full[0] == "ok" or not clean
    if full[0] == "error":
        assert full[1:] == fields[1:]
        return
    kept = list(fields[1].columns)
    assert not {"name", "owner", "material"} & set(kept)
    pd.testing.assert_frame_equal(full[1][kept], fields[1], check_exact=True)
    assert full[2:] == fields[2:]


@pytest.mark.parametrize("ext", [".geojson", ".gpkg"])
def test_missing_id_in_a_long_file_is_named_like_in_a_short_one(tmp_path, ext):
    """A blank id is reported without an id, whatever the file's length (was "id=nan")."""
    rows = [
        {"id": None if i == 1 else f"P-{i}", "pressure_class": "low", "管径": 110.0} for i in range(200)
    ]
    path = tmp_path / f"noid{ext}"
    _pipes(rows).to_file(path, engine="pyogrio")
    with pytest.raises(InputFileError) as info:
        read_layer(path, "pipelines")
    assert "第 2 个要素 字段 external_code（列“id”）：缺少管道编号" in str(info.value)
    assert "nan" not in str(info.value)
