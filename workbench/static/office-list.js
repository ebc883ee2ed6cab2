/* 项目 / 冲突 / 保护手续 lists of the gas office: filters, pages, CSV and XLSX export. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var kind = WB.data.list, offset = 0, LIMIT = 100;
  var project = function (r) { return WB.link("/office/projects/" + (r.project_id || r.id), r.registration_code); };
  var COLUMNS = {
    projects: [["项目编号", project], ["项目名称", "name"], ["项目类型", "kind_zh"], ["状态", "status_zh"],
               ["乡镇", "township"], ["所属单位", "organisation"], ["未关闭冲突", "conflicts"]],
    conflicts: [["冲突编号", "id"], ["项目", project], ["项目名称", "name"], ["乡镇", "township"],
                ["管道", "pipeline_code"], ["权属单位", "owner"], ["压力级制", "pressure_class_zh"],
                ["所在范围", function (r) { return WB.zoneCell(r.zone); }], ["距管壁（米）", "distance_m"],
                ["保护手续", "permit_status_zh"]],
    permits: [["手续编号", "id"], ["项目", project], ["项目名称", "name"], ["管道", "pipeline_code"],
              ["所在范围", "zone_zh"], ["状态", "status_zh"], ["有效期至", "approved_until"], ["文号", "reference"]]
  };
  var params = new URLSearchParams(location.search);
  ["q", "township", "status"].forEach(function (k) { if (params.get(k)) $(k).value = params.get(k); });

  function query() {
    var p = new URLSearchParams();
    ["q", "township", "status"].forEach(function (k) { if ($(k).value) p.set(k, $(k).value); });
    return p;
  }

  function load() {
    var p = query();
    $("export-csv").href = "/api/workbench/lists/" + kind + "/export.csv?" + p;
    $("export-xlsx").href = "/api/workbench/lists/" + kind + "/export.xlsx?" + p;
    p.set("limit", LIMIT); p.set("offset", offset);
    return WB.api("GET", "/api/workbench/lists/" + kind + "?" + p).then(function (d) {
      WB.table($("rows"), COLUMNS[kind], d.rows);
      WB.say($("page-message"), "共 " + d.numberMatched + " 条，显示第 " + (d.numberMatched ? offset + 1 : 0) + "–" +
             (offset + d.numberReturned) + " 条。");
      $("prev").disabled = offset === 0;
      $("next").disabled = offset + d.numberReturned >= d.numberMatched;
    }).catch(function (err) { WB.say($("page-message"), err.detail, true); });
  }

  WB.api("GET", "/api/workbench/townships").then(function (fc) {
    fc.features.forEach(function (f) { $("township").appendChild(new Option(f.properties.name, f.properties.name)); });
    if (params.get("township")) $("township").value = params.get("township");
  }).catch(function () {});
  $("filters").addEventListener("submit", function (ev) { ev.preventDefault(); offset = 0; load(); });
  $("prev").addEventListener("click", function () { offset = Math.max(0, offset - LIMIT); load(); });
  $("next").addEventListener("click", function () { offset += LIMIT; load(); });
  load();
})();
