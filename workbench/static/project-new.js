/* 新建项目: the site drawn, pasted or uploaded; a live preview screens it without storing
 * anything (POST /api/projects/preview); 提交 stores it (POST /api/projects) and opens the
 * project's answer page. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var map = WBMap.create("map");
  WBMap.legend(map);
  var answer = null, site = null, seq = 0, timer = null;
  var status = $("preview-status"), list = $("preview-list"), message = $("form-message");
  // Read by the page tests: finished previews and the last answer's conflict count.
  window.WBPreview = { done: 0, conflicts: null, error: null };

  var draw = WBDraw.attach(map, {
    onChange: function (geometry) { if (geometry) schedule({ site: geometry }, "site"); else showSite(null); },
    // The map is the site's source: an open outline is previewed but cannot be submitted.
    onDrag: function (geometry) { if (geometry) schedule({ site: geometry }, "site", 150); },
    onState: function (state) {
      $("draw-finish").disabled = state !== "drawing";
      WB.say(status, state === "drawing" ? "在地图上依次点击场地的顶点，至少 3 个，然后点击“完成绘制”。" : status.textContent);
    }
  });

  $("draw-start").addEventListener("click", function () { clearSiteErrors(); draw.start(); });
  $("draw-finish").addEventListener("click", function () {
    if (!draw.finish()) WB.fieldError("site", "至少需要 3 个顶点才能闭合场地");
  });
  $("draw-clear").addEventListener("click", function () { draw.clear(); showSite(null); clearSiteErrors(); });
  $("paste-preview").addEventListener("click", function () {
    run({ site_text: $("site_text").value, crs: $("crs").value }, "site_text");
  });
  $("site_file").addEventListener("change", function () {
    var file = $("site_file").files[0];
    if (!file) return;
    var form = new FormData();
    form.append("file", file);
    form.append("crs", "auto");
    run(form, "site_file", true);
  });

  function clearSiteErrors() {
    WB.clearErrors($("site-source"));
    draw.markCrossing(null);
  }

  function schedule(body, source, wait) {
    clearTimeout(timer);
    timer = setTimeout(function () { run(body, source); }, wait || 60);
  }

  // One preview at a time matters: an older answer arriving late is dropped.
  function run(body, source, isForm) {
    var mine = ++seq;
    // The planned activities decide what applies, as in the stored project's screening.
    var acts = checkedActivities();
    if (isForm) { body.set("activities", acts.join(",")); } else { body.activities = acts; }
    clearSiteErrors();
    WB.say(status, "正在筛查…");
    var url = isForm ? "/api/projects/preview/file" : "/api/projects/preview";
    return WB.api("POST", url, body, isForm).then(function (data) {
      if (mine !== seq) return;
      site = data.site;
      if (source !== "site") draw.setPolygon(data.site);
      showAnswer(data);
      window.WBPreview.done++;
      window.WBPreview.conflicts = data.conflicts.length;
      window.WBPreview.error = null;
    }).catch(function (err) {
      if (mine !== seq) return;
      site = null;
      showAnswer(null);
      (err.problems || []).forEach(function (p) { if (p.location) draw.markCrossing(p.location); });
      // The problems name the pasted lines or the file's rows; what names no field on the
      // page goes under the site's source.
      WB.placeErrors(err, null, { fields: { site: source, geometry: source, crs: source }, fallback: source, rows: true });
      WB.say(status, "场地有误，未筛查：" + err.detail, true);
      window.WBPreview.done++;
      window.WBPreview.error = err.detail;
    });
  }

  function showSite(geometry) { if (!geometry) { site = null; showAnswer(null); } }

  function showAnswer(data) {
    if (answer) { map.removeLayer(answer); answer = null; }
    list.textContent = "";
    if (!data) return;
    answer = WBMap.answerLayer(data.features).addTo(map);
    var n = data.conflicts.length;
    WB.say(status, n ? "场地进入 " + n + " 条燃气管道的保护或控制范围（预览，尚未保存）。"
                     : "场地未进入任何燃气管道的保护或控制范围（预览，尚未保存）。");
    WB.table(list, [
      ["管道", "pipeline_code"], ["权属单位", "owner"],
      ["压力级制", function (c) { return WB.PRESSURE[c.pressure_class] || c.pressure_class; }],
      ["所在范围", function (c) { return WB.zoneCell(c.zone); }],
      ["距管壁（米）", function (c) { return c.distance_m.toFixed(2); }],
      ["须办事项", "required_action"], ["依据", "rule_set"]
    ], data.conflicts);
  }

  function checkedActivities() {
    return Array.prototype.map.call(document.querySelectorAll('input[name="activities"]:checked'),
                                    function (n) { return n.value; });
  }

  // Another choice of activities changes what applies: the shown site is screened again.
  $("activities").addEventListener("change", function () { if (site) schedule({ site: site }, "site"); });

  $("project-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    WB.clearErrors($("project-form"));
    WB.say(message, "");
    var v = function (id) { return $(id).value.trim(); };
    var missing = false;
    [["registration_code", "请填写项目编号"], ["name", "请填写项目名称"], ["kind", "请选择项目类型"]].forEach(function (f) {
      if (!v(f[0])) { WB.fieldError(f[0], f[1]); missing = true; }
    });
    if (v("start_date") && v("planned_completion_date") && v("planned_completion_date") < v("start_date")) {
      WB.fieldError("planned_completion_date", "计划竣工日期不能早于计划开工日期"); missing = true;
    }
    if (draw.vertexCount() && !draw.isClosed()) {
      WB.fieldError("site", "请点击“完成绘制”闭合场地"); missing = true;
    } else if (!site) { WB.fieldError("site", "请先绘制、粘贴或上传场地（场地须通过筛查预览）"); missing = true; }
    if (missing) { WB.say(message, "表单有误，未保存；请按提示修改。", true); return; }
    var props = { id: v("registration_code"), name: v("name"), kind: v("kind"), status: v("status") };
    ["start_date", "planned_completion_date", "contractor"].forEach(function (k) { if (v(k)) props[k] = v(k); });
    var acts = checkedActivities();
    if (acts.length) props.activities = acts;
    $("submit").disabled = true;
    WB.say(message, "正在提交…");
    WB.api("POST", "/api/projects", { type: "Feature", properties: props, geometry: site })
      .then(function (created) {
        var base = WB.data.role === "builder" ? "/builder/projects/" : "/office/projects/";
        location.href = base + created.id + "?new=1";
      })
      .catch(function (err) {
        $("submit").disabled = false;
        // The feature's "id" is the page's 项目编号; its geometry, the site.
        if (!WB.placeErrors(err, message, { fields: { id: "registration_code", geometry: "site" } })) {
          WB.say(message, "未保存：" + err.detail, true);
        }
      });
  });
})();
