/* 待办事项 of the gas office: new alerts, projects under construction without permits,
 * approvals about to expire, owner replies past their deadline, damage reports to acknowledge. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var project = function (r) { return WB.link("/office/projects/" + r.project_id, r.registration_code + " " + r.name); };
  WB.api("GET", "/api/workbench/office-summary").then(function (d) {
    [["新告警", d.counts.new_alerts, "/office/alerts"], ["待审批的申请", d.counts.permits_applied, "/office/permits?status=applied"],
     ["30 天内到期的批准", d.counts.permits_expiring, "/office/permits?status=approved"],
     ["在建未办结手续的项目", d.counts.unpermitted_projects, "/office/projects?status=under_construction"],
     ["管道单位答复逾期", d.counts.overdue_replies, "/office/owner-reviews?state=overdue"],
     ["未确认的损坏报告", d.counts.unacknowledged_damage, "/office/damage-reports"]
    ].forEach(function (f) {
      var card = WB.el("div", { class: "card" });
      card.appendChild(WB.el("div", { class: "figure" }, f[1]));
      card.appendChild(WB.link(f[2], f[0]));
      $("figures").appendChild(card);
    });
    WB.table($("new-alerts"), [["时间", function (r) { return WB.datetime(r.created_at); }], ["项目", project],
      ["范围", function (r) { return WB.zoneCell(r.zone); }], ["内容", "message"]], d.new_alerts);
    WB.table($("overdue-replies"), [["项目", project], ["管道", "pipeline_code"], ["权属单位", "owner"],
      ["答复期限", "due_on"]], d.overdue_replies, "管道单位答复逾期");
    WB.table($("damage"), [["报告时间", function (r) { return WB.datetime(r.reported_at); }],
      ["项目", function (r) { return r.project_id ? project(r) : "—"; }], ["管道", "pipeline_code"],
      ["权属单位", "owner"], ["损坏情况", "description"],
      ["操作", function (r) { return WB.link("/office/damage-reports", "确认收到损坏报告 " + r.id); }]],
      d.unacknowledged_damage, "未确认的损坏报告");
    WB.table($("unpermitted"), [["项目", project], ["乡镇", "township"], ["冲突数", "conflicts"]], d.unpermitted);
    WB.table($("expiring"), [["项目", project], ["管道", "pipeline_code"], ["有效期至", "approved_until"]], d.expiring);
  }).catch(function (err) { WB.say($("page-message"), err.detail, true); });
})();
