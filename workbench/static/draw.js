/* Draw a site on a Leaflet map: 绘制场地 starts, each click adds a vertex, 完成绘制
 * closes the polygon; vertices stay draggable and every change calls onChange with
 * the GeoJSON polygon (lon/lat). A small tool on Leaflet's own markers. */
(function () {
  "use strict";

  function attach(map, opts) {
    var vertices = [], drawing = false, closed = false;
    var outline = L.polyline([], { color: "#0b3d6b", weight: 2, dashArray: "5 5" }).addTo(map);
    var polygon = null, crossing = null;
    var icon = L.divIcon({ className: "vertex-marker", iconSize: [14, 14] });

    function latlngs() { return vertices.map(function (m) { return m.getLatLng(); }); }

    function geojson() {
      var ring = latlngs().map(function (p) { return [round(p.lng), round(p.lat)]; });
      if (ring.length < 3) return null;
      ring.push(ring[0].slice());
      return { type: "Polygon", coordinates: [ring] };
    }
    function round(v) { return Math.round(v * 1e7) / 1e7; }

    function redraw() {
      var pts = latlngs();
      if (closed) {
        outline.setLatLngs([]);
        if (!polygon) polygon = L.polygon(pts, WBMap.STYLE.site).addTo(map);
        else polygon.setLatLngs(pts);
      } else {
        if (polygon) { map.removeLayer(polygon); polygon = null; }
        outline.setLatLngs(pts);
      }
    }

    // While drawing, three vertices already make a site to preview (closed implicitly).
    function changed() {
      redraw();
      if (opts.onChange) opts.onChange(geojson(), closed);
    }

    function addVertex(latlng) {
      var marker = L.marker(latlng, { icon: icon, draggable: true, keyboard: false,
                                      title: "场地顶点（可拖动）" }).addTo(map);
      marker.on("drag", function () { redraw(); if (opts.onDrag && geojson()) opts.onDrag(geojson()); });
      marker.on("dragend", changed);
      vertices.push(marker);
    }

    map.on("click", function (e) {
      if (!drawing) return;
      addVertex(e.latlng);
      changed();
    });

    function clear() {
      vertices.forEach(function (m) { map.removeLayer(m); });
      vertices = []; closed = false; drawing = false;
      markCrossing(null);
      redraw();
    }

    function start() {
      clear();
      drawing = true;
      map.getContainer().style.cursor = "crosshair";
      if (opts.onState) opts.onState("drawing");
    }

    function finish() {
      if (vertices.length < 3) return false;
      drawing = false; closed = true;
      map.getContainer().style.cursor = "";
      if (opts.onState) opts.onState("closed");
      changed();
      return true;
    }

    // Show a site given another way (pasted, uploaded) as editable vertices.
    function setPolygon(geometry) {
      clear();
      var ring = geometry.type === "Polygon" ? geometry.coordinates[0] : geometry.coordinates[0][0];
      ring.slice(0, -1).forEach(function (c) { addVertex(L.latLng(c[1], c[0])); });
      closed = true;
      redraw();
      map.fitBounds(polygon.getBounds(), { maxZoom: 17, padding: [30, 30] });
      if (opts.onState) opts.onState("closed");
    }

    function markCrossing(lonlat) {
      if (crossing) { map.removeLayer(crossing); crossing = null; }
      if (!lonlat) return;
      crossing = L.marker([lonlat[1], lonlat[0]], {
        icon: L.divIcon({ className: "crossing-marker", iconSize: [18, 18] }), keyboard: false,
        title: "边界自相交处", interactive: false }).addTo(map);
    }

    return { start: start, finish: finish, clear: clear, setPolygon: setPolygon, geojson: geojson,
             markCrossing: markCrossing, vertexCount: function () { return vertices.length; },
             isClosed: function () { return closed; } };
  }

  window.WBDraw = { attach: attach };
})();
