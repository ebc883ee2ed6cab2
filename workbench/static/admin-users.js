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

  // 修改邮箱: an existing user's e-mail (where notifications are sent), in a dialog.
  var editing = null;
  function emailButton(u) {
    var b = WB.el("button", { type: "button", class: "secondary" }, "修改邮箱 " + u.username);
    b.addEventListener("click", function () {
      editing = u;
      WB.clearErrors($("email-form"));
      $("email-dialog-title").textContent = "修改邮箱：" + u.username;
      $("new_email").value = u.email || "";
      $("email-dialog").showModal();
      $("new_email").focus();
    });
    return b;
  }
  $("email-cancel").addEventListener("click", function () { $("email-dialog").close(); });
  $("email-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    WB.clearErrors($("email-form"));
    WB.api("PATCH", "/api/users/" + editing.id, { email: $("new_email").value.trim() || null }).then(function () {
      $("email-dialog").close();
      WB.say($("page-message"), "用户 " + editing.username + " 的电子邮箱已保存。");
      load();
    }).catch(function (err) {
      WB.placeErrors(err, null, { fields: { email: "new_email" }, fallback: "new_email" });
    });
  });

  function actions(u) {
    var box = WB.el("div", { class: "toolbar" });
    box.appendChild(toggle(u));
    box.appendChild(emailButton(u));
    return box;
  }

  function load() {
    return WB.api("GET", "/api/users?limit=500").then(function (d) {
      WB.table($("users"), [["编号", "id"], ["用户名", "username"], ["角色", "role_zh"], ["所属单位", "organisation"], ["电子邮箱", "email"],
        ["状态", function (u) { return u.active ? "在用" : "已停用"; }],
        ["创建时间", function (u) { return WB.datetime(u.created_at); }], ["操作", actions]], d.users || d.items || []);
    }).catch(function (err) { WB.say($("page-message"), err.detail, true); });
  }

  $("user-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    WB.clearErrors($("user-form"));
    var body = { username: $("username").value.trim(), password: $("password").value, role: $("role").value,
                 organisation: $("organisation").value.trim() || null,
                 email: $("email").value.trim() || null };
    WB.api("POST", "/api/users", body).then(function (u) {
      // A gas office or admin account waits for a second admin's confirmation (202).
      WB.say($("page-message"), u.pending_request ? u.detail + "。请另一名管理员在“待确认”页面确认。"
                                                  : "已创建用户 " + u.username + "。");
      $("user-form").reset();
      load();
    }).catch(function (err) { WB.placeErrors(err, $("page-message")); });
  });
  load();
})();
