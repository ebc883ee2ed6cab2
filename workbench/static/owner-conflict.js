/* 冲突答复 of a pipeline owner: the conflict on its pipeline, 答复 (decision, 备注,
 * documents), its word on the builder's protection plan, and on-site supervision. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var id = WB.data.conflictId, current = null;
  var SUPERVISION_ASKED = "on_site_supervision_required";
  var map = WBMap.create("map"), layers = null;
  WBMap.legend(map);
  var EVENT = { owner_reply: "权属单位答复", plan_uploaded: "上传保护方案", plan_agreed: "同意保护方案",
                plan_changes_requested: "保护方案须修改" };

  function fact(dl, term, value) {
    dl.appendChild(WB.el("dt", {}, term));
    var dd = WB.el("dd");
    if (value instanceof Node) dd.appendChild(value); else dd.textContent = value || "—";
    dl.appendChild(dd);
  }

  function load() {
    return WB.api("GET", "/api/workbench/owner/conflicts/" + id).then(render).catch(function (err) {
      WB.say($("page-message"), err.detail, true);
    });
  }

  function render(c) {
    current = c;
    document.title = "冲突 " + c.id + "：" + c.project_code + " × " + c.pipeline_code + " · 冲突答复";
    var dl = $("facts"); dl.textContent = "";
    fact(dl, "冲突编号", String(c.id));
    fact(dl, "项目", c.project_code + " " + c.project_name);
    fact(dl, "建设单位", c.builder_organisation || c.builder);
    fact(dl, "乡镇", c.township);
    fact(dl, "项目状态", WB.STATUS[c.project_status] || c.project_status);
    fact(dl, "计划开工日期", WB.date(c.start_date));
    fact(dl, "管道", c.pipeline_code + (c.pipeline_name ? " " + c.pipeline_name : ""));
    fact(dl, "压力级制", WB.PRESSURE[c.pressure_class] || c.pressure_class);
    fact(dl, "所在范围", WB.zoneCell(c.zone));
    fact(dl, "距管壁（米）", c.distance_m.toFixed(2));
    fact(dl, "须办事项", c.required_action);
    fact(dl, "答复期限", OWN.deadline(c));
    if (c.closed_at) fact(dl, "冲突状态", "已关闭（" + WB.date(c.closed_at) + "，项目或管道已变更）");
    $("project-link").href = "/owner/projects/" + c.project_id;
    drawMap(c);
    renderReview(c);
    renderPlan(c);
    renderVisits(c);
  }

  function drawMap(c) {
    if (layers) map.removeLayer(layers);
    layers = L.featureGroup().addTo(map);
    if (c.site) L.geoJSON(c.site, { style: WBMap.STYLE.site }).addTo(layers);
    if (c.pipe) L.geoJSON(c.pipe, { style: WBMap.STYLE.pipe }).addTo(layers);
    if (c.nearest_line) L.geoJSON(c.nearest_line, { style: WBMap.STYLE.nearest_line }).addTo(layers);
    if (layers.getLayers().length) map.fitBounds(layers.getBounds(), { maxZoom: 18, padding: [20, 20] });
  }

  function renderReview(c) {
    var dl = $("review"); dl.textContent = "";
    fact(dl, "答复状态", OWN.reviewState(c));
    if (c.decision) {
      fact(dl, "答复意见", c.decision_zh);
      fact(dl, "备注", c.note);
      fact(dl, "答复时间", WB.datetime(c.replied_at) + " " + (c.replied_by || ""));
      fact(dl, "答复附件", c.review_documents.length ? c.review_documents.length + " 个" : "无");
    }
    OWN.documents($("reply-documents"), c.review_documents, "答复附件");
    $("reply-form").hidden = !!c.closed_at || !c.review_id;
    $("reply-form-title").textContent = c.decision ? "更改答复" : "填写答复";
  }

  function renderPlan(c) {
    var dl = $("plan-facts"); dl.textContent = "";
    var permit = c.permit;
    if (!permit) { fact(dl, "保护手续", "无"); $("plan-form").hidden = true; return; }
    fact(dl, "保护手续状态", permit.status_zh + (permit.approved_until ? "（有效期至 " + permit.approved_until + "）" : ""));
    fact(dl, "保护方案", permit.plans.length ? permit.plans.length + " 份" : "建设单位尚未上传");
    fact(dl, "本单位意见", c.plan_decision_zh || (permit.plans.length ? "尚未给出" : "—"));
    OWN.documents($("plan-documents"), permit.plans, "保护方案文件");
    $("plan-form").hidden = !permit.plans.length || !!c.closed_at;
    WB.table($("history"), [
      ["时间", function (h) { return WB.datetime(h.at); }], ["操作人", "username"],
      ["事项", function (h) { return EVENT[h.event] || WB.PERMIT[h.to_status] || h.to_status; }],
      ["说明", "note"]], permit.history, "保护手续办理历史");
  }

  function renderVisits(c) {
    WB.table($("visits"), [
      ["监护日期", function (v) { return WB.date(v.scheduled_on); }], ["监护人", "person"],
      ["状态", function (v) {
        return v.arrived_at ? "已记录" : WB.link("/owner/supervision?visit=" + v.id, "待记录（去记录）");
      }],
      ["到场", function (v) { return WB.datetime(v.arrived_at); }],
      ["离场", function (v) { return WB.datetime(v.left_at); }], ["监护情况", "notes"]
    ], c.visits, "本冲突的现场监护");
    // Supervision is scheduled on the reply that asked for it (the server refuses it otherwise).
    var asked = c.decision === SUPERVISION_ASKED;
    $("visit-form").hidden = !!c.closed_at || !asked;
    $("visit-rule").textContent = c.closed_at || asked ? "" : c.decision
      ? "本单位的答复为“" + c.decision_zh + "”，未要求现场监护；如需监护，请先将答复改为“须现场监护”。"
      : "答复为“须现场监护”后才能安排现场监护。";
  }

  $("reply-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var form = $("reply-form");
    WB.clearErrors(form); WB.say($("reply-message"), "");
    var chosen = form.querySelector('input[name="decision"]:checked'), bad = false;
    if (!chosen) { WB.fieldError("decision", "请选择答复意见"); bad = true; }
    var note = $("note").value.trim();
    if (note.length > 2000) { WB.fieldError("note", "备注不能超过 2000 字（现有 " + note.length + " 字）"); bad = true; }
    var fileProblem = OWN.checkFiles($("files"));
    if (fileProblem) { WB.fieldError("files", fileProblem); bad = true; }
    if (bad) { WB.say($("reply-message"), "未提交：请按字段旁的提示修改。", true); return; }
    var body = new FormData();
    body.append("decision", chosen.value);
    if (note) body.append("note", note);
    Array.prototype.forEach.call($("files").files, function (f) { body.append("files", f, f.name); });
    $("reply-submit").disabled = true;
    WB.api("POST", "/api/conflicts/" + id + "/owner-reply", body, true).then(function (r) {
      form.reset();
      return load().then(function () {
        WB.say($("page-message"), "答复已提交：" + r.decision_zh + (r.documents.length ? "（附件 " + r.documents.length + " 个）" : "") + "。");
      });
    }).catch(function (err) {
      WB.placeErrors(err, $("reply-message"));
    }).then(function () { $("reply-submit").disabled = false; });
  });

  $("plan-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var form = $("plan-form");
    WB.clearErrors(form); WB.say($("plan-message"), "");
    var chosen = form.querySelector('input[name="plan_decision"]:checked');
    var note = $("plan_note").value.trim();
    var bad = true;
    if (!chosen) WB.fieldError("plan_decision", "请选择方案意见");
    else if (chosen.value === "changes_requested" && !note) WB.fieldError("plan_note", "要求修改时请写明须修改的内容");
    else bad = false;
    if (bad) { WB.say($("plan-message"), "未提交：请按字段旁的提示修改。", true); return; }
    WB.api("POST", "/api/permits/" + current.permit.id + "/owner-decision",
           { decision: chosen.value, note: note || null }).then(function () {
      form.reset();
      return load().then(function () {
        WB.say($("page-message"), "方案意见已提交：" + (chosen.value === "agreed" ? "同意保护方案" : "保护方案须修改") + "。");
      });
    }).catch(function (err) {
      WB.placeErrors(err, $("plan-message"), { fields: { decision: "plan_decision", note: "plan_note" } });
    });
  });

  $("visit-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var form = $("visit-form");
    WB.clearErrors(form); WB.say($("visit-message"), "");
    var day = $("scheduled_on").value, person = $("person").value.trim(), bad = false;
    if (!day) { WB.fieldError("scheduled_on", "请填写监护日期"); bad = true; }
    if (!person) { WB.fieldError("person", "请填写监护人"); bad = true; }
    if (bad) { WB.say($("visit-message"), "未安排：请按字段旁的提示修改。", true); return; }
    WB.api("POST", "/api/conflicts/" + id + "/supervision-visits", { scheduled_on: day, person: person }).then(function (v) {
      form.reset();
      return load().then(function () {
        WB.say($("page-message"), "已安排 " + v.scheduled_on + " 由 " + v.person + " 现场监护，建设单位已收到通知。");
      });
    }).catch(function (err) { WB.placeErrors(err, $("visit-message")); });
  });

  load();
})();
