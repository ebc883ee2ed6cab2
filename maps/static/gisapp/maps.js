/* gisapp map pages: the map, login, viewport loading of bbox GeoJSON, township filter, search.
 *
 * Loaded after Leaflet, at the end of the page. The page carries its configuration as
 * JSON in the data-config attribute of #gis-map (a map page) or #gis-dashboard; the
 * Content-Security-Policy allows no inline script. This script draws the map, fills its
 * layers from /maps/data/... on every move (or, for a large pipeline network, from the
 * vector tiles of /api/tiles), with the session cookie of the one login at /
 * (HttpOnly: no token within any script's reach; a 401 goes back to the login page).
 * All labels come from config.strings (maps/i18n.py). Every string that a user may have
 * written (codes, names, builders, townships, notes...) is put in as TEXT: tooltips get
 * a text node, pop-ups and panels arrive as content blocks (maps/panels.py) built here
 * with textContent. Nothing from the server is ever assigned to innerHTML.
 */
(function () {
  "use strict";
  var S = {};                 // Chinese strings of the page
  // Read by the browser test: finished loads, pending requests, features per layer.
  var status = { loads: 0, pending: 0, failures: 0, counts: {}, truncated: {}, tiles: {} };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null && text !== "") node.textContent = String(text);
    return node;
  }

  // Content blocks of maps/panels.py into elements; every string goes in as text.
  function render(blocks, parent) {
    blocks.forEach(function (b) {
      if (b.type === "heading") parent.appendChild(el("h" + Math.min(6, Math.max(1, b.level)), "", b.text));
      else if (b.type === "text") {
        var para = parent.appendChild(el("p", b["class"] || "", b.text));
        if (b.strong !== undefined) para.appendChild(el("b", "", b.strong));
      } else if (b.type === "fields") {
        var fields = el("table", "gis-fields");
        b.rows.forEach(function (r) {
          var tr = fields.appendChild(el("tr"));
          tr.appendChild(el("th", "", r[0])); tr.appendChild(el("td", "", r[1]));
        });
        parent.appendChild(fields);
      } else if (b.type === "table") {
        var table = el("table", "gis-table"), head = table.appendChild(el("thead")).appendChild(el("tr"));
        var body = table.appendChild(el("tbody"));
        b.head.forEach(function (h) { head.appendChild(el("th", "", h)); });
        b.rows.forEach(function (r) {
          var tr = body.appendChild(el("tr"));
          r.forEach(function (c) { tr.appendChild(el("td", "", c)); });
        });
        parent.appendChild(table);
      } else if (b.type === "section") parent.appendChild(render(b.blocks, el("section")));
    });
    return parent;
  }

  function showMessage(text) {
    var box = document.getElementById("gis-message") || document.body.appendChild(el("div", "gis-message"));
    box.id = "gis-message";
    box.textContent = text;
  }

  function cookie(name) {
    var found = document.cookie.split("; ").filter(function (c) { return c.indexOf(name + "=") === 0; })[0];
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }

  // Once: every tile and layer refused at the same moment calls it, and each new
  // assignment aborted the navigation already under way.
  var leaving = false;
  function toLogin() {
    if (leaving) return;
    leaving = true;
    location.href = "/?next=" + encodeURIComponent(location.pathname + location.search);
  }

  // GET JSON with the session cookie (HttpOnly: this script never sees the token);
  // 401 goes to the one login page at /, 403 explains the role.
  function getJSON(url, signal) {
    return fetch(url, { credentials: "same-origin", signal: signal })
      .then(function (r) {
        if (r.status === 401) toLogin();
        else if (r.status === 403) showMessage(S.forbidden);
        else if (!r.ok) showMessage(S.loadFailed);
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      });
  }

  // A data request of the view, counted pending until its data is drawn by draw(data):
  // the status line and the benchmark's "settled" read these counts. An aborted request
  // (a newer view replaced it) is not a failure.
  function tracked(url, signal, report, draw) {
    status.pending += 1; report();
    return getJSON(url, signal).then(function (data) { draw(data); status.loads += 1; })
      .catch(function (err) { if (err.name !== "AbortError") status.failures += 1; })
      .then(function () { status.pending -= 1; report(); });
  }

  // The pages are served to anyone; their data needs the session, checked by the server.
  function whenLoggedIn(fn) { fn(); }

  // 退出登录 posts the workbench's logout form with the CSRF token of the session.
  function logoutLink() {
    var form = el("form", "gis-logout"), csrf = el("input"), button = el("button", "", S.logout);
    form.method = "post"; form.action = "/logout";
    csrf.type = "hidden"; csrf.name = "csrf_token"; csrf.value = cookie("gisapp_csrf");
    button.type = "submit";
    form.appendChild(csrf); form.appendChild(button);
    return form;
  }

  // A Leaflet control holding a DOM node; clicks and wheel stay inside it.
  function control(map, position, node) {
    var c = L.control({ position: position });
    c.onAdd = function () {
      L.DomEvent.disableClickPropagation(node); L.DomEvent.disableScrollPropagation(node);
      return node;
    };
    return c.addTo(map);
  }

  // One data layer: fetches its endpoint for the current view into its feature group.
  function dataLayer(map, cfg, spec, group, state, report) {
    var controller = null, loadedOnce = false;

    function style(feature) {
      var p = feature.properties, color = p.color || (spec.colors || {})[p[spec.colorBy]] || "#555";
      var s = { color: color, weight: spec.weight, opacity: 0.9, fillColor: color,
                fillOpacity: spec.fillOpacity || 0, radius: 5 };
      if (p.alert) { s.color = "#d50000"; s.weight = 4; s.dashArray = "6 4"; }
      return s;
    }

    // Leaflet inserts a string tooltip as HTML: an element with text content stays text.
    // A permanent label each: for a few townships (Chongming's 18), not Shanghai's 605,
    // whose labels overlapped at every zoom that shows them all and cost a layout each.
    function label(feature, layer) {
      layer.bindTooltip(el("span", "", feature.properties.label),
                        { permanent: true, direction: "center", className: "gis-label" });
    }

    // A site opens its pop-up when clicked.
    function clickable(feature, layer) {
      layer.on("click", function (e) { openPopup(map, cfg, feature.id, e.latlng); });
    }

    function bboxParams() {
      var b = map.getBounds(), clamp = function (v, lo, hi) { return Math.min(hi, Math.max(lo, v)).toFixed(6); };
      return "bbox=" + [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -85, 85),
                        clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -85, 85)].join(",") +
             "&zoom=" + map.getZoom();
    }

    if (spec.tiles) return tileLayer(map, cfg, spec, group, report);

    function load() {
      if (!map.hasLayer(group) || (spec.once && loadedOnce)) return;
      if (map.getZoom() < (spec.minZoom || 0)) {      // the server would send nothing anyway
        group.clearLayers(); status.counts[spec.key] = 0; report(); return;
      }
      if (controller) controller.abort();             // a newer view replaces an older request
      controller = new AbortController();
      // A layer loaded once is the same whatever the view: its URL is the page's (preloaded).
      var url = spec.once ? spec.url : spec.url + (spec.url.indexOf("?") < 0 ? "?" : "&") + bboxParams();
      if (spec.township && state.township) url += "&township=" + encodeURIComponent(state.township);
      if (cfg.year && !spec.once) url += "&year=" + cfg.year;
      // The first view holds the whole jurisdiction as points: the page's own request for
      // all its sites (preloaded with the scripts) answers it, not one asked for after them.
      if (spec.wideUrl && !loadedOnce && !state.township && map.getZoom() < spec.polygonZoom &&
          map.getBounds().contains(cfg.bounds)) url = spec.wideUrl;
      tracked(url, controller.signal, report, function (data) {
        group.clearLayers();
        // Points get their style when made; the style option would restyle each again.
        var labelled = spec.labels && data.features.length <= LABEL_LIMIT;
        var layer = L.geoJSON(data, {
          style: data.points ? undefined : style,
          onEachFeature: labelled ? label : spec.popup ? clickable : undefined,
          pointToLayer: function (f, latlng) { return L.circleMarker(latlng, style(f)); }
        });
        if (spec.popup) hoverText(map, layer, function (p) { return p.code + " " + p.name; });
        else if (spec.labels && !labelled) hoverText(map, layer, function (p) { return p.label; });
        group.addLayer(layer);
        restack(cfg, spec);
        loadedOnce = true;
        status.counts[spec.key] = data.features.length;
        status.truncated[spec.key] = data.truncated;
      });
    }
    return { load: load };
  }

  // The data layers are drawn in their page order (sites over pipelines over bands),
  // whichever answer comes first: on the one canvas the last drawn takes a click, and the
  // preloaded sites now often come before the pipelines.
  function restack(cfg, spec) {
    var later = false;
    cfg.layers.forEach(function (other) {
      if (later && groups[other.key] && groups[other.key]._map) groups[other.key].bringToFront();
      if (other.key === spec.key) later = true;
    });
  }

  // VectorGrid turns a tile that failed into an empty one, so an ended session (401) would
  // leave a blank map instead of the login the GeoJSON layers go to. Its tiles are fetched
  // through window.fetch: watch the answers of tile requests only, once per page.
  var tileAuthWatched = false;
  function watchTileAuth() {
    if (tileAuthWatched || !window.fetch) return;
    tileAuthWatched = true;
    var plain = window.fetch;
    window.fetch = function (input, init) {
      return plain.call(window, input, init).then(function (r) {
        if (r.status === 401 && String(r.url).indexOf("/api/tiles/") >= 0) toLogin();
        return r;
      });
    };
  }

  // A large network: the layer is drawn from vector tiles (/api/tiles, Leaflet.VectorGrid),
  // which Leaflet loads itself as the view moves; nothing to fetch on "moveend". The
  // status counts the distinct features of the tiles on screen.
  function tileLayer(map, cfg, spec, group, report) {
    var busy = false;
    watchTileAuth();
    var grid = L.vectorGrid.protobuf(spec.tiles, {
      // Only the tiles over the jurisdiction and its margin: a zoom-9 view of Shanghai is
      // 24 tiles of which 18 hold sea or other provinces, and they queued before the data.
      bounds: cfg.tileBounds || cfg.bounds,
      rendererFactory: L.canvas.tile, maxZoom: 22, interactive: false,  // clicks: map.on("click") below
      fetchOptions: { credentials: "same-origin" },
      // A merged main of the low-zoom overview has its row's id, not a pipeline's.
      getFeatureId: function (f) { return f.properties.segments ? "m" + f.id : f.id; },
      vectorTileLayerStyles: {
        pipelines: function (p) {
          return { color: (spec.colors || {})[p[spec.colorBy]] || "#555", weight: spec.weight, opacity: 0.9 };
        }
      }
    });
    // The page's own canvas (preferCanvas: projects, bands) lies over the tiles and takes
    // every click, so VectorGrid never hears one: a click that hit nothing on that canvas
    // reaches the map, and is tested here against the lines of the tile under it.
    map.on("click", function (e) {
      if (!map.hasLayer(group) || grid._tileZoom === undefined) return;
      var size = grid.getTileSize(), z = grid._tileZoom, at = map.project(e.latlng, z);
      var coords = at.unscaleBy(size).floor(), tile = grid._vectorTiles[coords.x + ":" + coords.y + ":" + z];
      if (!tile) return;
      var local = at.subtract(coords.scaleBy(size)), hit = null, reach = spec.weight / 2 + 3;
      Object.keys(tile._features || {}).forEach(function (id) {
        var line = tile._features[id].feature;         // its parts: points in tile pixels
        (line._parts || []).forEach(function (part) {
          for (var i = 1; !hit && i < part.length; i++) {
            if (L.LineUtil.pointToSegmentDistance(local, part[i - 1], part[i]) <= reach) {
              hit = { id: id, properties: line.properties || {} };
            }
          }
        });
      });
      if (hit) pipelinePopup(map, spec, hit, e.latlng, reach);
    });
    grid.on("loading", function () { if (!busy) { busy = true; status.pending += 1; report(); } });
    grid.on("load", function () {
      var ids = {};
      Object.keys(grid._vectorTiles || {}).forEach(function (k) {
        Object.keys(grid._vectorTiles[k]._features || {}).forEach(function (id) { ids[id] = true; });
      });
      status.counts[spec.key] = Object.keys(ids).length;
      status.truncated[spec.key] = false;
      status.tiles[spec.key] = true;
      status.loads += 1;
      if (busy) { busy = false; status.pending -= 1; }
      report();
    });
    group.addLayer(grid);
    return { load: function () {} };
  }

  // A pipeline's code and class (its Chinese label), as text. A low-zoom tile carries no
  // codes (they were half its bytes): the one pipeline is then looked up by its id, and
  // under a merged main of the overview (no pipeline's id) the nearest main to the click.
  function pipelinePopup(map, spec, hit, latlng, reach) {
    var show = function (code, cls) {
      var label = (cls && (S.pressureClasses || {})[cls]) || cls || "";
      showPopup(map, latlng, el("span", "", code + " " + label), {});
    };
    if (hit.properties.code) { show(hit.properties.code, hit.properties.pressure_class); return; }
    if (!hit.properties.segments) {
      getJSON("/api/pipelines/" + encodeURIComponent(hit.id)).then(function (f) {
        show(f.properties.external_code, f.properties.pressure_class);
      }).catch(function () {});
      return;
    }
    var at = map.latLngToContainerPoint(latlng);
    var sw = map.containerPointToLatLng(at.add([-reach, reach])), ne = map.containerPointToLatLng(at.add([reach, -reach]));
    var url = spec.url + (spec.url.indexOf("?") < 0 ? "?" : "&") + "bbox=" +
      [sw.lng, sw.lat, ne.lng, ne.lat].map(function (v) { return v.toFixed(6); }).join(",") + "&zoom=" + map.getZoom();
    getJSON(url).then(function (d) {
      var best = null, bestDistance = Infinity;
      d.features.forEach(function (f) {
        var g = f.geometry, lines = g.type === "LineString" ? [g.coordinates] : g.coordinates;
        lines.forEach(function (line) {
          for (var i = 1; i < line.length; i++) {
            var a = map.latLngToContainerPoint([line[i - 1][1], line[i - 1][0]]);
            var b = map.latLngToContainerPoint([line[i][1], line[i][0]]);
            var distance = L.LineUtil.pointToSegmentDistance(at, a, b);
            if (distance < bestDistance) { bestDistance = distance; best = f; }
          }
        });
      });
      if (best && bestDistance <= reach) show(best.properties.code, best.properties.pressure_class);
    }).catch(function () {});
  }

  // The bottom corners (scale, status line, coverage panel; legend) lie over the map: a
  // pop-up is panned clear of the corner beside it, and when an unfolded panel leaves no
  // room for the pop-up (a small screen) the panel folds. Leaflet's autoPan does the
  // panning, with the corner's height as its bottom padding.
  var foldables = [];         // the page's foldable panels (coverage panel, legend)
  var lastPopup = null;       // the pop-up opened last (open while on the map)
  var GAP = 10;               // pixels between a pop-up and a corner's controls
  var NARROW = "(max-width: 600px)";

  function showPopup(map, latlng, content, options) {
    var popup = L.popup(L.extend({}, options, { autoPan: false })).setLatLng(latlng).setContent(content);
    popup.openOn(map);
    lastPopup = popup;
    clearOfCorners(map, popup, true);
    return popup;
  }

  // Pan ``popup`` clear of the bottom corners beside it. When they do not both fit,
  // ``mayFold``: fold the unfolded panels beside it; else (a panel was just unfolded over
  // it, the viewer's choice) close the pop-up.
  function clearOfCorners(map, popup, mayFold) {
    var node = popup.getElement();
    if (!node || !map.hasLayer(popup)) return;
    var container = map.getContainer(), area = container.getBoundingClientRect(), box = node.getBoundingClientRect();
    var beside = function (n) {
      var r = n.getBoundingClientRect();
      return r.height > 0 && box.left < r.right + GAP && box.right > r.left - GAP;
    };
    var room = function () {                          // the tallest corner beside the pop-up
      var most = 0;
      container.querySelectorAll(".leaflet-bottom").forEach(function (c) {
        if (beside(c)) most = Math.max(most, area.bottom - c.getBoundingClientRect().top + GAP);
      });
      return most;
    };
    if (box.height + room() + GAP > area.height) {
      var open = foldables.filter(function (f) { return f.isOpen() && beside(f.node); });
      if (open.length && !mayFold) { map.closePopup(popup); return; }
      open.forEach(function (f) { f.fold(); });
    }
    popup.options.autoPan = true;
    popup.options.autoPanPaddingBottomRight = [5, Math.max(5, room())];
    popup.update();                                   // Leaflet's autoPan with that padding
  }

  // A panel over the map that a button (aria-expanded, a native button: Enter and Space)
  // folds and unfolds; folded at first on a narrow screen, where it would cover most of
  // the map. ``body``: the panel's content, given the id ``id``.
  function foldable(map, position, cls, label, body, id) {
    var box = el("div", cls), toggle = el("button", "gis-fold-toggle", label);
    body.id = id;
    body.classList.add("gis-fold-body");
    toggle.type = "button";
    toggle.setAttribute("aria-controls", id);
    var set = function (open) {
      toggle.setAttribute("aria-expanded", String(open));
      body.hidden = !open;
    };
    toggle.addEventListener("click", function () {
      set(body.hidden);
      // Unfolded over an open pop-up: the pop-up is panned clear of it, or closed.
      if (!body.hidden && lastPopup && map.hasLayer(lastPopup)) clearOfCorners(map, lastPopup, false);
    });
    set(!(window.matchMedia && window.matchMedia(NARROW).matches));
    box.appendChild(toggle); box.appendChild(body);
    control(map, position, box);
    var handle = { node: box, isOpen: function () { return !body.hidden; }, fold: function () { set(false); } };
    foldables.push(handle);
    return handle;
  }

  function openPopup(map, cfg, id, latlng) {
    getJSON(cfg.dataUrl + "/projects/" + id + "/popup?view=" + cfg.view + (cfg.year ? "&year=" + cfg.year : ""))
      .then(function (d) {
        // Never wider than a small screen's map: the content's width, its margins (44 px)
        // and the pan padding (Leaflet's minWidth is 50). Wider tables scroll (maps.css).
        var widest = Math.max(50, Math.min(460, map.getSize().x - 60));
        showPopup(map, latlng, render(d.blocks, el("div", "gis-popup")), { maxWidth: widest });
      })
      .catch(function () {});
  }

  // Township filter: zooms to the township and limits projects to it. Its choices come
  // with the township areas (fill), after login: the viewer's own district's only.
  function townshipControl(map, state, reload) {
    var box = el("div", "gis-control gis-township"), select = el("select"), towns = [];
    select.title = S.township;
    select.appendChild(new Option(S.allTownships, ""));
    select.addEventListener("change", function () {
      state.township = select.value;
      var t = towns.filter(function (x) { return x.name === select.value; })[0];
      if (t) map.fitBounds(t.bounds);                  // a move reloads again; the older request is aborted
      reload();
    });
    box.appendChild(el("label", "", S.township)); box.appendChild(select);
    control(map, "topleft", box);
    return {
      fill: function (features) {
        features.forEach(function (f) {
          towns.push(f.properties);
          select.appendChild(new Option(f.properties.name, f.properties.name));
        });
      }
    };
  }

  // More permanent township labels than this are shown on hover instead (see label()).
  var LABEL_LIMIT = 60;

  // One tooltip on the map for a whole layer, shown for the feature under the pointer
  // (its events reach the layer), at a point feature or following the pointer: 5,000
  // sites or 600 townships made as many bound tooltips before the first draw. (A tooltip
  // bound to the layer group took the sites' clicks from them now and then in Chromium.)
  function hoverText(map, layer, text) {
    var tip = L.tooltip({ direction: "top", offset: [0, -6] });
    layer.on("mouseover", function (e) {
      tip.setLatLng(e.layer.getLatLng ? e.layer.getLatLng() : e.latlng)
         .setContent(el("span", "", text(e.layer.feature.properties)));
      map.openTooltip(tip);
    });
    layer.on("mousemove", function (e) { if (!e.layer.getLatLng) tip.setLatLng(e.latlng); });
    layer.on("mouseout", function () { map.closeTooltip(tip); });
  }

  // The township areas: one cached GeoJSON (ETag) after login, drawn under the data.
  function townshipAreas(map, cfg, group, filter, report) {
    if (!cfg.townshipAreas) return;
    tracked(cfg.townshipAreas.url, undefined, report, function (data) {
      var areas = L.geoJSON(data, {
        style: function () {
          return { color: "#78909c", weight: 1, dashArray: "4 3", fillColor: "#eceff1", fillOpacity: 0.25 };
        }
      });
      hoverText(map, areas, function (p) { return p.name; });
      group.addLayer(areas);
      group.bringToBack();
      filter.fill(data.features);
    });
  }

  // Search by project code or name; a result zooms to the site and opens its pop-up.
  function searchControl(map, cfg) {
    var box = el("div", "gis-control gis-search"), input = el("input"), list = el("ul");
    input.type = "search"; input.placeholder = S.search;
    box.appendChild(input); box.appendChild(list);
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        list.textContent = "";
        if (!input.value.trim()) return;
        getJSON(cfg.dataUrl + "/search?q=" + encodeURIComponent(input.value.trim())).then(function (d) {
          if (!d.results.length) list.appendChild(el("li", "gis-none", S.searchNone));
          d.results.forEach(function (r) {
            var item = el("li", "", r.code + " " + r.name + (r.township ? "（" + r.township + "）" : ""));
            item.addEventListener("click", function () {
              var bounds = L.latLngBounds([r.south, r.west], [r.north, r.east]);
              map.fitBounds(bounds, { maxZoom: 17 });
              openPopup(map, cfg, r.id, bounds.getCenter());
            });
            list.appendChild(item);
          });
        }).catch(function () {});
      }, 300);
    });
    control(map, "topleft", box);
  }

  function start(map, cfg, groups) {
    S = cfg.strings;
    var state = { township: "" };
    var line = el("span");
    var report = function () {                        // the status line under the map
      var total = 0, cut = false;
      Object.keys(status.counts).forEach(function (k) { total += status.counts[k]; cut = cut || status.truncated[k]; });
      line.textContent = status.pending ? S.loading : S.shown.replace("{n}", total) + (cut ? S.truncated : "");
    };
    var layers = cfg.layers.map(function (spec) { return dataLayer(map, cfg, spec, groups[spec.key], state, report); });
    var reload = function () { layers.forEach(function (l) { l.load(); }); };

    var head = el("div", "gis-control gis-title"), home = el("a", "", S.back);
    home.href = cfg.homeUrl;
    head.appendChild(el("strong", "", cfg.title)); head.appendChild(home); head.appendChild(logoutLink());
    control(map, "topleft", head);
    var filter = townshipControl(map, state, reload);
    searchControl(map, cfg);
    var foot = el("div", "gis-control gis-status"); foot.appendChild(line);
    control(map, "bottomleft", foot);

    var timer = null;                                 // one reload per pause in panning
    map.on("moveend", function () { clearTimeout(timer); timer = setTimeout(reload, 150); });
    map.on("overlayadd", reload);
    whenLoggedIn(function () {
      townshipAreas(map, cfg, groups.townshipAreas, filter, report);
      reload();
      if (cfg.panelUrl) {                             // part of the first view: pending until drawn
        tracked(cfg.panelUrl, undefined, report, function (d) {  // the year is in it (preloaded)
          foldable(map, "bottomleft", "gis-control gis-panel", S.coverageToggle,
                   render(d.blocks, el("div")), "gis-panel-body");
        });
      }
    });
  }

  // The dashboard: headline figures after login.
  function dashboard(cfg) {
    S = cfg.strings;
    whenLoggedIn(function () {
      getJSON(cfg.summaryUrl).then(function (d) {
        render(d.blocks, document.getElementById("gis-figures"));
        document.querySelector("header").appendChild(logoutLink());
        status.loads += 1;
      }).catch(function () { status.failures += 1; });
    });
  }

  // The legend from data: swatch colours set through the DOM (no inline style attribute).
  function legend(map, blocks) {
    var box = el("div");
    blocks.forEach(function (b) {
      var block = box.appendChild(el("div", "gis-legend-block"));
      block.appendChild(el("h4", "", b.title));
      b.rows.forEach(function (r) {
        var row = block.appendChild(el("div", "gis-legend-row")), swatch = el("i", "gis-swatch gis-" + r.kind);
        swatch.style.setProperty("--c", r.color);
        row.appendChild(swatch); row.appendChild(document.createTextNode(r.label));
      });
    });
    foldable(map, "bottomright", "gis-legend", S.legendToggle, box, "gis-legend-body");
  }

  // A map page: base layers, district and township areas, empty data layers, legend, controls.
  function page(node, cfg) {
    S = cfg.strings;                                  // the legend's button is made before start()
    var map = L.map(node, { preferCanvas: true, minZoom: cfg.minZoom, maxZoom: cfg.maxZoom,
                            zoomControl: true });
    map.fitBounds(cfg.bounds);
    L.control.scale({ imperial: false }).addTo(map);
    var bases = {}, overlays = {};
    if (cfg.tiles) {
      var tileOptions = { attribution: cfg.tiles.attribution, maxZoom: cfg.tiles.maxZoom };
      // A tile file holds zooms up to its own depth; deeper views scale its tiles up.
      if (cfg.tiles.maxNativeZoom) { tileOptions.maxNativeZoom = cfg.tiles.maxNativeZoom; }
      bases[cfg.tiles.name] = L.tileLayer(cfg.tiles.url, tileOptions).addTo(map);
    }
    overlays[cfg.district.name] = L.geoJSON(cfg.district.geometry, {
      interactive: false, style: function () { return { color: "#37474f", weight: 2.5, fill: false }; }
    }).addTo(map);
    if (cfg.townshipAreas) {                          // filled after login (townshipAreas)
      groups.townshipAreas = overlays[cfg.townshipAreas.name] = L.featureGroup().addTo(map);
    }
    cfg.layers.forEach(function (spec) { groups[spec.key] = L.featureGroup().addTo(map); overlays[spec.name] = groups[spec.key]; });
    legend(map, cfg.legend);
    L.control.layers(bases, overlays, { collapsed: false, position: "topright" }).addTo(map);
    start(map, cfg, groups);
    return map;
  }

  var groups = {};            // the data layers of the map page, by key (read by the browser test)

  function boot() {
    var mapNode = document.getElementById("gis-map"), dash = document.getElementById("gis-dashboard");
    if (mapNode) window.GisMaps.map = page(mapNode, JSON.parse(mapNode.getAttribute("data-config")));
    else if (dash) dashboard(JSON.parse(dash.getAttribute("data-config")));
  }

  window.GisMaps = { start: start, dashboard: dashboard, status: status, groups: groups, render: render };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
