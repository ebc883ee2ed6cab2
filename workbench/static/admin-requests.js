/* 待确认: privileged account changes (gas office, admin) waiting for a second admin. Any
 * admin may press 确认 or 撤销; the server decides (the requester cannot confirm its own)
 * and its message is shown next to the action that was refused. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var ACTION = { create: "新建账号", update: "变更账号", password: "设置密码" };
  var ROLE = JSON.parse(WB.data.roles || "{}");  // the permission table's role labels
  var CHANGE = { role: "角色", organisation: "所属单位", district: "所辖区", active: "启用", email: "电子邮箱" };

  function what(r) {
    var c = r.changes || {}, parts = [];
    Object.keys(c).forEach(function (k) {
      var v = c[k];
      if (k === "role") v = ROLE[v] || v;
      if (k === "active") v = v ? "是" : "否";
      if (k !== "username" && v !== null && v !== undefined && v !== "") parts.push((CHANGE[k] || k) + "：" + v);
    });
    if (r.sets_password) parts.push("设置新密码");
    return parts.join("；");
  }

  function account(r) { return r.target_username || (r.changes || {}).username || ""; }

  function actions(r) {
    var box = WB.el("div", { class: "toolbar" });
    var who = account(r);
    var error = WB.el("p", { class: "field-error", id: "request-" + r.id + "-error", role: "alert" });
    function act(verb, label, done) {
      var b = WB.el("button", { type: "button", class: verb === "cancel" ? "secondary" : null,
                                "aria-describedby": error.id }, label + "请求 " + r.id);
      b.addEventListener("click", function () {
        error.textContent = "";
        WB.api("POST", "/api/users/requests/" + r.id + "/" + verb).then(function () {
          return load().then(function () {  // the message once the list shows the change
            WB.say($("page-message"), done + "：请求 " + r.id + "（" + ACTION[r.action] + " " + who + "）。");
            $("page-message").focus();
          });
        }).catch(function (err) { error.textContent = err.detail; b.focus(); });
      });
      return b;
    }
    box.appendChild(act("confirm", "确认", "已确认并生效"));
    box.appendChild(act("cancel", "撤销", "已撤销"));
    var cell = WB.el("div");
    cell.appendChild(box); cell.appendChild(error);
    return cell;
  }

  function load() {
    return WB.api("GET", "/api/users/requests").then(function (d) {
      WB.table($("requests"), [["编号", "id"], ["类型", function (r) { return ACTION[r.action] || r.action; }],
        ["账号", account], ["变更内容", what], ["发起人", "requested_by"],
        ["发起时间", function (r) { return WB.datetime(r.requested_at); }],
        ["失效时间", function (r) { return WB.datetime(r.expires_at); }], ["操作", actions]],
        d.requests, "待确认的账号变更");
    }).catch(function (err) { WB.say($("page-message"), err.detail, true); });
  }
  load();
})();
