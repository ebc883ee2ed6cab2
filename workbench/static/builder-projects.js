/* 我的项目: the organisation's projects with conflicts, permit state and deadlines. */
(function () {
  "use strict";
  WB.api("GET", "/api/workbench/my-projects").then(function (data) {
    WB.table(document.getElementById("projects"), [
      ["项目编号", function (p) { return WB.link("/builder/projects/" + p.id, p.registration_code); }],
      ["项目名称", "name"], ["项目类型", function (p) { return WB.KIND[p.kind] || p.kind; }],
      ["状态", function (p) { return WB.STATUS[p.status] || p.status; }],
      ["冲突", function (p) { return p.conflicts ? p.conflicts + "（保护范围 " + p.protection_conflicts + "）" : "无"; }],
      ["保护手续", "permit_state"],
      ["计划开工", function (p) { return WB.date(p.start_date); }],
      ["计划竣工", function (p) { return WB.date(p.planned_completion_date); }],
      ["批准最早到期", function (p) { return WB.date(p.next_expiry); }],
      ["答复书", function (p) {
        if (!p.answer_number) return "尚无";
        var lapsed = p.answer_valid_until < new Date().toISOString().slice(0, 10);
        return p.answer_number + "（" + (lapsed ? "已于 " + WB.date(p.answer_valid_until) + " 过期" :
                                          "有效期至 " + WB.date(p.answer_valid_until)) + "）";
      }],
      ["权属单位答复", function (p) {
        return p.replies_pending ? "待答复 " + p.replies_pending + " 项（期限 " + WB.date(p.reply_due) + "）" :
          (p.conflicts ? "已答复" : "—");
      }]
    ], data.projects);
  }).catch(function (err) { WB.say(document.getElementById("page-message"), err.detail, true); });
})();
