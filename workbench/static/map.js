/* A Leaflet map of the workbench: no tiles (offline), the township areas for bearings,
 * and helpers to draw screening answers (pipes, bands, nearest lines, sites). */
(function () {
  "use strict";
  var STYLE = {
    site: { color: "#0b3d6b", weight: 3, fillColor: "#3a7bd5", fillOpacity: 0.25 },
    pipe: { color: "#c62828", weight: 3 },
    protection_band: { color: "#d50000", weight: 1, fillColor: "#ff5252", fillOpacity: 0.35 },
    control_band: { color: "#ef6c00", weight: 1, fillColor: "#ffb74d", fillOpacity: 0.25 },
    nearest_line: { color: "#000", weight: 2, dashArray: "4 4" }
  };

  function create(container) {
    var map = L.map(container, { zoomSnap: 0.25, keyboard: true }).setView([31.62, 121.55], 10);
    WBMap.last = map;  // the page tests convert lon/lat to screen points with it
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution("乡镇范围为合成示例数据");
    WB.api("GET", "/api/workbench/townships").then(function (fc) {
      L.geoJSON(fc, { style: { color: "#607d8b", weight: 1, fillColor: "#cfd8dc", fillOpacity: 0.35 },
                      interactive: false }).addTo(map).bringToBack();
    }).catch(function () { /* bearings only: the map works without them */ });
    return map;
  }

  // A FeatureCollection whose features carry properties.layer (pipe, bands, lines).
  function answerLayer(fc) {
    return L.geoJSON(fc, {
      style: function (f) { return STYLE[f.properties.layer] || STYLE.pipe; },
      onEachFeature: function (f, layer) {
        if (f.properties.layer === "pipe") layer.bindTooltip(function () {
          return WB.el("span", {}, "管道 " + f.properties.pipeline_code + "（" +
                       (WB.PRESSURE[f.properties.pressure_class] || f.properties.pressure_class) + "）");
        });
      }
    });
  }

  function legend(map) {
    var c = L.control({ position: "bottomright" });
    c.onAdd = function () {
      var box = WB.el("div", { class: "card" });
      [["#ff5252", "安全保护范围"], ["#ffb74d", "安全控制范围"], ["#c62828", "燃气管道"],
       ["#3a7bd5", "施工场地"]].forEach(function (item) {
        var row = WB.el("div");
        var swatch = WB.el("span", { class: "legend-swatch" });
        swatch.style.background = item[0];  // CSSOM, not a style attribute (CSP)
        row.appendChild(swatch);
        row.appendChild(document.createTextNode(item[1]));
        box.appendChild(row);
      });
      return box;
    };
    c.addTo(map);
  }

  window.WBMap = { create: create, answerLayer: answerLayer, legend: legend, STYLE: STYLE };
})();
