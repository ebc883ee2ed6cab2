/* 管道损坏报告 of the gas office (and of a pipeline owner, for its own pipes): reports not yet acknowledged first, 确认收到 keeps the
 * time from report to acknowledgement (the district asks for a report upward within 2 h). */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  // The owner acknowledges reports on its own pipes; the office every report.
  var owner = WB.data.role === "utility", org = WB.data.organisation || "";
  var projects = owner ? "/owner/projects/" : "/office/projects/";
  var yesNo = function (v) { return v === null || v === undefined ? "—" : (v ? "是" : "否"); };
  var params = new URLSearchParams(location.search);
  if (params.get("state") !== null) $("damage-state").value = params.get("state");

  function waited(r) {
    if (r.acknowledged_at) return "已确认（" + OWN.hours(r.seconds_to_acknowledge) + "后，" + (r.acknowledged_by || "") + "）";
    var seconds = (Date.now() - new Date(r.reported_at)) / 1000;
    return WB.el("span", { class: seconds > 7200 ? "overdue" : "" }, "未确认，已等待 " + OWN.hours(seconds) +
                 (seconds > 7200 ? "（超过 2 小时）" : ""));
  }

  function action(r) {
    if (r.acknowledged_at || (owner && r.owner !== org)) return "";
    var b = WB.el("button", { type: "button", "aria-label": "确认收到损坏报告 " + r.id }, "确认收到");
    b.addEventListener("click", function () {
      WB.api("POST", "/api/damage-reports/" + r.id + "/acknowledge").then(function (done) {
        return load().then(function () {
          WB.say($("page-message"), "已确认收到损坏报告 " + done.id + "（报告后 " + OWN.hours(done.seconds_to_acknowledge) + "）。");
        });
      }).catch(function (err) { WB.say($("page-message"), err.detail, true); });
    });
    return b;
  }

  function load() {
    return WB.api("GET", "/api/damage-reports?limit=500").then(function (d) {
      var open = $("damage-state").value === "open";
      var rows = d.damage_reports.filter(function (r) { return !open || !r.acknowledged_at; });
      WB.table($("reports"), [
        ["编号", "id"], ["报告时间", function (r) { return WB.datetime(r.reported_at); }], ["报告人", "reported_by"],
        ["发生时间", function (r) { return WB.datetime(r.occurred_at); }],
        ["项目", function (r) { return r.project_id ? WB.link(projects + r.project_id, r.project_code) : "—"; }],
        ["管道", "pipeline_code"], ["权属单位", "owner"], ["损坏情况", "description"],
        ["答复书有效", function (r) { return yesNo(r.had_valid_answer); }],
        ["保护手续已批准", function (r) { return yesNo(r.had_approved_permit); }],
        ["确认", waited], ["操作", action]
      ], rows, "管道损坏报告");
    }).catch(function (err) { WB.say($("page-message"), err.detail, true); });
  }

  $("damage-state").addEventListener("change", load);
  load();
})();
