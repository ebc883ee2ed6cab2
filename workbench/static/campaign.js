/* 专项检查: the year's spot-check stages (draw; redraw only after confirmation), each
 * township's progress, and the reports to download. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var drawn = {}, pendingStage = null;

  function year() { return Number($("year").value); }

  function draw(stage, redraw) {
    WB.api("POST", "/api/workbench/campaign/plans", { year: year(), stage: stage, redraw: !!redraw }).then(function (d) {
      WB.say($("page-message"), "第 " + stage + " 阶段已" + (d.replaced ? "重新" : "") + "抽取：" + d.stage.picks.length + " 个项目。");
      load();
    }).catch(function (err) { WB.say($("page-message"), err.detail, true); });
  }

  document.querySelectorAll("button.draw").forEach(function (b) {
    b.addEventListener("click", function () {
      var stage = Number(b.dataset.stage);
      if (!drawn[stage]) { draw(stage, false); return; }
      pendingStage = stage;
      $("redraw-text").textContent = "第 " + stage + " 阶段已于 " + WB.datetime(drawn[stage].created_at) +
        " 抽取（" + drawn[stage].picks.length + " 个项目）。重新抽取将替换原计划，检查人员的待检清单随之改变。";
      $("redraw-dialog").showModal();
    });
  });
  $("redraw-cancel").addEventListener("click", function () { $("redraw-dialog").close(); });
  $("redraw-form").addEventListener("submit", function (ev) {
    ev.preventDefault(); $("redraw-dialog").close(); draw(pendingStage, true);
  });

  function load() {
    var y = year();
    $("status-xlsx").href = "/api/campaign/status.xlsx?year=" + y;
    WB.api("GET", "/api/workbench/campaign/plans?year=" + y).then(function (d) {
      drawn = {};
      var box = $("stages"); box.textContent = "";
      if (!d.stages.length) box.appendChild(WB.el("p", {}, y + " 年尚未抽取任何阶段。"));
      d.stages.forEach(function (s) {
        drawn[s.stage] = s;
        var sec = WB.el("section", { class: "card", "aria-label": "第 " + s.stage + " 阶段" });
        sec.appendChild(WB.el("h3", {}, "第 " + s.stage + " 阶段：抽中 " + s.picks.length + " 个（需至少 " +
          s.quota_needed + " 个，候选 " + s.candidates + " 个）"));
        s.warnings.forEach(function (w) { sec.appendChild(WB.el("p", { class: "message error" }, w)); });
        var t = WB.el("div");
        WB.table(t, [["项目编号", "code"], ["抽取理由", "reason"], ["风险分", function (p) { return p.risk_score.toFixed(2); }],
                     ["必查", function (p) { return p.forced ? "是" : ""; }]], s.picks);
        sec.appendChild(t);
        box.appendChild(sec);
      });
      document.querySelectorAll("button.draw").forEach(function (b) {
        var n = Number(b.dataset.stage);
        b.textContent = (drawn[n] ? "重新抽取第 " : "抽取第 ") + n + " 阶段";
      });
    }).catch(function (err) { WB.say($("page-message"), err.detail, true); });
    $("compliance").textContent = "";
  }

  // The district's compliance is computed project by project (seconds on a city-size
  // district): on request, so the page itself opens at once.
  function loadCompliance() {
    var y = year();
    WB.say($("compliance"), "正在统计…");
    return WB.api("GET", "/api/campaign/status?year=" + y).then(function (d) {
      var rows = d.townships.concat([Object.assign({}, d.total, { township: "全区合计" })]);
      WB.table($("compliance"), [["乡镇", function (r) { return r.township || "未定乡镇"; }], ["项目", "projects"],
        ["在建", "under_construction"], ["未办保护手续的冲突", "unpermitted_conflicts"],
        ["燃气工程未纳入监管", "supervision_missing"], ["未整改隐患", "open_hazards"],
        ["逾期隐患", "overdue_hazards"], ["有问题的项目", "projects_with_issues"]], rows);
    }).catch(function (err) { WB.say($("page-message"), err.detail, true); });
  }

  $("compliance-load").addEventListener("click", loadCompliance);
  $("year-form").addEventListener("submit", function (ev) { ev.preventDefault(); load(); });
  $("report-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    if ($("month").value) location.href = "/api/reports/" + $("month").value;
  });
  load();
})();
