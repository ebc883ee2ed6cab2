/* 管道单位答复 for the gas office: reviews past their deadline first; each project links
 * to its page (conflicts, permits, history) where the office follows up. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var QUERY = { overdue: "overdue=true", pending: "pending=true", replied: "pending=false", "": "" };
  var params = new URLSearchParams(location.search);
  if (params.get("state") !== null && QUERY[params.get("state")] !== undefined) $("review-state").value = params.get("state");

  function load() {
    var q = QUERY[$("review-state").value];
    return WB.api("GET", "/api/owner-reviews?limit=1000" + (q ? "&" + q : "")).then(function (d) {
      WB.table($("reviews"), [
        ["项目", function (r) { return WB.link("/office/projects/" + r.project_id, r.project_code + " " + r.project_name); }],
        ["建设单位", "builder_organisation"], ["管道", "pipeline_code"], ["权属单位", "owner"],
        ["所在范围", function (r) { return WB.zoneCell(r.zone); }],
        ["答复期限", function (r) { return WB.date(r.due_on); }],
        ["答复状态", OWN.reviewState],
        ["答复时间", function (r) { return WB.datetime(r.replied_at); }], ["备注", "note"]
      ], d.reviews, "管道单位答复");
      WB.say($("page-message"), "共 " + d.numberReturned + " 条。");
    }).catch(function (err) { WB.say($("page-message"), err.detail, true); });
  }

  $("review-state").addEventListener("change", load);
  load();
})();
