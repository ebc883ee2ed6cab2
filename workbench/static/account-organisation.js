/* 本单位: a builder's or pipeline owner's own organisation (contacts, WeCom and DingTalk
 * robots). The name comes from the account, so no other organisation can be asked for;
 * the server checks every field before writing and a refused field is named next to itself. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var FIELDS = ["contact_person", "phone", "emergency_phone", "email", "address",
                "wecom_webhook_url", "dingtalk_webhook_url"];
  var NAME = WB.data.orgName, KIND = WB.data.orgKind;

  function show(o) {
    FIELDS.forEach(function (k) { $(k).value = (o && o[k]) || ""; });
    $("dingtalk_secret").value = ""; $("clear_secret").checked = false;
    $("secret-hint").textContent = o && o.has_dingtalk_secret
      ? "已设置（只写不读）：留空则保持原密钥不变" : "未设置：留空则不设置";
    $("org-updated").textContent = o && o.updated_at ? "最近更新：" + WB.datetime(o.updated_at) : "尚未登记：保存后即登记本单位。";
  }

  function load() {
    return WB.api("GET", "/api/organisations").then(function (d) {
      show((d.organisations || []).filter(function (o) { return o.name === NAME; })[0] || null);
    }).catch(function (err) { WB.say($("page-message"), err.detail, true); });
  }

  $("org-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    WB.clearErrors($("org-form"));
    WB.say($("page-message"), "");
    var body = { kind: KIND };
    FIELDS.forEach(function (k) { body[k] = $(k).value.trim() || null; });
    var secret = $("dingtalk_secret").value.trim();
    if ($("clear_secret").checked) body.dingtalk_secret = null;
    else if (secret) body.dingtalk_secret = secret;
    WB.api("PUT", "/api/organisations/" + encodeURIComponent(NAME), body).then(function (o) {
      show(o);
      WB.say($("page-message"), "已保存本单位信息。");
    }).catch(function (err) { WB.placeErrors(err, $("page-message")); });
  });
  load();
})();
