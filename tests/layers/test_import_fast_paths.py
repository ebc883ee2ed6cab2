"""The bulk import's fast paths store exactly what the plain paths store.

``copy_chunk`` renders COPY rows column by column; ``copy_chunk_plain`` (one
``csv.writer`` row at a time, the writer before) is the reference. A bulk load drops
and rebuilds the spatial indexes: they must come back as they were, and a failed load
must leave them untouched.
"""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

import geopandas as gpd
from shapely.geometry import LineString

from layers import importer
from layers.importer import copy_chunk, copy_chunk_plain, import_layer
from layers.io import InputFileError
from layers.io.normalize import _invisible_in_codes, _long_ids
from layers.io.values import _plain_texts

TEXT = st.text(alphabet=st.sampled_from(list('ab,"\r\n 中-=\u200b')), max_size=6)
VALUE = st.one_of(st.none(), TEXT, st.floats(allow_nan=True, allow_infinity=False),
                  st.integers(-10**6, 10**6), st.booleans())


@settings(max_examples=300, deadline=None)
@given(
    columns=st.integers(1, 4).flatmap(
        lambda width: st.lists(st.lists(VALUE, min_size=width, max_size=width), max_size=12)
    ),
    source=TEXT,
)
def test_copy_chunk_renders_what_the_row_writer_renders(columns, source):
    rows = columns
    by_column = [list(c) for c in zip(*rows, strict=True)] if rows else []
    wkb = [f"0102{i:04X}" for i in range(len(rows))]
    districts = [["", "崇明区", "浦东,新区"][i % 3] for i in range(len(rows))]
    if not by_column:
        by_column = [[]]
    tail = [wkb, districts]
    assert copy_chunk(by_column, source, 7, tail) == copy_chunk_plain(by_column, source, 7, tail)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), TEXT, st.just("x" * 70)), max_size=20))
def test_code_checks_find_what_the_loop_finds(codes):
    import pandas as pd

    series = pd.Series(codes, index=range(1, len(codes) + 1), dtype=object, name="external_code")
    plain = [(i + 1, c) for i, c in enumerate(codes) if isinstance(c, str)]
    from layers.io.invisible import forbidden_in_code

    expected_invisible = [row for row, c in plain if forbidden_in_code(c)]
    assert [p.row for p in _invisible_in_codes(series, "external_code")] == expected_invisible
    assert [p.row for p in _long_ids(series, None)] == [row for row, c in plain if len(c) > 64]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(TEXT, st.none(), st.just(math.nan)), max_size=20))
def test_plain_texts_strip_as_one_by_one(values):
    expected = [(v.strip() or None) if isinstance(v, str) else None for v in values]
    assert _plain_texts(values) == expected


def _frame(n: int, prefix: str) -> gpd.GeoDataFrame:
    lines = [LineString([(121.5 + i * 1e-4, 31.6), (121.5 + i * 1e-4, 31.601)]) for i in range(n)]
    return gpd.GeoDataFrame(
        {"external_code": [f"{prefix}-{i}" for i in range(n)], "pressure_class": "medium_b",
         "outer_diameter_mm": 160.0, "status": "in_service", "owner": ['燃气,"公司"'] * n},
        geometry=lines, crs=4490, index=range(1, n + 1),
    )


def _gist_definitions(session) -> list[str]:
    # PostgreSQL prints a rebuilt partial index's IN-list with its casts spelled another
    # way (('x'::varchar)::text against ARRAY['x'::varchar]::text[]): compare without them.
    defs = session.execute(text(
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'gas_pipeline' "
        "AND indexdef LIKE '% USING gist %' ORDER BY indexname")).scalars()
    return [re.sub(r"::(character varying|text)(\[\])?|[()\s]", "", d) for d in defs]


@pytest.mark.postgis
def test_bulk_load_rebuilds_the_spatial_indexes_as_they_were(db_session, monkeypatch):
    before = _gist_definitions(db_session)
    # geom, geom_m and the partial index of the major mains for low-zoom tiles (0020)
    assert len(before) == 3
    monkeypatch.setattr(importer, "BULK_INDEX_ROWS", 10)
    import_layer(db_session, "pipelines", _frame(40, "BULK"), source_name="bulk.gpkg",
                 source_sha256="0" * 64, source_crs="EPSG:4490")
    assert _gist_definitions(db_session) == before
    found = db_session.execute(text(
        "SELECT count(*), min(owner) FROM gas_pipeline WHERE geom_m && "
        "ST_Transform(ST_MakeEnvelope(121.49, 31.59, 121.51, 31.61, 4490), 990001)")).one()
    assert found == (40, '燃气,"公司"')


@pytest.mark.postgis
def test_failed_bulk_load_leaves_the_indexes_and_rows_as_they_were(db_session, monkeypatch):
    monkeypatch.setattr(importer, "BULK_INDEX_ROWS", 10)
    before = _gist_definitions(db_session)
    frame = _frame(30, "FAIL")
    frame.loc[25, "outer_diameter_mm"] = 5000.0  # refused by the table's check constraint
    savepoint = db_session.begin_nested()
    with pytest.raises(InputFileError):
        import_layer(db_session, "pipelines", frame, source_name="bad.gpkg",
                     source_sha256="0" * 64, source_crs="EPSG:4490")
    savepoint.rollback()
    assert _gist_definitions(db_session) == before
    assert db_session.execute(text(
        "SELECT count(*) FROM gas_pipeline WHERE external_code LIKE 'FAIL-%'")).scalar_one() == 0
