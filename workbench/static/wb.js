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

  // Clear every field error under root (each submit starts clean): the messages, the
  // aria-invalid marks and the aria-describedby links fieldError added.
  function clearErrors(root) {
    (root || document).querySelectorAll(".field-error").forEach(function (n) { say(n, ""); });
    (root || document).querySelectorAll("[aria-invalid]").forEach(unmark);
  }

  function unmark(input) {
    input.removeAttribute("aria-invalid");
    var added = input.getAttribute("data-wb-describedby");
    if (!added) return;
    var kept = (input.getAttribute("aria-describedby") || "").split(/\s+/)
      .filter(function (t) { return t && t !== added; });
    if (kept.length) input.setAttribute("aria-describedby", kept.join(" "));
    else input.removeAttribute("aria-describedby");
    input.removeAttribute("data-wb-describedby");
  }

  // A field the user changes is no longer marked: its message goes with its mark. One
  // listener for every page; a radio's group (a fieldset with the id) counts as the field.
  function corrected(ev) {
    var input = ev.target && ev.target.closest && ev.target.closest('[aria-invalid="true"]');
    var box = input && input.id && document.getElementById(input.id + "-error");
    if (!box) return;
    say(box, "");
    unmark(input);
  }
  document.addEventListener("input", corrected);
  document.addEventListener("change", corrected);

  // The first field marked in one turn of the event loop (one submit's checks, or one
  // refusal's problems) takes the focus: the first in the page's order.
  var firstBad = null;
  function focusFirst(input) {
    if (firstBad && firstBad.isConnected &&
        !(firstBad.compareDocumentPosition(input) & Node.DOCUMENT_POSITION_PRECEDING)) return;
    if (!firstBad) setTimeout(function () { firstBad = null; }, 0);
    firstBad = input;
    var target = /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(input.tagName) ? input
      : input.querySelector("input:checked, input, select, textarea, button") || input;
    target.focus();
  }

  // The one way a field is marked wrong, by the page's own checks before anything is sent
  // and by placeErrors for the server's refusals: the message in FIELD-error next to it,
  // the input (or the fieldset of a radio group) FIELD marked aria-invalid and described by
  // the message, the first marked field focused. Cleared by clearErrors (each submit) or
  // when the user changes the field. Returns whether the page has a place for the message.
  function fieldError(id, message) {
    var box = document.getElementById(id + "-error");
    if (!box) return false;
    say(box, message, true);
    var input = document.getElementById(id);
    if (!input) return true;
    input.setAttribute("aria-invalid", "true");
    var described = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
    if (described.indexOf(box.id) < 0) {
      input.setAttribute("aria-describedby", described.concat([box.id]).join(" "));
      input.setAttribute("data-wb-describedby", box.id);
    }
    focusFirst(input);
    return true;
  }

  // Put each error next to its field (fieldError): a validation problem names the field, or
  // the service's message does ("字段 wecom_webhook_url：…", "字段 a、b：…",
  // "字段 hazards.0.deadline：…"); a file column's label "registration_code（列“id”）"
  // names its field before the bracket. options.fields maps the API's field names to the
  // page's element ids where they differ (an object, or a function returning the id);
  // options.fallback is the id of the field that takes an error naming none on the page;
  // options.rows puts each problem's row first ("第 2 行：…": a pasted line, a file's row).
  // pageBox (optional) says that fields need changing, or holds the whole message when
  // nothing could be placed. Returns whether anything was placed.
  function placeErrors(err, pageBox, options) {
    var opts = options || {}, names = opts.fields || {}, messages = {}, order = [];
    var idOf = function (field) {
      var name = String(field).split("（")[0];
      return (typeof names === "function" ? names(name) : names[name]) || name;
    };
    function add(id, message) {
      if (!id || !document.getElementById(id + "-error")) return;
      if (!messages[id]) { messages[id] = []; order.push(id); }
      if (messages[id].indexOf(message) < 0) messages[id].push(message);
    }
    (err.problems || []).forEach(function (p) {
      if (p.field) add(idOf(p.field), (opts.rows && p.row ? "第 " + p.row + " 行：" : "") + p.message);
    });
    var m = /字段 ([\w\/.\[\]、]+)：(.*)$/.exec(err.detail || "");
    if (m) m[1].split("、").forEach(function (f) { if (!messages[idOf(f)]) add(idOf(f), m[2]); });
    if (!order.length && opts.fallback) add(opts.fallback, m ? m[2] : (err.detail || String(err)));
    order.forEach(function (id) { fieldError(id, messages[id].join("\n")); });
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
                clearErrors: clearErrors, placeErrors: placeErrors, fieldError: fieldError, say: say,
                zoneCell: zoneCell,
                ZONE: ZONE, PRESSURE: PRESSURE, PERMIT: PERMIT, STATUS: STATUS, KIND: KIND, ALERT: ALERT,
                data: document.body.dataset };
})();
