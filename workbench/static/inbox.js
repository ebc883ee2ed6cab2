/* The header's 通知 link shows how many notifications are unread (every signed-in page). */
(function () {
  "use strict";
  var badge = document.getElementById("wb-unread");
  if (!badge || !window.WB) return;

  function show(unread) {
    badge.textContent = unread ? "（" + unread + " 条未读）" : "";
    badge.classList.toggle("has-unread", !!unread);
  }

  function refresh() {
    return WB.api("GET", "/api/notifications?unread=true&limit=1").then(function (d) { show(d.unread); })
      .catch(function () { show(0); });  // a page without an inbox grant: no count
  }

  window.WBInbox = { show: show, refresh: refresh };
  refresh();
})();
