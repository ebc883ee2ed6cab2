/* Workbench helpers shared by every page: JSON calls with the session cookie and CSRF
 * header, DOM building with textContent only (user text is never parsed as HTML),
 * tables, and error messages placed next to their field. */
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "class") node.className = attrs[k];
      else if (k === "dataset") Object.assign(node.dataset, attrs[k]);
      else if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) node.setAttribute(k, attrs[k]);
    });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // fetch with the cookie; unsafe methods carry the CSRF header. Rejects with
  // {status, detail, problems} so forms can show problems next to their fields.
  function api(method, url, body, isForm) {
    var opts = { method: method, credentials: "same-origin", headers: {} };
    if (method !== "GET" && method !== "HEAD") opts.headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) {
      if (isForm) opts.body = body;
      else { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
    }
    return fetch(url, opts).then(function (r) {
      if (r.status === 401) { location.href = "/?next=" + encodeURIComponent(location.pathname + location.search); }
      var type = r.headers.get("content-type") || "";
      var parse = type.indexOf("json") >= 0 ? r.json() : Promise.resolve({});
      return parse.then(function (data) {
        if (!r.ok) {
          var err = new Error(data.detail || ("请求失败（HTTP " + r.status + "）"));
          err.status = r.status; err.detail = data.detail || err.message; err.problems = data.problems || [];
          throw err;
        }
        return data;
      });
    });
  }

  function clearErrors(root) {
    (root || document).querySelectorAll(".field-error").forEach(function (n) { n.textContent = ""; });
    (root || document).querySelectorAll("[aria-invalid]").forEach(function (n) { n.removeAttribute("aria-invalid"); });
  }

  // Put each problem under the field it names (an element with id FIELD-error), else in box.
  function showErrors(err, box, fieldMap) {
    var placed = false;
    (err.problems || []).forEach(function (p) {
      var key = (fieldMap && fieldMap[p.field]) || p.field;
      var target = key && document.getElementById(key + "-error");
      if (!target) return;
      var line = (p.row ? "第 " + p.row + " 行：" : "") + p.message;
      target.textContent = target.textContent ? target.textContent + "\n" + line : line;
      var input = document.getElementById(key);
      if (input) input.setAttribute("aria-invalid", "true");
      placed = true;
    });
    if (box) { box.textContent = err.detail || String(err); box.classList.add("error"); }
    return placed;
  }

  // Put each error next to its field (the element FIELD-error; the input FIELD is marked
  // aria-invalid): a validation problem names the field, or the service's message does
  // ("字段 wecom_webhook_url：…", "字段 a、b：…"). options.fields maps the API's field names
  // to the page's element ids where they differ; options.fallback is the id of the field
  // that takes an error naming none on the page. The first field placed takes the focus.
  // pageBox (optional) says that fields need changing, or holds the whole message when
  // nothing could be placed. Returns whether anything was placed.
  function placeErrors(err, pageBox, options) {
    var opts = options || {}, names = opts.fields || {}, messages = {}, order = [];
    function add(id, message) {
      if (!id || !document.getElementById(id + "-error")) return;
      if (!messages[id]) { messages[id] = []; order.push(id); }
      if (messages[id].indexOf(message) < 0) messages[id].push(message);
    }
    (err.problems || []).forEach(function (p) { if (p.field) add(names[p.field] || p.field, p.message); });
    var m = /字段 ([\w\/、]+)：(.*)$/.exec(err.detail || "");
    if (m) m[1].split("、").forEach(function (f) { if (!messages[names[f] || f]) add(names[f] || f, m[2]); });
    if (!order.length && opts.fallback) add(opts.fallback, m ? m[2] : (err.detail || String(err)));
    order.forEach(function (id, i) {
      say(document.getElementById(id + "-error"), messages[id].join("\n"), true);
      var input = document.getElementById(id);
      if (!input) return;
      input.setAttribute("aria-invalid", "true");
      if (i === 0) input.focus();
    });
    if (pageBox) say(pageBox, order.length ? "未保存：请按字段旁的提示修改。" : (err.detail || String(err)), true);
    return order.length > 0;
  }

  function say(box, text, isError) {
    box.textContent = text || "";
    box.classList.toggle("error", !!isError);
  }

  // rows: objects; columns: [heading, key or function(row) -> string or Node]
  function table(container, columns, rows, caption) {
    container.textContent = "";
    if (!rows.length) { container.appendChild(el("p", {}, "暂无记录。")); return; }
    // On a phone a wide table scrolls sideways inside its own box, reachable by keyboard.
    var wrap = el("div", { class: "table-wrap", tabindex: "0", role: "region",
                           "aria-label": caption || "表格（可左右滚动）" }), t = el("table");
    if (caption) t.appendChild(el("caption", { class: "skip-caption" }, caption));
    var head = el("tr");
    columns.forEach(function (c) { head.appendChild(el("th", { scope: "col" }, c[0])); });
    t.appendChild(el("thead")).appendChild(head);
    var tbody = t.appendChild(el("tbody"));
    rows.forEach(function (row) {
      var tr = el("tr");
      columns.forEach(function (c) {
        var v = typeof c[1] === "function" ? c[1](row) : row[c[1]];
        var td = el("td");
        if (v instanceof Node) td.appendChild(v); else td.textContent = v === null || v === undefined ? "" : String(v);
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    wrap.appendChild(t); container.appendChild(wrap);
  }

  function link(href, text) { return el("a", { href: href }, text); }
  function date(v) { return v ? String(v).slice(0, 10) : ""; }
  // Times come from the API in UTC (ISO with offset): shown as Shanghai time (UTC+8, no DST).
  function datetime(v) {
    if (!v) return "";
    var text = String(v), at = new Date(text);
    if (!/(Z|[+-]\d\d:?\d\d)$/i.test(text) || isNaN(at)) return text.slice(0, 16).replace("T", " ");
    return new Date(at.getTime() + 8 * 3600 * 1000).toISOString().slice(0, 16).replace("T", " ");
  }

  // The vocabulary's words (vocabulary/ on the server), handed over as inert JSON.
  var V = JSON.parse((document.getElementById("wb-vocabulary") || {}).textContent || "{}");
  var ZONE = V.zone || {}, PRESSURE = V.pressure || {}, PERMIT = V.permit || {};
  var STATUS = V.status || {}, KIND = V.kind || {};
  var ALERT = { new: "新告警", acknowledged: "已确认", resolved: "已处理" };

  function zoneCell(zone) { return el("span", { class: "zone-" + zone }, ZONE[zone] || zone); }

  window.WB = { el: el, api: api, table: table, link: link, date: date, datetime: datetime,
                clearErrors: clearErrors, showErrors: showErrors, placeErrors: placeErrors, say: say,
                zoneCell: zoneCell,
                ZONE: ZONE, PRESSURE: PRESSURE, PERMIT: PERMIT, STATUS: STATUS, KIND: KIND, ALERT: ALERT,
                data: document.body.dataset };
})();
