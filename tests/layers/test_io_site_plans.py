"""Files builders and surveyors bring: KML/KMZ, DXF, Excel corner-point and WKT tables.

Each file is written here the way the producing tool writes it (Google Earth style
KML, an ezdxf drawing with layers, texts and attributed blocks, an openpyxl workbook),
read with ``read_layer`` and compared with the features that went in.
"""

from __future__ import annotations

import zipfile

import ezdxf
import pytest
from openpyxl import Workbook

import shapely
from pyproj import Transformer

from layers.io import read_layer
from layers.io.dxf import DxfOptions
from layers.io.errors import InputFileError
from spatial_rules.gcj02 import wgs84_to_gcj02

TO_GK = Transformer.from_crs(4490, 4549, always_xy=True)
SITES = {  # code -> lon/lat ring (open)
    "CM2026-K1": [(121.40, 31.62), (121.401, 31.62), (121.401, 31.621), (121.40, 31.621)],
    "CM2026-K2": [(121.41, 31.63), (121.4115, 31.63), (121.4115, 31.6312), (121.41, 31.6312)],
}
PROPS = {"CM2026-K1": ("城桥镇道路改造", "municipal"), "CM2026-K2": ("新河镇住宅", "housing")}


def _coords(ring, fmt="{:.7f},{:.7f},0"):
    closed = [*ring, ring[0]]
    return " ".join(fmt.format(*p) for p in closed)


def _kml(rings=SITES) -> str:
    placemarks = "".join(
        f"""<Placemark><name>{code}</name><ExtendedData>
<Data name="项目名称"><value>{PROPS[code][0]}</value></Data>
<Data name="项目类型"><value>{PROPS[code][1]}</value></Data>
<Data name="状态"><value>planned</value></Data></ExtendedData>
<Polygon><outerBoundaryIs><LinearRing><coordinates>{_coords(ring)}</coordinates></LinearRing>
</outerBoundaryIs></Polygon></Placemark>"""
        for code, ring in rings.items())
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>施工范围</name>
<Folder><name>项目</name>{placemarks}</Folder>
<Folder><name>标注</name><Placemark><name>入口</name><Point><coordinates>121.40,31.62,0</coordinates>
</Point></Placemark></Folder></Document></kml>"""


def _check_sites(frame, tolerance_deg=1e-7):
    assert sorted(frame.registration_code) == sorted(SITES)
    for _, row in frame.iterrows():
        want = shapely.Polygon(SITES[row.registration_code])
        assert row.geometry.hausdorff_distance(want) < tolerance_deg
        assert (row["name"], row.kind) == PROPS[row.registration_code]


def test_kml_placemarks_in_folders(tmp_path):
    path = tmp_path / "sites.kml"
    path.write_text(_kml(), encoding="utf-8")
    read = read_layer(path, "projects")
    _check_sites(read.frame)
    assert any("点地标" in n for n in read.notes)


def test_kmz_in_gcj02_through_the_safe_unzip(tmp_path):
    shifted = {c: [tuple(float(v) for v in wgs84_to_gcj02(*p)) for p in r] for c, r in SITES.items()}
    path = tmp_path / "sites.kmz"
    with zipfile.ZipFile(path, "w") as kmz:
        kmz.writestr("doc.kml", _kml(shifted))
        kmz.writestr("files/icon.png", b"\x89PNG")
    _check_sites(read_layer(path, "projects", crs="gcj02").frame)  # 7 decimals: ~1 cm
    hostile = tmp_path / "evil.kmz"
    with zipfile.ZipFile(hostile, "w") as kmz:
        kmz.writestr("../doc.kml", _kml())
    with pytest.raises(InputFileError, match="路径穿越"):
        read_layer(hostile, "projects")


def test_kml_with_entities_is_refused(tmp_path):
    path = tmp_path / "bomb.kml"
    path.write_text('<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "aaaa">]><kml>&a;</kml>',
                    encoding="utf-8")
    with pytest.raises(InputFileError, match="实体"):
        read_layer(path, "projects")


def _drawing(path, *, code_as="text"):
    doc = ezdxf.new()
    msp = doc.modelspace()
    for code, ring in SITES.items():
        gk = [TO_GK.transform(*p) for p in ring]
        layer = code if code_as == "layer" else "红线"
        msp.add_lwpolyline(gk, close=True, dxfattribs={"layer": layer})
        cx = sum(p[0] for p in gk) / 4
        cy = sum(p[1] for p in gk) / 4
        if code_as == "text":
            msp.add_text(code, dxfattribs={"layer": "编号", "insert": (cx, cy)})
            msp.add_text("说明文字", dxfattribs={"layer": "注记", "insert": (cx + 1, cy + 1)})
        elif code_as == "attrib":
            if "SITE" not in doc.blocks:
                block = doc.blocks.new("SITE")
                for tag in ("CODE", "项目名称", "项目类型", "状态"):
                    block.add_attdef(tag, (0, 0))
            ref = msp.add_blockref("SITE", (cx, cy))
            ref.add_auto_attribs({"CODE": code, "项目名称": PROPS[code][0], "项目类型": PROPS[code][1],
                                  "状态": "planned"})
    # Things a site plan also holds: a road centreline and a frame on other layers.
    msp.add_lwpolyline([(620_000, 3_498_000), (621_000, 3_499_000)], dxfattribs={"layer": "道路"})
    msp.add_lwpolyline([(600_000, 3_480_000), (640_000, 3_480_000), (640_000, 3_520_000)],
                       close=True, dxfattribs={"layer": "图框"})
    doc.saveas(path)
    return path


def test_dxf_sites_with_codes_from_attributes(tmp_path):
    path = _drawing(tmp_path / "plan.dxf", code_as="attrib")
    read = read_layer(path, "projects", crs="EPSG:4549",
                      cad=DxfOptions(layers=("红线",), code_from="attrib:CODE"))
    _check_sites(read.frame)


def test_dxf_codes_from_text_and_layer_names(tmp_path):
    texts = _drawing(tmp_path / "texts.dxf", code_as="text")
    sites = read_layer(texts, "sites", crs="EPSG:4549",
                       cad=DxfOptions(layers=("红线",), code_from="text:编号")).frame
    assert sorted(sites.registration_code) == sorted(SITES)
    # Without the CAD-layer filter of the texts, the note inside the site is a second code.
    with pytest.raises(InputFileError, match="多个编号"):
        read_layer(texts, "sites", crs="EPSG:4549", cad=DxfOptions(layers=("红线",), code_from="text"))
    layers = _drawing(tmp_path / "layers.dxf", code_as="layer")
    by_layer = read_layer(layers, "sites", crs="EPSG:4549",
                          cad=DxfOptions(layers=tuple(SITES), code_from="layer")).frame
    assert sorted(by_layer.registration_code) == sorted(SITES)


@pytest.mark.parametrize("crs, cad, expected", [
    (None, DxfOptions(code_from="layer"), "--crs"),
    ("EPSG:4549", DxfOptions(), "--code-from"),
    ("EPSG:4549", DxfOptions(layers=("不存在",), code_from="layer"), "不存在"),
])
def test_dxf_bad_options_are_named(tmp_path, crs, cad, expected):
    path = _drawing(tmp_path / "plan.dxf", code_as="text")
    with pytest.raises(InputFileError, match=expected):
        read_layer(path, "sites", crs=crs, cad=cad)


def _workbook(path, header, rows):
    book = Workbook()
    sheet = book.active
    sheet.title = "拐点坐标"
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_xlsx_corner_points_in_survey_order(tmp_path):
    rows = []
    for code, ring in SITES.items():
        for k, (lon, lat) in reversed(list(enumerate(ring, start=1))):  # rows out of order
            east, north = TO_GK.transform(lon, lat)
            rows.append([code, k, round(north, 4), round(east, 4), *PROPS[code], "planned"])
    header = ["编号", "点号", "X", "Y", "项目名称", "项目类型", "状态"]
    path = _workbook(tmp_path / "corners.xlsx", header, rows)
    read = read_layer(path, "projects", crs="EPSG:4549")
    _check_sites(read.frame, tolerance_deg=1e-8)
    assert any("X 为北坐标" in n for n in read.notes)
    # Without --crs the Gauss-Krüger zone is named.
    with pytest.raises(InputFileError, match="EPSG:4549"):
        read_layer(path, "projects")


def test_xlsx_wkt_column_and_bad_cells(tmp_path):
    rows = [[code, PROPS[code][0], PROPS[code][1], "planned", shapely.Polygon(ring).wkt]
            for code, ring in SITES.items()]
    path = _workbook(tmp_path / "wkt.xlsx", ["id", "name", "kind", "status", "wkt"], rows)
    _check_sites(read_layer(path, "projects").frame)
    bad = _workbook(tmp_path / "bad.xlsx", ["编号", "点号", "X", "Y"],
                    [["A", 1, "3500000", "abc"], ["A", 2, 3500010, 632000], ["A", 3, 3500010, 632010]])
    with pytest.raises(InputFileError, match="坐标不是数值") as caught:
        read_layer(bad, "sites", crs="EPSG:4549")
    assert "要素（id=A）字段 Y：工作表“拐点坐标”第 2 行（点号 1）" in str(caught.value)
    neither = _workbook(tmp_path / "neither.xlsx", ["名称", "备注"], [["x", "y"]])
    with pytest.raises(InputFileError, match="拐点坐标表"):
        read_layer(neither, "sites")


# --- Excel 97-2003 (.xls), written by xlwt as old Excel and WPS save it -------------------

def _xls(path, header, rows, *, blank_rows=0):
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("拐点坐标")
    for r, row in enumerate([header, *rows]):
        for c, value in enumerate(row):
            sheet.write(r + (blank_rows if r else 0), c, value)
    book.save(str(path))
    return path


def _corner_rows():
    rows = []
    for code, ring in SITES.items():
        for k, (lon, lat) in reversed(list(enumerate(ring, start=1))):  # rows out of order
            east, north = TO_GK.transform(lon, lat)
            rows.append([code, k, round(north, 4), round(east, 4), *PROPS[code], "planned"])
    return rows


def test_xls_corner_points_and_wkt_column(tmp_path):
    import xlrd

    header = ["编号", "点号", "X", "Y", "项目名称", "项目类型", "状态"]
    path = _xls(tmp_path / "corners.xls", header, _corner_rows())
    assert xlrd.open_workbook(str(path)).biff_version == 80  # a real BIFF8 workbook, not xlsx
    read = read_layer(path, "projects", crs="EPSG:4549")
    _check_sites(read.frame, tolerance_deg=1e-8)
    assert any("X 为北坐标" in n for n in read.notes)
    with pytest.raises(InputFileError, match="EPSG:4549"):  # the zone named when --crs is missing
        read_layer(path, "projects")

    rows = [[code, PROPS[code][0], PROPS[code][1], "planned", shapely.Polygon(ring).wkt]
            for code, ring in SITES.items()]
    wkt = _xls(tmp_path / "wkt.xls", ["id", "name", "kind", "status", "wkt"], rows)
    _check_sites(read_layer(wkt, "projects").frame)


def test_bad_xls_names_the_row_and_field(tmp_path):
    rows = [["A", 1, 3500000.0, 632000.0], ["A", 2, 3500010.0, "632 010"], ["A", 3, 3500010.0, 632010.0]]
    # Two blank rows between the header and the data: the message counts them as Excel does.
    bad = _xls(tmp_path / "bad.xls", ["编号", "点号", "X", "Y"], rows, blank_rows=2)
    with pytest.raises(InputFileError) as caught:
        read_layer(bad, "sites", crs="EPSG:4549")
    assert "要素（id=A）字段 Y：工作表“拐点坐标”第 5 行（点号 2）坐标不是数值：“632 010”" in str(caught.value)
    short = _xls(tmp_path / "short.xls", ["编号", "点号", "X", "Y"], [["B", 1, 3500000.0, 632000.0]])
    with pytest.raises(InputFileError, match="只有 1 个拐点，连不成面") as caught:
        read_layer(short, "sites", crs="EPSG:4549")
    assert "id=B" in str(caught.value)
    broken = tmp_path / "broken.xls"
    broken.write_bytes(bad.read_bytes()[:700])  # cut short, as a failed download leaves it
    with pytest.raises(InputFileError, match="无法打开 Excel 97-2003 工作簿"):
        read_layer(broken, "sites", crs="EPSG:4549")


def test_api_import_of_xls_tables(api, login, db_engine, tmp_path):
    from sqlalchemy import text

    office = login("gas_office")
    bad_rows = [*_corner_rows()]
    bad_rows[3] = [*bad_rows[3][:2], "三百五十万", *bad_rows[3][3:]]
    bad = _xls(tmp_path / "bad.xls", ["编号", "点号", "X", "Y", "项目名称", "项目类型", "状态"], bad_rows)
    with bad.open("rb") as fh:
        refused = api.post("/api/projects/import", files={"file": ("拐点坐标表.xls", fh)},
                           data={"crs": "EPSG:4549"}, headers=office)
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert "字段 X" in detail and "第 5 行（点号 1）" in detail and "三百五十万" in detail
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM construction_project")).scalar_one() == 0
    good = _xls(tmp_path / "good.xls", ["编号", "点号", "X", "Y", "项目名称", "项目类型", "状态"],
                _corner_rows())
    with good.open("rb") as fh:
        done = api.post("/api/projects/import", files={"file": ("拐点坐标表.xls", fh)},
                        data={"crs": "EPSG:4549"}, headers=office)
    assert done.status_code == 201, done.text
    listed = api.get("/api/projects", headers=office).json()["features"]
    assert sorted(f["properties"]["registration_code"] for f in listed) == sorted(SITES)


def test_api_import_of_a_dxf_site_plan(api, login, tmp_path):
    office = login("gas_office")
    path = _drawing(tmp_path / "plan.dxf", code_as="attrib")
    with path.open("rb") as fh:
        missing = api.post("/api/projects/import", files={"file": ("总平面图.dxf", fh)}, headers=office)
    assert missing.status_code == 422 and "crs" in missing.json()["detail"]
    with path.open("rb") as fh:
        done = api.post("/api/projects/import", files={"file": ("总平面图.dxf", fh)},
                        data={"crs": "EPSG:4549", "cad_layer": "红线", "code_from": "attrib:CODE"},
                        headers=office)
    assert done.status_code == 201, done.text
    listed = api.get("/api/projects", headers=office).json()["features"]
    assert sorted(f["properties"]["registration_code"] for f in listed) == sorted(SITES)
