/* 项目详情, the procedure: per permit the owner's reply (管道单位答复), the protection plans
 * (上传保护方案) and the gas office's decision (批准 with 有效期至, 驳回 with the reason); the
 * start notice (开工告知), offered only when the procedure allows it. Controls appear only
 * for the grants the server lists in data-can; the API asks the permission table again. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var id = WB.data.projectId;
  var can = (WB.data.can || "").split(" ");
  var may = function (action) { return can.indexOf(action) >= 0; };

  function size(bytes) {
    return bytes >= 1048576 ? (bytes / 1048576).toFixed(1) + " MB" : Math.max(1, Math.round(bytes / 1024)) + " KB";
  }

  // A list of documents, each a download link with who uploaded it and when.
  function documents(docs, empty) {
    if (!docs.length) return WB.el("p", {}, empty);
    var ul = WB.el("ul", { class: "documents" });
    docs.forEach(function (d) {
      var li = WB.el("li");
      if (may("document.read")) li.appendChild(WB.link("/api/documents/" + d.id, d.filename));
      else li.appendChild(WB.el("span", {}, d.filename));
      li.appendChild(document.createTextNode("（" + size(d.size_bytes) + "，" + (d.uploaded_by || "") + " 于 " +
                                             WB.datetime(d.uploaded_at) + " 上传）"));
      ul.appendChild(li);
    });
    return ul;
  }

  function paragraph(text, cls) { return WB.el("p", cls ? { class: cls } : {}, text); }

  function replyPart(p) {
    var box = WB.el("div", { class: "step" });
    box.appendChild(WB.el("h4", {}, "管道单位答复"));
    if (p.review_id === null || p.review_id === undefined) {
      box.appendChild(paragraph("该冲突没有权属单位审查记录。"));
    } else if (!p.decision) {
      var late = p.due_on && p.due_on < new Date().toISOString().slice(0, 10);
      box.appendChild(paragraph("尚未答复（答复期限 " + WB.date(p.due_on) + (late ? "，已逾期" : "") + "）。",
                                late ? "warning" : ""));
    } else {
      box.appendChild(paragraph(p.decision_zh + "（" + (p.replied_by || "") + " 于 " + WB.datetime(p.replied_at) + " 答复）",
                                "decision"));
      if (p.reply_note) box.appendChild(paragraph("说明：" + p.reply_note));
      if (p.reply_documents.length) box.appendChild(documents(p.reply_documents, ""));
    }
    return box;
  }

  function planPart(p) {
    var box = WB.el("div", { class: "step" });
    box.appendChild(WB.el("h4", {}, "保护方案"));
    box.appendChild(documents(p.plans, "尚未上传保护方案。"));
    if (p.plans.length) {
      box.appendChild(paragraph("权属单位意见：" + (p.plan_decision_zh
        ? p.plan_decision_zh + "（" + WB.datetime(p.plan_decided_at) + "）" : "待审查"),
        p.plan_decision === "changes_requested" ? "warning" : ""));
    }
    if (may("plan.upload")) box.appendChild(uploadForm(p));
    return box;
  }

  function uploadForm(p) {
    var key = "plan-" + p.permit_id;
    var form = WB.el("form", { class: "upload", novalidate: "novalidate" });
    var f1 = WB.el("div", { class: "field" });
    f1.appendChild(WB.el("label", { for: key + "-files" }, "保护方案文件（管道 " + p.pipeline_code + "，PDF 或图片）"));
    f1.appendChild(WB.el("input", { id: key + "-files", type: "file", multiple: "multiple",
                                    accept: "application/pdf,image/jpeg,image/png" }));
    f1.appendChild(WB.el("p", { class: "field-error", id: key + "-files-error" }));
    var f2 = WB.el("div", { class: "field" });
    f2.appendChild(WB.el("label", { for: key + "-note" }, "方案说明（管道 " + p.pipeline_code + "）"));
    f2.appendChild(WB.el("textarea", { id: key + "-note", maxlength: "4000", class: "short" }));
    f2.appendChild(WB.el("p", { class: "field-error", id: key + "-note-error" }));
    form.appendChild(f1); form.appendChild(f2);
    form.appendChild(WB.el("button", { type: "submit" }, "上传保护方案"));
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      WB.clearErrors(form);
      var files = $(key + "-files").files;
      if (!files.length) { WB.fieldError(key + "-files", "请选择保护方案文件（PDF、JPEG 或 PNG）"); return; }
      var data = new FormData();
      Array.prototype.forEach.call(files, function (f) { data.append("files", f); });
      var note = $(key + "-note").value.trim();
      if (note) data.append("note", note);
      WB.api("POST", "/api/permits/" + p.permit_id + "/documents", data, true).then(function (r) {
        WB.say($("procedure-message"), "已上传保护方案：" + r.documents.map(function (d) { return d.filename; }).join("、") +
               "，已通知管道权属单位。");
        reloadAll();
      }).catch(function (err) {
        WB.placeErrors(err, null, { fields: { note: key + "-note", files: key + "-files" }, fallback: key + "-files" });
      });
    });
    return form;
  }

  function decisionPart(p) {
    var box = WB.el("div", { class: "step" });
    box.appendChild(WB.el("h4", {}, "燃气管理所决定"));
    var d = p.office_decision;
    if (!d) {
      box.appendChild(paragraph("尚未决定（手续状态：" + p.status_zh + "）。"));
      return box;
    }
    if (d.to_status === "approved") {
      box.appendChild(paragraph("批准，有效期至 " + WB.date(p.approved_until || d.approved_until) +
        (p.reference ? "（文号 " + p.reference + "）" : "") +
        (p.status === "expired" ? "，已过期" : ""), p.status === "expired" ? "warning" : "decision"));
    } else {
      box.appendChild(paragraph("驳回：" + (d.reason || d.note || "未说明理由"), "warning"));
    }
    box.appendChild(paragraph((d.username || "") + " 于 " + WB.datetime(d.at) + " 决定", "hint"));
    return box;
  }

  function render(data) {
    var box = $("procedure"); box.textContent = "";
    $("procedure-section").hidden = !data.permits.length;
    data.permits.forEach(function (p) {
      var card = WB.el("section", { class: "card procedure", "aria-label": "管道 " + p.pipeline_code + " 的保护方案与答复" });
      card.appendChild(WB.el("h3", {}, "管道 " + p.pipeline_code + "（" + (p.owner || "权属单位未登记") + "）· " +
                                         p.zone_zh + " · " + p.status_zh));
      card.appendChild(replyPart(p));
      card.appendChild(planPart(p));
      card.appendChild(decisionPart(p));
      box.appendChild(card);
    });
    renderStart(data.start_notice);
  }

  function renderStart(s) {
    $("start-section").hidden = false;
    $("start-rule").textContent = "开工告知须至少提前 " + s.notice_days + " 个工作日发送给相关管道权属单位；最早可告知的开工日期为 " +
      WB.date(s.earliest_start) + "。";
    var blockers = $("start-blockers"); blockers.textContent = "";
    if (!s.allowed) {
      blockers.appendChild(WB.el("p", {}, "暂不能发送开工告知："));
      var ul = WB.el("ul");
      s.blockers.forEach(function (b) { ul.appendChild(WB.el("li", {}, b)); });
      blockers.appendChild(ul);
    }
    $("start-form").hidden = !(s.allowed && may("start_notice.submit"));
    $("planned_start").min = WB.date(s.earliest_start);
    $("planned_start-hint").textContent = "不早于 " + WB.date(s.earliest_start);
    WB.table($("start-notices"), [["计划开工日期", function (n) { return WB.date(n.planned_start); }],
      ["说明", "note"], ["发送人", "submitted_by"], ["发送时间", function (n) { return WB.datetime(n.submitted_at); }]],
      s.notices);
  }

  $("start-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    WB.clearErrors($("start-form"));
    WB.say($("start-message"), "");
    var day = $("planned_start").value;
    if (!day) { WB.fieldError("planned_start", "请填写计划开工日期"); return; }
    var body = { planned_start: day };
    var note = $("start_note").value.trim();
    if (note) body.note = note;
    WB.api("POST", "/api/projects/" + id + "/start-notice", body).then(function (r) {
      var owners = (r.owners_told || []).join("、");
      WB.say($("start-message"), "已发送开工告知（计划 " + WB.date(r.planned_start) + " 开工）" +
             (owners ? "，已告知 " + owners : "") + "。");
      $("start-form").reset();
      return loadProcedure();
    }).catch(function (err) {
      // A refusal naming no field (the procedure not ready) goes under the start date.
      WB.placeErrors(err, null, { fields: { note: "start_note" }, fallback: "planned_start" });
    });
  });

  function loadProcedure() {
    return WB.api("GET", "/api/workbench/projects/" + id + "/procedure").then(render).catch(function (err) {
      WB.say($("procedure-message"), err.detail, true);
      $("procedure-section").hidden = false;
    });
  }

  // Every answer letter of the project, newest first (a renewal supersedes the previous one).
  function loadAnswers() {
    if (!may("answer.read")) return Promise.resolve();
    return WB.api("GET", "/api/projects/" + id + "/answers").then(function (d) {
      $("answers-section").hidden = false;
      WB.table($("answers"), [["答复书编号", "number"], ["签发原因", "reason_zh"],
        ["签发时间", function (a) { return WB.datetime(a.issued_at); }],
        ["有效期至", function (a) { return WB.date(a.valid_until); }],
        ["状态", function (a) { return a.state_zh + (a.superseded_by_number ? "（" + a.superseded_by_number + "）" : ""); }]],
        d.answers);
    }).catch(function () { $("answers-section").hidden = true; });  // none yet: the letter section says why
  }

  // After an upload the permit's history (project.js) changes too.
  function reloadAll() {
    if (window.WBProject && window.WBProject.reload) window.WBProject.reload();
    else loadProcedure();
  }

  // project.js announces each (re)load of the project: answers, permits and states may change.
  // Each change may have brought notifications too: the header's count follows.
  document.addEventListener("wb:project", function () {
    loadProcedure();
    loadAnswers();
    if (window.WBInbox) window.WBInbox.refresh();
  });
})();
