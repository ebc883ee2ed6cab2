/* 本单位管道冲突: the conflicts on the owner's pipelines with their reply deadline
 * (overdue ones marked), filters, links to each conflict and project. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var params = new URLSearchParams(location.search);
  ["state", "zone", "q"].forEach(function (k) { if (params.get(k)) $(k).value = params.get(k); });
  var offset = 0, LIMIT = 100;
  var FIGURES = [["pending", "待答复"], ["overdue", "已逾期"], ["replied", "已答复"], ["open", "全部未关闭冲突"]];

  function figures(counts) {
    var box = $("figures"); box.textContent = "";
    FIGURES.forEach(function (f) {
      var card = WB.el("div", { class: "card" });
      card.appendChild(WB.el("div", { class: "figure" + (f[0] === "overdue" && counts.overdue ? " overdue" : "") },
                             counts[f[0]]));
      card.appendChild(WB.link("/owner/" + (f[0] === "open" ? "" : "?state=" + f[0]), f[1]));
      box.appendChild(card);
    });
  }

  function load() {
    var p = new URLSearchParams();
    ["state", "zone", "q"].forEach(function (k) { if ($(k).value.trim()) p.set(k, $(k).value.trim()); });
    history.replaceState(null, "", "/owner/" + (p.toString() ? "?" + p : ""));
    p.set("limit", LIMIT); p.set("offset", offset);
    return WB.api("GET", "/api/workbench/owner/conflicts?" + p).then(function (d) {
      figures(d.counts);
      WB.table($("rows"), [
        ["冲突", function (r) { return WB.link("/owner/conflicts/" + r.id, "冲突 " + r.id); }],
        ["项目", function (r) { return WB.link("/owner/projects/" + r.project_id, r.project_code + " " + r.project_name); }],
        ["建设单位", "builder_organisation"],
        ["管道", "pipeline_code"],
        ["所在范围", function (r) { return WB.zoneCell(r.zone); }],
        ["距管壁（米）", function (r) { return r.distance_m.toFixed(2); }],
        ["答复期限", OWN.deadline],
        ["答复状态", OWN.reviewState],
        ["保护手续", "permit_status_zh"],
        ["下次监护", function (r) { return WB.date(r.next_visit_on); }]
      ], d.conflicts, "本单位管道上的冲突");
      WB.say($("page-message"), "共 " + d.numberMatched + " 个冲突" +
             (d.numberMatched > d.numberReturned ? "，显示第 " + (d.numberReturned ? offset + 1 : 0) + "–" +
              (offset + d.numberReturned) + " 个" : "") + "（今天 " + d.today + "）。");
      $("prev").disabled = offset === 0;
      $("next").disabled = offset + d.numberReturned >= d.numberMatched;
    }).catch(function (err) { WB.say($("page-message"), err.detail, true); });
  }

  $("filters").addEventListener("submit", function (ev) { ev.preventDefault(); offset = 0; load(); });
  $("prev").addEventListener("click", function () { offset = Math.max(0, offset - LIMIT); load(); });
  $("next").addEventListener("click", function () { offset += LIMIT; load(); });
  load();
})();
