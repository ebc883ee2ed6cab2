/* 个人访问令牌: the user's long-lived tokens for desktop GIS. A new token is shown once (the
 * server keeps only its hash), with a copy button; revoking asks for confirmation first. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var revoking = null, opener = null;

  function state(t) {
    if (t.revoked_at) return "已吊销（" + WB.datetime(t.revoked_at) + "）";
    return t.active ? "有效" : "已过期";
  }

  function revokeButton(t) {
    if (!t.active) return "";
    var b = WB.el("button", { type: "button", class: "secondary" }, "吊销 " + t.name);
    b.addEventListener("click", function () {
      revoking = t; opener = b;
      $("revoke-text").textContent = "吊销后令牌“" + t.name + "”立即失效，使用它的 QGIS、GDAL 将无法再读取数据。确定吊销吗？";
      WB.say($("revoke-error"), "");
      $("revoke-dialog").showModal();
      $("revoke-cancel").focus();
    });
    return b;
  }

  function load() {
    return WB.api("GET", "/api/auth/personal-tokens").then(function (d) {
      WB.table($("tokens"), [["名称", "name"], ["创建时间", function (t) { return WB.datetime(t.created_at); }],
        ["有效期至", function (t) { return t.expires_at ? WB.datetime(t.expires_at) : "长期有效"; }],
        ["最近使用", function (t) { return t.last_used_at ? WB.datetime(t.last_used_at) : "从未使用"; }],
        ["状态", state], ["操作", revokeButton]], d.tokens, "我的个人访问令牌");
    }).catch(function (err) { WB.say($("page-message"), err.detail, true); });
  }

  $("token-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    WB.clearErrors($("token-form"));
    WB.say($("page-message"), "");
    var name = $("token-name").value.trim();
    if (!name) { WB.fieldError("token-name", "请填写令牌名称"); return; }
    var days = $("token-days").value;
    WB.api("POST", "/api/auth/personal-tokens", { name: name, expires_days: days ? Number(days) : null })
      .then(function (t) {
        $("new-token-value").value = t.token;
        $("copy-status").textContent = "";
        $("new-token").hidden = false;
        $("token-form").reset();
        WB.say($("page-message"), "已新建令牌 " + t.name + "：请立即复制，只显示这一次。");
        $("new-token-value").focus();
        $("new-token-value").select();
        load();
      }).catch(function (err) {
        // Every refusal sits next to a field: the one it names, else the name.
        WB.placeErrors(err, null, { fields: { name: "token-name", expires_days: "token-days" },
                                    fallback: "token-name" });
      });
  });

  // The Clipboard API needs a secure context (https or localhost); elsewhere the text is
  // selected so that Ctrl+C copies it.
  $("copy-token").addEventListener("click", function () {
    var box = $("new-token-value"), status = $("copy-status");
    box.focus(); box.select();
    var done = function () { status.textContent = "已复制到剪贴板"; };
    var manual = function () { status.textContent = "请按 Ctrl+C 复制已选中的令牌"; };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(box.value).then(done, manual);
    else manual();
  });

  $("revoke-cancel").addEventListener("click", function () { $("revoke-dialog").close(); });
  $("revoke-dialog").addEventListener("close", function () { if (opener) opener.focus(); });
  $("revoke-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var t = revoking;
    WB.api("DELETE", "/api/auth/personal-tokens/" + t.id).then(function () {
      opener = null;
      $("revoke-dialog").close();
      load().then(function () {  // the message once the list shows it
        WB.say($("page-message"), "已吊销令牌 " + t.name + "。");
        $("token-name").focus();
      });
    }).catch(function (err) { WB.say($("revoke-error"), err.detail, true); });
  });
  load();
})();
