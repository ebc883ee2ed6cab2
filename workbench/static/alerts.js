/* 告警: the gas office's inbox; 确认 acknowledges, 处理完毕 resolves with a note. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var resolving = null;

  function act(alert, action, note) {
    return WB.api("POST", "/api/alerts/" + alert.id + "/" + action, { note: note || null }).then(function () {
      WB.say($("page-message"), "告警 " + alert.id + (action === "acknowledge" ? " 已确认。" : " 已处理完毕。"));
      return load();
    }).catch(function (err) { WB.say($("page-message"), err.detail, true); });
  }

  function buttons(a) {
    var bar = WB.el("div", { class: "toolbar" });
    if (a.status === "new") {
      var ack = WB.el("button", { type: "button", "aria-label": "确认", title: "确认告警 " + a.id }, "确认");
      ack.addEventListener("click", function () { act(a, "acknowledge"); });
      bar.appendChild(ack);
    }
    if (a.status !== "resolved") {
      var done = WB.el("button", { type: "button", class: "secondary", "aria-label": "处理完毕",
                                   title: "告警 " + a.id + " 处理完毕" }, "处理完毕");
      done.addEventListener("click", function () {
        resolving = a; $("resolve-note").value = ""; WB.clearErrors($("resolve-form"));
        $("resolve-dialog").showModal(); $("resolve-note").focus();
      });
      bar.appendChild(done);
    }
    return bar;
  }

  var seq = 0;  // only the latest load renders (a filter change may overtake a reload)
  function load() {
    var status = $("alert-status").value, mine = ++seq;
    return WB.api("GET", "/api/alerts?limit=200" + (status ? "&status=" + status : "")).then(function (d) {
      if (mine !== seq) return;
      WB.table($("alerts"), [
        ["编号", "id"], ["时间", function (a) { return WB.datetime(a.created_at); }],
        ["项目", function (a) { return a.project_feature_id || a.project_id ?
          WB.link("/office/projects/" + (a.project_feature_id || a.project_id), a.project_code || a.project_name || "项目") : ""; }],
        ["范围", function (a) { return WB.zoneCell(a.zone); }], ["内容", "message"],
        ["状态", function (a) { return WB.ALERT[a.status] || a.status; }], ["说明", "note"], ["操作", buttons]
      ], d.alerts);
    }).catch(function (err) { WB.say($("page-message"), err.detail, true); });
  }

  $("alert-status").addEventListener("change", load);
  $("resolve-cancel").addEventListener("click", function () { $("resolve-dialog").close(); });
  $("resolve-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    WB.clearErrors($("resolve-form"));
    var note = $("resolve-note").value.trim();
    if (!note) { WB.fieldError("resolve-note", "请填写处理说明"); return; }
    $("resolve-dialog").close();
    act(resolving, "resolve", note);
  });
  load();
})();
