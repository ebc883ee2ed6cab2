/* 项目详情: the project, its answer (each conflict drawn and listed) and its permits with
 * only the legal next steps as buttons (批准 asks 有效期至, 驳回 asks a reason). */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var id = WB.data.projectId, role = WB.data.role;
  var map = WBMap.create("map"), layers = null;
  WBMap.legend(map);
  var ACTION = {
    applied: role === "builder" ? "提交申请" : "登记申请", approved: "批准", rejected: "驳回",
    not_required: "无需办理", expired: "标记过期", not_started: "恢复未办理"
  };
  var pending = null;

  function load() {
    return WB.api("GET", "/api/workbench/projects/" + id).then(render).catch(function (err) {
      WB.say($("page-message"), err.detail, true);
    });
  }

  function fact(dl, term, value) {
    dl.appendChild(WB.el("dt", {}, term));
    dl.appendChild(WB.el("dd", {}, value || "—"));
  }

  function render(p) {
    document.title = p.registration_code + " " + p.name + " · 项目详情";
    var dl = $("facts"); dl.textContent = "";
    fact(dl, "项目编号", p.registration_code); fact(dl, "项目名称", p.name);
    fact(dl, "项目类型", WB.KIND[p.kind] || p.kind); fact(dl, "项目状态", WB.STATUS[p.status] || p.status);
    fact(dl, "乡镇", p.township); fact(dl, "所属单位", p.organisation || p.builder);
    fact(dl, "计划开工日期", WB.date(p.start_date)); fact(dl, "计划竣工日期", WB.date(p.planned_completion_date));
    if (layers) map.removeLayer(layers);
    layers = L.featureGroup().addTo(map);
    L.geoJSON(p.geometry, { style: WBMap.STYLE.site }).addTo(layers);
    p.conflicts.forEach(function (c) {
      if (c.pipe) L.geoJSON(c.pipe, { style: WBMap.STYLE.pipe }).bindTooltip(function () {
        return WB.el("span", {}, "管道 " + c.pipeline_code); }).addTo(layers);
      if (c.nearest_line) L.geoJSON(c.nearest_line, { style: WBMap.STYLE.nearest_line }).addTo(layers);
    });
    map.fitBounds(layers.getBounds(), { maxZoom: 18, padding: [20, 20] });
    var n = p.conflicts.length;
    $("answer-summary").textContent = n
      ? "本项目场地进入 " + n + " 条燃气管道的安全保护或控制范围，须办理燃气管道保护手续。"
      : "本项目场地未进入任何燃气管道的安全保护或控制范围，无需办理燃气管道保护手续。";
    WB.table($("conflicts"), [
      ["冲突编号", "id"], ["管道", function (c) { return c.pipeline_code + (c.pipeline_name ? " " + c.pipeline_name : ""); }],
      ["权属单位", "owner"],
      ["压力级制", function (c) { return WB.PRESSURE[c.pressure_class] || c.pressure_class; }],
      ["所在范围", function (c) { return WB.zoneCell(c.zone); }],
      ["距管壁（米）", function (c) { return c.distance_m.toFixed(2); }],
      ["须办事项", "required_action"], ["依据", "rule_set"]
    ], p.conflicts);
    renderPermits(p.conflicts);
    document.dispatchEvent(new CustomEvent("wb:project", { detail: p }));  // project-procedure.js
  }

  function renderPermits(conflicts) {
    var box = $("permits"); box.textContent = "";
    if (!conflicts.length) { box.appendChild(WB.el("p", {}, "无冲突，无需办理。")); return; }
    conflicts.forEach(function (c) {
      if (!c.permit_id) return;
      var card = WB.el("section", { class: "card", "aria-label": "冲突 " + c.id + " 的保护手续" });
      card.appendChild(WB.el("h3", {}, "管道 " + c.pipeline_code + "：" + (WB.PERMIT[c.permit_status] || c.permit_status) +
        (c.approved_until ? "（有效期至 " + c.approved_until + "）" : "")));
      var bar = WB.el("div", { class: "toolbar" });
      (c.permit_next || []).forEach(function (next) {
        var b = WB.el("button", { type: "button", class: next === "rejected" ? "danger" : "" }, ACTION[next] || next);
        b.addEventListener("click", function () { ask(c, next); });
        bar.appendChild(b);
      });
      if (!(c.permit_next || []).length) bar.appendChild(WB.el("p", {}, "当前没有可由您办理的步骤。"));
      card.appendChild(bar);
      var hist = WB.el("div");
      WB.table(hist, [["时间", function (h) { return WB.datetime(h.at); }], ["操作人", "username"],
        ["由", function (h) { return WB.PERMIT[h.from_status] || ""; }],
        ["变为", function (h) { return WB.PERMIT[h.to_status] || h.to_status; }],
        ["有效期至", "approved_until"], ["文号", "reference"], ["说明", "note"]], c.permit_history || []);
      card.appendChild(WB.el("h4", {}, "办理历史"));
      card.appendChild(hist);
      $("permits").appendChild(card);
    });
  }

  function ask(conflict, next) {
    pending = { permit: conflict.permit_id, to: next };
    WB.clearErrors($("permit-form"));
    WB.say($("dialog-message"), "");
    $("permit-dialog-title").textContent = ACTION[next] + "：管道 " + conflict.pipeline_code;
    $("until-field").hidden = next !== "approved";
    $("reference-field").hidden = ["approved", "applied"].indexOf(next) < 0;
    $("reason-field").hidden = ["rejected", "not_required", "expired", "not_started"].indexOf(next) < 0;
    $("reason-label").textContent = next === "rejected" ? "驳回理由" : (next === "not_required" ? "无需办理的理由" : "说明");
    ["approved_until", "reference", "reason"].forEach(function (k) { $(k).value = ""; });
    $("permit-dialog").showModal();
    var first = next === "approved" ? "approved_until" : (next === "applied" ? "reference" : "reason");
    $(first).focus();
  }

  $("permit-cancel").addEventListener("click", function () { $("permit-dialog").close(); });
  $("permit-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    WB.clearErrors($("permit-form"));
    var to = pending.to, body = { to_status: to };
    var until = $("approved_until").value, reason = $("reason").value.trim(), ref = $("reference").value.trim();
    if (to === "approved" && !until) { WB.fieldError("approved_until", "批准须填写有效期至"); return; }
    if ((to === "rejected" || to === "not_required") && !reason) {
      WB.fieldError("reason", to === "rejected" ? "驳回须填写理由" : "须填写无需办理的理由"); return;
    }
    if (until) body.approved_until = until;
    if (ref) body.reference = ref;
    if (to === "not_required" || to === "rejected") body.reason = reason; else if (reason) body.note = reason;
    WB.api("POST", "/api/permits/" + pending.permit + "/transitions", body).then(function () {
      $("permit-dialog").close();
      WB.say($("page-message"), "已" + ACTION[to] + "。");
      return load();
    }).catch(function (err) {
      // The dialog's 说明 box carries the service's "note" as well as its "reason".
      WB.placeErrors(err, $("dialog-message"), { fields: { note: "reason" } });
    });
  });

  // The answer letter (查询答复书) of the procedure API: shown when the server issues them.
  function loadLetter() {
    return WB.api("GET", "/api/projects/" + id + "/answer").then(function (a) {
      var dl = $("letter"); dl.textContent = "";
      fact(dl, "答复书编号", a.number); fact(dl, "签发时间", WB.datetime(a.issued_at));
      fact(dl, "有效期至", WB.date(a.valid_until) + (a.near_expiry ? "（" + a.days_left + " 天后到期，请更新答复书）" : ""));
      fact(dl, "状态", a.state_zh || a.state);
      fact(dl, "依据", a.rule_set_title || a.rule_set);
      $("letter-pdf").href = "/api/projects/" + id + "/answer.pdf";
      $("letter-pdf").hidden = false;
      $("letter-section").hidden = false;
    }).catch(function (err) {
      if (err.status === 404 && /答复书/.test(err.detail || "")) {   // the project has none yet
        var dl = $("letter"); dl.textContent = "";
        fact(dl, "状态", err.detail);
        $("letter-pdf").hidden = true;
        $("letter-section").hidden = false;
      }
    });
  }
  $("letter-renew").addEventListener("click", function () {
    WB.api("POST", "/api/projects/" + id + "/answer/renew").then(function () {
      WB.say($("page-message"), "已按现行规则复查并签发新的答复书。");
      return Promise.all([load(), loadLetter()]);
    }).catch(function (err) { WB.say($("page-message"), err.detail, true); });
  });
  if ((WB.data.can || "").split(" ").indexOf("answer.renew") < 0) $("letter-renew").hidden = true;
  window.WBProject = { reload: function () { return Promise.all([load(), loadLetter()]); } };
  loadLetter();

  if (/[?&]new=1/.test(location.search)) WB.say($("page-message"), "项目已保存，筛查答复如下。");
  load();
})();
