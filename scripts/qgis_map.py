"""Open gisapp's layers in QGIS (headless) and save the map as a PNG: what a desktop user sees.

Run with the Python that has QGIS's bindings (Debian: ``apt-get install qgis``, then
``/usr/bin/python3``), not the project's .venv:

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 scripts/qgis_map.py \\
        --ogc http://127.0.0.1:8000/ogc --user gas-a --token gpat_... \\
        --postgres "$(gisapp db up --readonly-role gis_reader | tail -1 | cut -d'：' -f2)" \\
        --out docs/img/qgis.png

The OGC layers go through QGIS's own OGC API – Features provider (``OAPIF``) with the
personal access token sent as the Basic password, exactly as a user sets it up in
Layer → Add Layer → Add WFS / OGC API – Features Layer; the database layers through its
PostGIS provider with the read-only role. Prints one JSON line: each layer's feature
count (what the layer shows, read through QGIS), so tests can compare it with the database.
"""

from __future__ import annotations

import argparse
import json
import sys
from urllib.parse import unquote, urlparse

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsDataSourceUri,
    QgsLayoutExporter,
    QgsLayoutItemLabel,
    QgsLayoutItemLegend,
    QgsLayoutItemMap,
    QgsLayoutItemScaleBar,
    QgsLayoutPoint,
    QgsLayoutSize,
    QgsPalLayerSettings,
    QgsPrintLayout,
    QgsProject,
    QgsRectangle,
    QgsTextBufferSettings,
    QgsTextFormat,
    QgsUnitTypes,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
)
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QColor, QFont

# Collection -> (layer name in QGIS, fill colour or None, outline colour, outline width mm).
OGC_STYLE = {
    "control_bands": ("安全控制范围（OGC）", "#fde7a8", "#e0b040", 0),  # 0: no outline (no seams
    "protection_bands": ("安全保护范围（OGC）", "#f6a47a", "#d2632c", 0),  # between pipe segments)
    "projects": ("施工项目（OGC）", "#7fb3e680", "#1f5fa8", 0.5),
    "pipelines": ("燃气管道（OGC）", None, "#c0392b", 0.7),
    "conflicts": ("冲突（OGC）", None, "#7b1fa2", 0.9),
}
# Table -> (layer name, key, geometry type, fill, outline, width): read with the read-only role.
DB_TABLES = {
    "township": ("乡镇（PostGIS 只读）", "id", "MultiPolygon", None, "#555555", 0.4),
    "gas_pipeline": ("全部管道（PostGIS 只读）", "id", "MultiLineString", None, "#9e9e9e", 0.25),
}
FONT = "WenQuanYi Zen Hei"


def _style(layer: QgsVectorLayer, fill: str | None, outline: str, width: float) -> None:
    symbol = layer.renderer().symbol()
    if fill is None and layer.geometryType() != 1:  # a polygon without fill: outline only
        symbol.setColor(QColor(0, 0, 0, 0))
    if layer.geometryType() == 1:  # lines
        symbol.setColor(QColor(outline))
        symbol.setWidth(width)
        return
    if fill is not None:
        colour = QColor(fill[:7])
        if len(fill) == 9:
            colour.setAlpha(int(fill[7:], 16))
        symbol.setColor(colour)
    symbol.symbolLayer(0).setStrokeColor(QColor(outline))
    symbol.symbolLayer(0).setStrokeWidth(width)
    if width == 0:
        symbol.symbolLayer(0).setStrokeStyle(Qt.NoPen)


def _label(layer: QgsVectorLayer, field: str) -> None:
    """Label each feature with ``field`` (the project's registration code)."""
    settings = QgsPalLayerSettings()
    settings.fieldName = field
    text_format = QgsTextFormat()
    text_format.setFont(QFont(FONT, 9))
    text_format.setSize(9)
    text_format.setColor(QColor("#1f3f77"))
    buffer = QgsTextBufferSettings()
    buffer.setEnabled(True)
    buffer.setSize(0.8)
    text_format.setBuffer(buffer)
    settings.setFormat(text_format)
    layer.setLabeling(QgsVectorLayerSimpleLabeling(settings))
    layer.setLabelsEnabled(True)


def ogc_layer(base: str, collection: str, user: str | None, token: str | None) -> QgsVectorLayer:
    """One collection through QGIS's OAPIF provider (the WFS dialog's "OGC API – Features")."""
    uri = QgsDataSourceUri()
    uri.setParam("url", base)
    uri.setParam("typename", collection)
    if token:
        uri.setUsername(user or "")
        uri.setPassword(token)
    name = OGC_STYLE.get(collection, (collection,))[0]
    return QgsVectorLayer(uri.uri(False), name, "OAPIF")


def postgres_layer(url: str, table: str) -> QgsVectorLayer:
    """One table through QGIS's PostGIS provider, connected as ``url``'s (read-only) role."""
    parts = urlparse(url)
    name, key, geometry_type, *_ = DB_TABLES.get(table, (table, "id", "", None, "", 0))
    uri = QgsDataSourceUri()
    uri.setConnection(parts.hostname or "127.0.0.1", str(parts.port or 5432), parts.path.lstrip("/"),
                      unquote(parts.username or ""), unquote(parts.password or ""),
                      QgsDataSourceUri.SslDisable)
    uri.setDataSource("public", table, "geom" if geometry_type else "", "", key)
    if geometry_type:
        uri.setWkbType({"MultiPolygon": 6, "MultiLineString": 5}[geometry_type])
        uri.setSrid("4490")
    return QgsVectorLayer(uri.uri(False), name, "postgres")


def render(layers: list[QgsVectorLayer], out: str, title: str, extent: QgsRectangle) -> None:
    """A print layout (title, map, legend, scale bar) exported as a PNG."""
    project = QgsProject.instance()
    project.setCrs(QgsCoordinateReferenceSystem("EPSG:4549"))  # metres, for the scale bar
    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    page = layout.pageCollection().page(0)
    page.setPageSize(QgsLayoutSize(280, 170, QgsUnitTypes.LayoutMillimeters))
    label = QgsLayoutItemLabel(layout)
    label.setText(title)
    label.setFont(QFont(FONT, 16))
    label.attemptMove(QgsLayoutPoint(8, 5, QgsUnitTypes.LayoutMillimeters))
    label.attemptResize(QgsLayoutSize(260, 12, QgsUnitTypes.LayoutMillimeters))
    layout.addLayoutItem(label)
    item = QgsLayoutItemMap(layout)
    item.attemptMove(QgsLayoutPoint(8, 19, QgsUnitTypes.LayoutMillimeters))
    item.attemptResize(QgsLayoutSize(190, 145, QgsUnitTypes.LayoutMillimeters))
    item.setLayers(layers)
    item.setCrs(project.crs())
    to_map = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:4490"), project.crs(), project)
    box = to_map.transformBoundingBox(extent)
    # Grow the box to the frame's proportions: setExtent would otherwise resize the frame.
    aspect = 190 / 145
    if box.width() / box.height() < aspect:
        grow = box.height() * aspect / box.width()
        box = QgsRectangle(box.center().x() - box.width() * grow / 2, box.yMinimum(),
                           box.center().x() + box.width() * grow / 2, box.yMaximum())
    else:
        grow = box.width() / aspect / box.height()
        box = QgsRectangle(box.xMinimum(), box.center().y() - box.height() * grow / 2,
                           box.xMaximum(), box.center().y() + box.height() * grow / 2)
    item.setExtent(box)
    item.setFrameEnabled(True)
    layout.addLayoutItem(item)
    legend = QgsLayoutItemLegend(layout)
    legend.setTitle("图层")
    legend.setLinkedMap(item)  # the project's layer tree, top layer first
    for style in (1, 2, 3, 4):  # title, group, subgroup, symbol label
        legend.rstyle(style).setFont(QFont(FONT, 10))
    legend.attemptMove(QgsLayoutPoint(202, 19, QgsUnitTypes.LayoutMillimeters))
    layout.addLayoutItem(legend)
    bar = QgsLayoutItemScaleBar(layout)
    bar.setStyle("Single Box")
    bar.setLinkedMap(item)
    bar.applyDefaultSize()
    bar.setUnits(QgsUnitTypes.DistanceMeters)
    bar.setNumberOfSegments(2)
    width_m = item.extent().width()
    bar.setUnitsPerSegment(next((n for n in (50, 100, 200, 250, 500, 1000, 2000, 5000, 10000)
                                 if n >= width_m / 10), 20000))
    bar.setUnitLabel("m")
    bar.attemptMove(QgsLayoutPoint(12, 150, QgsUnitTypes.LayoutMillimeters))
    layout.addLayoutItem(bar)
    settings = QgsLayoutExporter.ImageExportSettings()
    settings.dpi = 110
    settings.generateWorldFile = False  # a picture for people, not a georeferenced raster
    settings.exportMetadata = False
    result = QgsLayoutExporter(layout).exportToImage(out, settings)
    if result != QgsLayoutExporter.Success:
        raise SystemExit(f"导出图片失败：{out}（{result}）")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ogc", help="OGC API 入口，如 http://127.0.0.1:8000/ogc")
    parser.add_argument("--user", help="个人访问令牌所属用户名（Basic 认证）")
    parser.add_argument("--token", help="个人访问令牌 gpat_…")
    parser.add_argument("--collections", default=",".join(OGC_STYLE))
    parser.add_argument("--postgres", help="只读角色的 libpq URL（gisapp db up --readonly-role 打印）")
    parser.add_argument("--tables", default="township,gas_pipeline")
    parser.add_argument("--out", help="保存地图 PNG 的路径（不填则只统计要素数）")
    parser.add_argument("--title", default="崇明区燃气管道保护 GIS — QGIS 中的图层")
    parser.add_argument("--extent", help="地图范围 lon0,lat0,lon1,lat1（默认：OGC 图层的范围）")
    args = parser.parse_args(argv)

    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    try:
        counts: dict[str, int] = {}
        errors: dict[str, str] = {}
        drawn: list[QgsVectorLayer] = []
        loaded: list[tuple[QgsVectorLayer, str | None, str, float]] = []
        if args.ogc:
            for collection in filter(None, args.collections.split(",")):
                layer = ogc_layer(args.ogc, collection, args.user, args.token)
                style = OGC_STYLE.get(collection, (collection, None, "#000000", 0.3))
                loaded.append((layer, *style[1:]))
                _count(layer, f"ogc:{collection}", counts, errors)
        if args.postgres:
            for table in filter(None, args.tables.split(",")):
                layer = postgres_layer(args.postgres, table)
                style = DB_TABLES.get(table, (table, "id", "", None, "#000000", 0.3))
                loaded.append((layer, *style[3:]))
                _count(layer, f"postgres:{table}", counts, errors)
        print(json.dumps({"counts": counts, "errors": errors}, ensure_ascii=False))
        if args.out:
            extent = QgsRectangle()
            # Bottom to top: the database's context layers under the OGC layers.
            ordered = [x for x in loaded if x[0].providerType() == "postgres"]
            ordered += [x for x in loaded if x[0].providerType() != "postgres"]
            for layer, fill, outline, width in ordered:
                if not layer.isValid():
                    continue
                _style(layer, fill, outline, width)
                if layer.providerType() == "OAPIF" and _collection(layer) == "projects":
                    _label(layer, "registration_code")
                QgsProject.instance().addMapLayer(layer)  # each new layer goes on top
                drawn.append(layer)
                if layer.providerType() == "OAPIF" and counts.get(f"ogc:{_collection(layer)}"):
                    extent.combineExtentWith(layer.extent())
            if args.extent:
                x0, y0, x1, y1 = (float(v) for v in args.extent.split(","))
                extent = QgsRectangle(x0, y0, x1, y1)
            if extent.isEmpty():
                raise SystemExit("没有可绘制的要素")
            extent.scale(1.1)
            # QGIS draws the first layer of the list on top.
            render(list(reversed(drawn)), args.out, args.title, extent)
        return 0 if not errors else 1
    finally:
        QgsProject.instance().clear()
        app.exitQgis()


def _count(layer: QgsVectorLayer, key: str, counts: dict, errors: dict) -> None:
    """Count the features QGIS reads from ``layer``, or keep the provider's error."""
    if layer.isValid():
        counts[key] = sum(1 for _ in layer.getFeatures())
    else:
        provider = layer.dataProvider()
        errors[key] = provider.error().summary() if provider is not None else "无效图层"


def _collection(layer: QgsVectorLayer) -> str:
    return QgsDataSourceUri(layer.source()).param("typename")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
