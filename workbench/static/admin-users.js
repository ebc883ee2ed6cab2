/* 用户管理 (admin): create users, deactivate and reactivate them. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };

  function toggle(u) {
    var b = WB.el("button", { type: "button", class: u.active ? "danger" : "secondary" },
                  (u.active ? "停用 " : "启用 ") + u.username);
    b.addEventListener("click", function () {
      WB.api("PATCH", "/api/users/" + u.id, { active: !u.active }).then(function () {
        WB.say($("page-message"), "用户 " + u.username + (u.active ? " 已停用。" : " 已启用。"));
        load();
      }).catch(function (err) { WB.say($("page-message"), err.detail, true); });
    });
    return b;
  }

  function load() {
    return WB.api("GET", "/api/users?limit=500").then(function (d) {
      WB.table($("users"), [["编号", "id"], ["用户名", "username"], ["角色", "role_zh"], ["所属单位", "organisation"], ["电子邮箱", "email"],
        ["状态", function (u) { return u.active ? "在用" : "已停用"; }],
        ["创建时间", function (u) { return WB.datetime(u.created_at); }], ["操作", toggle]], d.users || d.items || []);
    }).catch(function (err) { WB.say($("page-message"), err.detail, true); });
  }

  $("user-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    WB.clearErrors($("user-form"));
    var body = { username: $("username").value.trim(), password: $("password").value, role: $("role").value,
                 organisation: $("organisation").value.trim() || null,
                 email: $("email").value.trim() || null };
    WB.api("POST", "/api/users", body).then(function (u) {
      WB.say($("page-message"), "已创建用户 " + u.username + "。");
      $("user-form").reset();
      load();
    }).catch(function (err) {
      WB.showErrors(err, $("page-message"));
      var m = /字段 (\w+)/.exec(err.detail || "");
      if (m && $(m[1] + "-error")) WB.say($(m[1] + "-error"), err.detail, true);
    });
  });
  load();
})();
