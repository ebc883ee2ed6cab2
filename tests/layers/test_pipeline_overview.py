"""The low-zoom tiles' generalised network (migration 0026, ``layers.services.overview``).

A write records the keys (district, class, cell) it touched; until a refresh rebuilds
them, a tile draws those keys from the live segments, so it is never stale; a refresh
merges each key's mains and never loses a write committed while it ran.
"""

from __future__ import annotations

import math

import mapbox_vector_tile
import pytest
from sqlalchemy import text

from layers.db import make_engine, session_factory
from layers.services.districts import APP_ROLE, see
from layers.services.overview import CELL_DEG, pending_changes, refresh_overview
from layers.services.tiles import ALL_CLASSES_ZOOM, pipeline_tile

pytestmark = pytest.mark.postgis

CHONGMING, PUDONG = "310151", "310115"
INSERT = ("INSERT INTO gas_pipeline (external_code, pressure_class, outer_diameter_mm, geom) "
          "VALUES (:code, :cls, 323, ST_GeomFromText(:wkt, 4490)) RETURNING id")


def _main(conn, code: str, wkt: str, cls: str = "high_b") -> int:
    return conn.execute(text(INSERT), {"code": code, "cls": cls, "wkt": wkt}).scalar_one()


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2**z
    return z, int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def _features(engine, lon: float, lat: float, z: int = 11, district: str | None = None) -> list[dict]:
    """The features of the office's (``access`` None) tile over lon/lat; ``district``: that
    district's, as the server's role under row-level security."""
    use = make_engine(engine.url.render_as_string(hide_password=False), act_as=APP_ROLE) \
        if district else engine
    try:
        with session_factory(use).begin() as session:
            if district:
                see(session, district)
            data = pipeline_tile(session, *_tile_of(lon, lat, z), None)
    finally:
        if district:
            use.dispose()
    return mapbox_vector_tile.decode(data).get("pipelines", {}).get("features", []) if data else []


def _merged(features: list[dict]) -> list[dict]:
    return [f for f in features if "segments" in f["properties"]]


def _refresh(engine) -> int | None:
    with session_factory(engine).begin() as session:
        see(session, None)
        return refresh_overview(session)


def _pending(engine) -> int:
    with session_factory(engine).begin() as session:
        see(session, None)
        return pending_changes(session)


def _rows(engine) -> dict[tuple, tuple]:
    with engine.connect() as conn:
        return {(r.pressure_class, r.cell_x, r.cell_y): (r.segments, r.parts, r.length)
                for r in conn.execute(text(
                    "SELECT pressure_class, cell_x, cell_y, segments, ST_NumGeometries(geom) AS parts, "
                    "ST_Length(geom) AS length FROM pipeline_overview"))}


def test_a_refresh_merges_each_cells_mains_and_the_tile_draws_them(db_engine, clean_db):
    with db_engine.begin() as conn:  # three mains end to end, one cell; one more in the next
        ends = [(121.401 + i / 100, 121.411 + i / 100) for i in range(3)]
        ids = [_main(conn, f"H{i}", f"MULTILINESTRING(({a:.3f} 31.601, {b:.3f} 31.601))")
               for i, (a, b) in enumerate(ends)]
        far = _main(conn, "H-FAR", "MULTILINESTRING((121.461 31.601, 121.47 31.61))")
        _main(conn, "M1", "MULTILINESTRING((121.402 31.602, 121.43 31.602))", cls="medium_a")
    assert _pending(db_engine) >= 2  # a key per cell and class: the medium main is not drawn
    # Before a refresh the tile draws the written mains themselves, with their ids.
    live = _features(db_engine, 121.42, 31.60)
    assert not _merged(live) and {f["id"] for f in live} == {*ids, far}

    assert _refresh(db_engine) >= 2
    assert _pending(db_engine) == 0
    cell = (math.floor(121.401 / CELL_DEG), math.floor(31.601 / CELL_DEG))
    rows = _rows(db_engine)
    assert rows[("high_b", *cell)] == (3, 1, pytest.approx(0.03))  # one line of 3 segments
    assert rows[("high_b", math.floor(121.461 / CELL_DEG), cell[1])][0] == 1
    assert not [k for k in rows if k[0] == "medium_a"]
    merged = _features(db_engine, 121.42, 31.60)
    assert merged == _merged(merged)
    assert sorted(f["properties"]["segments"] for f in merged) == [1, 3]
    assert {f["properties"]["pressure_class"] for f in merged} == {"high_b"}
    # From zoom 14 a tile holds each segment with its code, as before.
    close = _features(db_engine, 121.405, 31.601, z=ALL_CLASSES_ZOOM)
    assert "H0" in {f["properties"].get("code") for f in close} and not _merged(close)


def test_a_changed_main_is_drawn_live_until_the_refresh_and_then_merged(db_engine, clean_db):
    with db_engine.begin() as conn:
        a = _main(conn, "A", "MULTILINESTRING((121.401 31.601, 121.411 31.601))")
        b = _main(conn, "B", "MULTILINESTRING((121.411 31.601, 121.421 31.601))")
    _refresh(db_engine)
    key = ("high_b", math.floor(121.401 / CELL_DEG), math.floor(31.601 / CELL_DEG))
    assert _rows(db_engine)[key] == (2, 1, pytest.approx(0.02))

    # What the overview does not draw records nothing: a name, a low-pressure main.
    with db_engine.begin() as conn:
        conn.execute(text("UPDATE gas_pipeline SET name = '改名' WHERE id = :a"), {"a": a})
        _main(conn, "L1", "MULTILINESTRING((121.401 31.602, 121.43 31.602))", cls="low")
    assert _pending(db_engine) == 0

    # A moved main: its key is drawn from the live segments at once, the others stay merged.
    with db_engine.begin() as conn:
        conn.execute(text("UPDATE gas_pipeline SET geom = ST_GeomFromText('MULTILINESTRING("
                          "(121.401 31.611, 121.411 31.611))', 4490) WHERE id = :a"), {"a": a})
    assert _pending(db_engine) == 1
    live = _features(db_engine, 121.41, 31.605)
    assert not _merged(live) and {f["id"] for f in live} == {a, b}
    _refresh(db_engine)
    assert _rows(db_engine)[key] == (2, 2, pytest.approx(0.02))  # no longer end to end

    # Deleted (softly), then moved to medium pressure: gone from the overview.
    with db_engine.begin() as conn:
        conn.execute(text("UPDATE gas_pipeline SET deleted_at = now() WHERE id = :a"), {"a": a})
    _refresh(db_engine)
    assert _rows(db_engine)[key] == (1, 1, pytest.approx(0.01))
    with db_engine.begin() as conn:
        conn.execute(text("UPDATE gas_pipeline SET pressure_class = 'medium_a' WHERE id = :b"), {"b": b})
    assert _features(db_engine, 121.41, 31.605) == []  # pending: live, and nothing is left
    _refresh(db_engine)
    assert _rows(db_engine)[key] == (0, None, None)
    assert _features(db_engine, 121.41, 31.605) == []


def test_a_refresh_never_waits_for_nor_loses_a_write_committed_while_it_runs(db_engine, clean_db):
    with db_engine.begin() as conn:
        _main(conn, "A", "MULTILINESTRING((121.401 31.601, 121.411 31.601))")
    _refresh(db_engine)
    writer = db_engine.connect()
    try:
        late = writer.begin()
        b = _main(writer, "B", "MULTILINESTRING((121.411 31.601, 121.421 31.601))")
        # A refresh while the write is open: it neither waits for it nor sees it.
        with session_factory(db_engine).begin() as session:
            session.execute(text("SET LOCAL lock_timeout = '2s'"))
            see(session, None)
            assert refresh_overview(session) == 0
        late.commit()
    finally:
        writer.close()
    assert _pending(db_engine) == 1  # the write's change outlived the refresh
    assert b in {f["id"] for f in _features(db_engine, 121.41, 31.60)}
    assert _refresh(db_engine) == 1
    (merged,) = _features(db_engine, 121.41, 31.60)
    assert merged["properties"]["segments"] == 2


def test_one_refresh_at_a_time_the_other_skips(db_engine, clean_db):
    with db_engine.begin() as conn:
        _main(conn, "A", "MULTILINESTRING((121.401 31.601, 121.411 31.601))")
    with session_factory(db_engine).begin() as first:
        see(first, None)
        assert refresh_overview(first) == 1  # holds the refresh's lock until it ends
        with db_engine.begin() as conn:  # a concurrent writer is not held up
            conn.execute(text("SET LOCAL lock_timeout = '2s'"))
            _main(conn, "B", "MULTILINESTRING((121.411 31.601, 121.421 31.601))")
        assert _refresh(db_engine) is None
    assert _refresh(db_engine) == 1


def test_a_district_draws_its_own_merged_mains_only(db_engine, clean_db):
    with db_engine.begin() as conn:
        _main(conn, "CM-H", "MULTILINESTRING((121.55 31.62, 121.56 31.62))")
        _main(conn, "PD-H", "MULTILINESTRING((121.62 31.20, 121.63 31.20))")
        districts = dict(conn.execute(text("SELECT external_code, district FROM gas_pipeline")).all())
    assert districts == {"CM-H": CHONGMING, "PD-H": PUDONG}
    for refreshed in (False, True):
        if refreshed:
            _refresh(db_engine)
        for lon, lat, code in ((121.555, 31.62, CHONGMING), (121.625, 31.20, PUDONG)):
            assert len(_features(db_engine, lon, lat, z=9)) == 1
            assert len(_features(db_engine, lon, lat, z=9, district=code)) == 1
            other = PUDONG if code == CHONGMING else CHONGMING
            assert _features(db_engine, lon, lat, z=9, district=other) == []
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pipeline_overview")).scalar_one() == 2


def test_an_sql_truncate_empties_the_overview(db_engine, clean_db):
    with db_engine.begin() as conn:
        _main(conn, "A", "MULTILINESTRING((121.401 31.601, 121.411 31.601))")
    _refresh(db_engine)
    with db_engine.begin() as conn:
        conn.execute(text("TRUNCATE gas_pipeline CASCADE"))
        assert conn.execute(text("SELECT count(*) FROM pipeline_overview")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM pipeline_overview_change")).scalar_one() == 0
