/* 记录检查 on a phone: five key items each 符合/不符合, hazards with photos taken on the
 * phone, then the rectification follow-up to closure (已整改 with a photo, 复核通过). */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var id = WB.data.projectId, hazardCount = 0;
  var KEYS = Array.prototype.map.call(document.querySelectorAll("fieldset.key-item input[value=true]"),
                                      function (n) { return n.name; });
  var STATE = { open: "未整改", rectified: "已整改", verified: "已复核" };
  var stage = (location.search.match(/stage=(\d)/) || [])[1];
  if (stage) $("stage").value = stage;
  $("inspected_on").value = new Date(Date.now() + 8 * 3600 * 1000).toISOString().slice(0, 10);
  $("kind").addEventListener("change", function () { $("stage").disabled = $("kind").value !== "spot"; });

  WB.api("GET", "/api/workbench/projects/" + id).then(function (p) {
    var dl = $("facts");
    [["项目编号", p.registration_code], ["项目名称", p.name], ["乡镇", p.township],
     ["建设单位", p.organisation || p.builder]].forEach(function (f) {
      dl.appendChild(WB.el("dt", {}, f[0])); dl.appendChild(WB.el("dd", {}, f[1] || "—"));
    });
  }).catch(function (err) { WB.say($("page-message"), err.detail, true); });

  function field(labelText, input, idSuffix) {
    var box = WB.el("div", { class: "field" });
    input.id = idSuffix;
    box.appendChild(WB.el("label", { for: idSuffix }, labelText));
    box.appendChild(input);
    box.appendChild(WB.el("p", { class: "field-error", id: idSuffix + "-error" }));
    return box;
  }

  $("add-hazard").addEventListener("click", function () {
    var n = ++hazardCount;
    var set = WB.el("fieldset", { class: "hazard", dataset: { n: n } });
    set.appendChild(WB.el("legend", {}, "隐患 " + n));
    set.appendChild(field("隐患描述", WB.el("textarea", { maxlength: 2000 }), "hazard-" + n + "-description"));
    var major = WB.el("input", { type: "checkbox", id: "hazard-" + n + "-major" });
    var majorLabel = WB.el("label", { for: "hazard-" + n + "-major" });
    majorLabel.appendChild(major); majorLabel.appendChild(document.createTextNode(" 重大事故隐患"));
    set.appendChild(majorLabel);
    set.appendChild(field("整改期限", WB.el("input", { type: "date" }), "hazard-" + n + "-deadline"));
    set.appendChild(field("隐患照片", WB.el("input", { type: "file", accept: "image/jpeg,image/png",
                                                    capture: "environment" }), "hazard-" + n + "-photo"));
    $("hazards").appendChild(set);
    $("hazard-" + n + "-description").focus();
  });

  // The API's names for this form's fields: the first hazard's 整改期限 is hazards.0.deadline
  // (the request's path, counted from 0, in a service's refusal and a validation problem
  // alike); key_items.CODE is that item's group, round_or_stage the stage.
  function fieldId(name) {
    var h = /^hazards\.(\d+)\.(\w+)$/.exec(name);
    if (h) {
      var set = document.querySelectorAll("fieldset.hazard")[Number(h[1])];
      return set && "hazard-" + set.dataset.n + "-" + h[2];
    }
    var item = /^key_items\.(\w+)$/.exec(name);
    return item ? item[1] : { round_or_stage: "stage" }[name];
  }

  function upload(inspectionId, file, hazardId) {
    var form = new FormData();
    form.append("file", file);
    if (hazardId) form.append("hazard_id", hazardId);
    return WB.api("POST", "/api/inspections/" + inspectionId + "/evidence", form, true);
  }

  $("inspection-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    WB.clearErrors($("inspection-form"));
    var items = {}, missing = false;
    KEYS.forEach(function (k) {
      var chosen = document.querySelector('input[name="' + k + '"]:checked');
      if (!chosen) { WB.fieldError(k, "请选择符合或不符合"); missing = true; }
      else items[k] = chosen.value === "true";
    });
    if (!$("inspected_on").value) { WB.fieldError("inspected_on", "请填写检查日期"); missing = true; }
    var hazards = [], photos = [];
    document.querySelectorAll("fieldset.hazard").forEach(function (set) {
      var n = set.dataset.n, text = $("hazard-" + n + "-description").value.trim();
      if (!text) { WB.fieldError("hazard-" + n + "-description", "请填写隐患描述"); missing = true; return; }
      hazards.push({ description: text, major: $("hazard-" + n + "-major").checked,
                     deadline: $("hazard-" + n + "-deadline").value || null });
      photos.push($("hazard-" + n + "-photo").files[0] || null);
    });
    if (missing) { WB.say($("form-message"), "表单有误，未保存；请按提示修改。", true); return; }
    var kind = $("kind").value;
    var body = { kind: kind, round_or_stage: kind === "spot" ? Number($("stage").value) : null,
                 inspected_on: $("inspected_on").value, organisation: $("organisation").value.trim() || null,
                 findings: $("findings").value.trim() || null, hazards: hazards, key_items: items };
    $("save").disabled = true;
    WB.say($("form-message"), "正在保存…");
    WB.api("POST", "/api/workbench/projects/" + id + "/inspections", body).then(function (saved) {
      var uploads = [];
      if ($("site_photo").files[0]) uploads.push(upload(saved.id, $("site_photo").files[0]));
      (saved.hazards || []).forEach(function (h, i) { if (photos[i]) uploads.push(upload(saved.id, photos[i], h.id)); });
      return Promise.all(uploads).then(function () {
        WB.say($("form-message"), "检查记录已保存（" + hazards.length + " 项隐患，" + uploads.length + " 张照片）。");
        $("inspection-form").reset(); $("hazards").textContent = ""; hazardCount = 0;
        $("inspected_on").value = body.inspected_on;
        $("save").disabled = false;
        return loadFollow();
      });
    }).catch(function (err) {
      $("save").disabled = false;
      WB.placeErrors(err, $("form-message"), { fields: fieldId });
    });
  });

  function loadFollow() {
    return WB.api("GET", "/api/workbench/projects/" + id + "/inspections").then(function (d) {
      var box = $("follow"); box.textContent = "";
      var hazards = [];
      d.inspections.forEach(function (i) { (i.hazards || []).forEach(function (h) { h.inspection = i; hazards.push(h); }); });
      if (!d.inspections.length) box.appendChild(WB.el("p", {}, "暂无检查记录。"));
      d.inspections.forEach(function (i) {
        var card = WB.el("section", { class: "card", "aria-label": "检查 " + i.inspected_on });
        card.appendChild(WB.el("h3", {}, i.inspected_on + " " + (i.kind_zh || i.kind) + (i.round_or_stage ? " 第 " + i.round_or_stage + " 阶段" : "")));
        var ul = WB.el("ul");
        (i.key_items || []).forEach(function (k) { ul.appendChild(WB.el("li", {}, k.item_zh + "：" + (k.compliant ? "符合" : "不符合"))); });
        card.appendChild(ul);
        if (i.evidence && i.evidence.length) card.appendChild(WB.el("p", {}, "照片与证据 " + i.evidence.length + " 份"));
        (i.hazards || []).forEach(function (h) { card.appendChild(hazardBlock(i, h)); });
        box.appendChild(card);
      });
    });
  }

  function hazardBlock(inspection, h) {
    var block = WB.el("div", { class: "card", "aria-label": "隐患 " + h.id });
    block.appendChild(WB.el("p", {}, (h.major ? "【重大事故隐患】" : "") + h.description));
    block.appendChild(WB.el("p", {}, "整改状态：" + (STATE[h.rectification_state] || h.rectification_state) +
      (h.deadline ? "，期限 " + h.deadline : "")));
    if (h.rectification_state === "verified") return block;
    var fileId = "rectify-photo-" + h.id, input = WB.el("input", { type: "file", accept: "image/jpeg,image/png", capture: "environment" });
    block.appendChild(field("整改照片", input, fileId));
    var bar = WB.el("div", { class: "toolbar" }), msg = WB.el("p", { class: "message", role: "status" });
    var send = WB.el("button", { type: "button", class: "secondary" }, "上传整改照片");
    send.addEventListener("click", function () {
      WB.clearErrors(block);
      if (!input.files[0]) { WB.fieldError(fileId, "请先选择或拍摄照片"); return; }
      upload(inspection.id, input.files[0], h.id).then(function () { WB.say(msg, "照片已上传。"); })
        .catch(function (err) { WB.say(msg, err.detail, true); });
    });
    bar.appendChild(send);
    (h.allowed_next || []).forEach(function (next) {
      var b = WB.el("button", { type: "button" }, next === "rectified" ? "标记已整改" : "复核通过");
      b.addEventListener("click", function () {
        WB.api("POST", "/api/hazards/" + h.id + "/rectification", { state: next }).then(loadFollow)
          .catch(function (err) { WB.say(msg, err.detail, true); });
      });
      bar.appendChild(b);
    });
    block.appendChild(bar); block.appendChild(msg);
    return block;
  }

  loadFollow().catch(function (err) { WB.say($("page-message"), err.detail, true); });
})();
