/* 通知: the user's inbox, newest first; unread ones stand out and can be marked read one by
 * one or all at once. A notification about a project links to the role's project page. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var PAGE = 50, shown = PAGE;
  var projectPage = WB.data.projectPage || "";

  function markRead(ids) {
    return WB.api("POST", "/api/notifications/read", ids ? { ids: ids } : {}).then(function (r) {
      WB.say($("page-message"), r.marked ? "已将 " + r.marked + " 条通知标为已读。" : "没有未读通知。");
      if (window.WBInbox) window.WBInbox.show(r.unread);
      return load();
    }).catch(function (err) { WB.say($("page-message"), err.detail, true); });
  }

  function item(n) {
    var li = WB.el("li", { class: "card" + (n.read_at ? "" : " unread") });
    var head = WB.el("h2", { class: "inbox-title" }, (n.read_at ? "" : "【未读】") + n.title);
    li.appendChild(head);
    li.appendChild(WB.el("p", { class: "hint" }, n.event_zh + " · " + WB.datetime(n.created_at) +
                                                 (n.read_at ? " · 已读于 " + WB.datetime(n.read_at) : "")));
    li.appendChild(WB.el("p", { class: "inbox-body" }, n.body));
    var bar = WB.el("div", { class: "toolbar" });
    if (n.project_id && projectPage) bar.appendChild(WB.link(projectPage + n.project_id, "查看项目"));
    if (!n.read_at) {
      var b = WB.el("button", { type: "button", class: "secondary" }, "标为已读");
      b.addEventListener("click", function () { markRead([n.id]); });
      bar.appendChild(b);
    }
    if (bar.childNodes.length) li.appendChild(bar);
    return li;
  }

  function load() {
    var url = "/api/notifications?limit=" + shown + ($("only-unread").checked ? "&unread=true" : "");
    return WB.api("GET", url).then(function (d) {
      var list = $("notifications"); list.textContent = "";
      $("inbox-summary").textContent = d.unread ? "共有 " + d.unread + " 条未读通知。" : "没有未读通知。";
      if (!d.notifications.length) list.appendChild(WB.el("li", {}, "暂无通知。"));
      d.notifications.forEach(function (n) { list.appendChild(item(n)); });
      $("more").hidden = d.numberReturned < shown || shown >= 500;
      $("read-all").disabled = !d.unread;
      if (window.WBInbox) window.WBInbox.show(d.unread);
    }).catch(function (err) { WB.say($("page-message"), err.detail, true); });
  }

  $("only-unread").addEventListener("change", load);
  $("read-all").addEventListener("click", function () { markRead(null); });
  $("more").addEventListener("click", function () { shown = Math.min(500, shown + PAGE); load(); });
  load();
})();
