/* 单位管理 (admin): builders' and pipeline owners' contacts and notification channels
 * (WeCom and DingTalk group robots). A refused field is named next to itself and nothing
 * is stored (the server checks every field before writing). */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var FIELDS = ["contact_person", "phone", "emergency_phone", "email", "address",
                "wecom_webhook_url", "dingtalk_webhook_url"];
  var KIND = {};
  Array.prototype.forEach.call($("kind").options, function (o) { KIND[o.value] = o.textContent; });
  var editing = null;

  function fresh() {
    editing = null;
    $("org-form").reset();
    WB.clearErrors($("org-form"));
    $("org-form-title").textContent = "登记单位";
    $("name").readOnly = false; $("kind").disabled = false;
    $("secret-hint").textContent = "只写不读：留空则不设置";
  }

  function edit(o) {
    fresh();
    editing = o.name;
    $("org-form-title").textContent = "修改单位：" + o.name;
    $("name").value = o.name; $("name").readOnly = true;
    $("kind").value = o.kind; $("kind").disabled = true;  // a registered kind stays
    FIELDS.forEach(function (k) { $(k).value = o[k] || ""; });
    $("secret-hint").textContent = o.has_dingtalk_secret ? "已设置（只写不读）：留空则保持原密钥不变" : "未设置：留空则不设置";
    $("contact_person").focus();
  }

  function editButton(o) {
    var b = WB.el("button", { type: "button", class: "secondary" }, "修改 " + o.name);
    b.addEventListener("click", function () { edit(o); });
    return b;
  }

  // Organisations named by users (builders, pipeline owners) without a row yet: one click
  // starts registering each. Only for a user manager (the list of users is theirs).
  function missing(registered) {
    var box = $("missing");
    return WB.api("GET", "/api/users?limit=1000").then(function (d) {
      var seen = {}, names = {};
      registered.forEach(function (o) { seen[o.name] = true; });
      (d.users || []).forEach(function (u) {
        if (u.organisation && !seen[u.organisation] && KIND[u.role]) names[u.organisation] = u.role;
      });
      box.textContent = "";
      Object.keys(names).sort().forEach(function (name) {
        var b = WB.el("button", { type: "button", class: "secondary" }, "登记 " + name);
        b.addEventListener("click", function () {
          fresh();
          $("name").value = name; $("kind").value = names[name];
          $("contact_person").focus();
        });
        box.appendChild(b);
      });
      $("missing-section").hidden = !box.childNodes.length;
    }).catch(function () { $("missing-section").hidden = true; });
  }

  function load() {
    return WB.api("GET", "/api/organisations").then(function (d) {
      missing(d.organisations);
      WB.table($("orgs"), [["单位名称", "name"], ["类型", function (o) { return KIND[o.kind] || o.kind; }],
        ["联系人", "contact_person"], ["联系电话", "phone"], ["电子邮箱", "email"],
        ["企业微信机器人", "wecom_webhook_url"], ["钉钉机器人", function (o) {
          return (o.dingtalk_webhook_url || "") + (o.has_dingtalk_secret ? "（已设加签密钥）" : ""); }],
        ["更新时间", function (o) { return WB.datetime(o.updated_at); }], ["操作", editButton]],
        d.organisations);
    }).catch(function (err) { WB.say($("page-message"), err.detail, true); });
  }

  $("org-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    WB.clearErrors($("org-form"));
    WB.say($("page-message"), "");
    var name = $("name").value.trim();
    if (!name) { WB.fieldError("name", "请填写单位名称"); return; }
    var body = { kind: $("kind").value };
    FIELDS.forEach(function (k) { body[k] = $(k).value.trim() || null; });
    var secret = $("dingtalk_secret").value.trim();
    if ($("clear_secret").checked) body.dingtalk_secret = null;
    else if (secret) body.dingtalk_secret = secret;
    WB.api("PUT", "/api/organisations/" + encodeURIComponent(name), body).then(function (o) {
      WB.say($("page-message"), (editing ? "已保存单位 " : "已登记单位 ") + o.name + "。");
      fresh();
      load();
    }).catch(function (err) { WB.placeErrors(err, $("page-message")); });
  });
  $("org-new").addEventListener("click", function () { fresh(); $("name").focus(); });
  load();
})();
