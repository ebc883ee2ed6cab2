/* Helpers of the procedure pages (pipeline owner, gas office): file checks before upload,
 * document links, deadlines in working days (errors next to their field: WB.placeErrors).
 * Text is always inserted as text. */
(function () {
  "use strict";
  var MAX_FILES = 10, MAX_BYTES = 20 * 1024 * 1024;
  var TYPES = { "application/pdf": 1, "image/jpeg": 1, "image/png": 1 };
  var SUFFIX = /\.(pdf|jpe?g|png)$/i;

  // The browser's own check of chosen files (the server checks the content again).
  function checkFiles(input) {
    var files = Array.prototype.slice.call(input.files || []);
    if (files.length > MAX_FILES) return "一次最多上传 " + MAX_FILES + " 个文件（选择了 " + files.length + " 个）";
    for (var i = 0; i < files.length; i++) {
      var f = files[i];
      if (!f.size) return "文件 " + f.name + " 为空";
      if (f.size > MAX_BYTES) return "文件 " + f.name + " 超过 20 MB";
      if (!TYPES[f.type] && !SUFFIX.test(f.name)) return "文件 " + f.name + " 不是 PDF、JPEG 或 PNG";
    }
    return "";
  }

  function documents(container, docs, caption) {
    container.textContent = "";
    if (!docs || !docs.length) return;
    var list = WB.el("ul", { "aria-label": caption || "附件" });
    docs.forEach(function (d) {
      var li = WB.el("li");
      li.appendChild(WB.link("/api/documents/" + d.id, d.filename));
      li.appendChild(document.createTextNode("（" + Math.max(1, Math.round(d.size_bytes / 1024)) + " KB，" +
                                             WB.datetime(d.uploaded_at) + " " + (d.uploaded_by || "") + "）"));
      list.appendChild(li);
    });
    container.appendChild(list);
  }

  // The review deadline: the date and the working days left or past it.
  function deadline(r) {
    if (!r.due_on) return document.createTextNode("—");
    var span = WB.el("span", {}, WB.date(r.due_on));
    if (r.decision) return span;
    var left = r.working_days_left;
    if (r.overdue) {
      span.className = "overdue";
      span.textContent += "（已逾期" + (left ? " " + (-left) + " 个工作日" : "") + "）";
    } else if (left !== null && left !== undefined) {
      span.textContent += left === 0 ? "（今天到期）" : "（剩 " + left + " 个工作日）";
    }
    return span;
  }

  function reviewState(r) {
    if (r.decision) return WB.el("span", {}, "已答复：" + (r.decision_zh || r.decision));
    return r.overdue ? WB.el("span", { class: "overdue" }, "逾期未答复") : WB.el("span", {}, "待答复");
  }

  function hours(seconds) {
    if (seconds === null || seconds === undefined) return "";
    var minutes = Math.round(seconds / 60);
    return minutes < 120 ? minutes + " 分钟" : (minutes / 60).toFixed(1) + " 小时";
  }

  // A <input type="datetime-local"> value read as Shanghai time, as the server reads it.
  function localMoment(value) { return value ? value + ":00+08:00" : ""; }

  window.OWN = { checkFiles: checkFiles, documents: documents, deadline: deadline,
                 reviewState: reviewState, hours: hours, localMoment: localMoment };
})();
