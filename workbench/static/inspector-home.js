/* 今日检查: the current spot-check stage's projects, the ones not yet checked first. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  WB.api("GET", "/api/workbench/inspections/today").then(function (d) {
    if (!d.plan) { $("plan").textContent = "本年度尚未抽取区级抽查计划。"; return; }
    $("plan").textContent = d.plan.year + " 年第 " + d.plan.stage + " 阶段区级抽查：共 " + d.projects.length + " 个项目，" +
      d.projects.filter(function (p) { return !p.inspected; }).length + " 个待检查。";
    var box = $("today");
    d.projects.forEach(function (p) {
      var card = WB.el("section", { class: "card", "aria-label": p.registration_code + " " + p.name });
      card.appendChild(WB.el("h2", {}, p.registration_code + " " + p.name));
      var dl = WB.el("dl", { class: "facts" });
      [["乡镇", p.township], ["建设单位", p.builder], ["抽取理由", p.reason],
       ["本阶段", p.inspected ? "已检查" : "待检查"], ["未闭环隐患", String(p.open_hazards)]].forEach(function (f) {
        dl.appendChild(WB.el("dt", {}, f[0])); dl.appendChild(WB.el("dd", {}, f[1] || "—"));
      });
      card.appendChild(dl);
      card.appendChild(WB.el("p")).appendChild(WB.link("/inspector/projects/" + p.id + "?stage=" + d.plan.stage,
        p.inspected ? "查看与整改跟踪" : "记录检查"));
      box.appendChild(card);
    });
  }).catch(function (err) { WB.say($("page-message"), err.detail, true); });
})();
