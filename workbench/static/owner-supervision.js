/* 现场监护 of a pipeline owner: conflicts that need supervision and have none planned,
 * the visits planned per project and conflict (记录监护 opens the record form: time on
 * site, what was found, photos), and the visits recorded with their photos. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var pending = null, visitsById = {};
  var project = function (v) { return WB.link("/owner/projects/" + v.project_id, v.project_code); };
  var conflict = function (v) { return WB.link("/owner/conflicts/" + v.conflict_id, "冲突 " + v.conflict_id); };

  function recordButton(v) {
    var b = WB.el("button", { type: "button", "aria-label": "记录监护：" + v.project_code + " " + WB.date(v.scheduled_on) }, "记录监护");
    b.addEventListener("click", function () { ask(v); });
    return b;
  }

  function photos(v) {
    var box = WB.el("div");
    OWN.documents(box, v.documents || [], "监护照片");
    return box.childNodes.length ? box : "无";
  }

  function load() {
    var needed = WB.api("GET", "/api/workbench/owner/conflicts?state=replied").then(function (d) {
      var rows = d.conflicts.filter(function (c) { return c.decision === "on_site_supervision_required" && !c.next_visit_on; });
      WB.table($("needed"), [
        ["冲突", function (c) { return WB.link("/owner/conflicts/" + c.id, "冲突 " + c.id + "（安排监护）"); }],
        ["项目", function (c) { return WB.link("/owner/projects/" + c.project_id, c.project_code + " " + c.project_name); }],
        ["管道", "pipeline_code"], ["计划开工日期", function (c) { return WB.date(c.start_date); }]
      ], rows, "须现场监护但未安排的冲突");
    });
    var visits = WB.api("GET", "/api/supervision-visits").then(function (d) {
      visitsById = {};
      d.visits.forEach(function (v) { visitsById[v.id] = v; });
      var planned = d.visits.filter(function (v) { return !v.arrived_at; });
      var done = d.visits.filter(function (v) { return v.arrived_at; });
      WB.table($("planned"), [
        ["监护日期", function (v) { return WB.date(v.scheduled_on); }], ["项目", project], ["冲突", conflict],
        ["管道", "pipeline_code"], ["监护人", "person"], ["安排人", "created_by"], ["操作", recordButton]
      ], planned, "监护安排");
      // Each record's photos come with the visit itself (GET /api/supervision-visits/{id}).
      return Promise.all(done.slice(-50).map(function (v) { return WB.api("GET", "/api/supervision-visits/" + v.id); }))
        .then(function (full) {
          WB.table($("records"), [
            ["监护日期", function (v) { return WB.date(v.scheduled_on); }], ["项目", project], ["冲突", conflict],
            ["管道", "pipeline_code"], ["监护人", "person"],
            ["到场", function (v) { return WB.datetime(v.arrived_at); }], ["离场", function (v) { return WB.datetime(v.left_at); }],
            ["在场时长", function (v) { return OWN.hours((new Date(v.left_at) - new Date(v.arrived_at)) / 1000); }],
            ["监护情况", "notes"], ["照片", photos], ["记录人", "recorded_by"]
          ], full.reverse(), "监护记录");
        });
    });
    return Promise.all([needed, visits]).catch(function (err) { WB.say($("page-message"), err.detail, true); });
  }

  function ask(v) {
    pending = v;
    var form = $("record-form");
    form.reset(); WB.clearErrors(form); WB.say($("record-message"), "");
    $("record-visit").textContent = "项目 " + v.project_code + "，管道 " + v.pipeline_code + "，" +
      WB.date(v.scheduled_on) + "，监护人 " + v.person;
    $("record-dialog").showModal();
    $("arrived_at").focus();
  }

  $("record-cancel").addEventListener("click", function () { $("record-dialog").close(); });
  $("record-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var form = $("record-form");
    WB.clearErrors(form); WB.say($("record-message"), "");
    var arrived = $("arrived_at").value, left = $("left_at").value, bad = false;
    if (!arrived) { WB.fieldError("arrived_at", "请填写到场时间"); bad = true; }
    if (!left) { WB.fieldError("left_at", "请填写离场时间"); bad = true; }
    if (arrived && left && left < arrived) { WB.fieldError("left_at", "离场时间早于到场时间"); bad = true; }
    var fileProblem = OWN.checkFiles($("files"));
    if (fileProblem) { WB.fieldError("files", fileProblem); bad = true; }
    if (bad) { WB.say($("record-message"), "未保存：请按字段旁的提示修改。", true); return; }
    var body = new FormData();
    body.append("arrived_at", OWN.localMoment(arrived));
    body.append("left_at", OWN.localMoment(left));
    if ($("notes").value.trim()) body.append("notes", $("notes").value.trim());
    Array.prototype.forEach.call($("files").files, function (f) { body.append("files", f, f.name); });
    WB.api("POST", "/api/supervision-visits/" + pending.id + "/record", body, true).then(function (v) {
      $("record-dialog").close();
      return load().then(function () {
        WB.say($("page-message"), "监护记录已保存（" + v.project_code + "，照片 " + v.documents.length + " 张）。");
      });
    }).catch(function (err) {
      WB.placeErrors(err, $("record-message"));
    });
  });

  load().then(function () {
    var wanted = (location.search.match(/[?&]visit=(\d+)/) || [])[1];
    if (wanted && visitsById[wanted] && !visitsById[wanted].arrived_at) ask(visitsById[wanted]);
  });
})();
