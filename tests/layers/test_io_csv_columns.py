"""CSV with a WKT column: the column-wide fast paths give what the per-cell rules give."""

from __future__ import annotations

from pathlib import Path

import shapely

from layers.io.raw import read_raw

ROWS = [
    ("P1", "'=SUM(A1)", "  LINESTRING (121.5 31.6, 121.6 31.6)  "),
    ("P2", "plain", "SRID=4490;LINESTRING (121.5 31.7, 121.6 31.7)"),
    ("P3", "'+86 21", "srid=4326; LINESTRING Z (121.5 31.8 4, 121.6 31.8 5)"),
    ("P4", "多行\n'文本", ""),
]


def _write(path: Path, rows, bom: bool) -> Path:
    lines = ["id,note,wkt"] + [f'{a},"{b}","{c}"' for a, b, c in rows]
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + "\r\n".join(lines).encode("utf-8"))
    return path


def test_wkt_prefixes_z_and_quoted_formulas_read_cell_by_cell_rules(tmp_path):
    for bom in (False, True):
        table = read_raw(_write(tmp_path / f"p{bom}.csv", ROWS, bom), "csv", encoding=None,
                         layer=None, max_bytes=10**6)
        assert list(table.attributes.columns) == ["id", "note"]
        # A leading quote our CSV writer put before formula-like text is taken off again;
        # one after a line feed inside a cell is the cell's own text.
        assert table.attributes["note"].tolist() == ["=SUM(A1)", "plain", "+86 21", "多行\n'文本"]
        geoms = table.geometry
        assert shapely.to_wkt(geoms[:3], rounding_precision=3).tolist() == [
            "LINESTRING (121.5 31.6, 121.6 31.6)",
            "LINESTRING (121.5 31.7, 121.6 31.7)",
            "LINESTRING (121.5 31.8, 121.6 31.8)",
        ]
        assert not shapely.has_z(geoms[:3]).any()
        assert geoms[3] is None and table.problems == []


def test_plain_column_without_quotes_or_prefixes_is_kept_as_read(tmp_path):
    rows = [(f"P{i}", f"note {i}", f"LINESTRING ({121.5 + i / 1000} 31.6, 121.6 31.6)") for i in range(500)]
    table = read_raw(_write(tmp_path / "plain.csv", rows, False), "csv", encoding=None, layer=None,
                     max_bytes=10**6)
    assert table.attributes["note"].tolist() == [r[1] for r in rows]
    assert shapely.get_type_id(table.geometry).tolist() == [1] * 500


def test_gbk_csv_still_decoded_and_noted(tmp_path):
    path = tmp_path / "gbk.csv"
    path.write_bytes("id,名称,wkt\r\nP1,崇明,\"LINESTRING (121.5 31.6, 121.6 31.6)\"".encode("gbk"))
    table = read_raw(path, "csv", encoding=None, layer=None, max_bytes=10**6)
    assert table.attributes["名称"].tolist() == ["崇明"]
    assert any("GB18030" in note for note in table.notes)
