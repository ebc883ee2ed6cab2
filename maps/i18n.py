"""The one catalogue of user-facing Chinese strings of the map pages (legends, pop-ups, panels).

The words of the field's concepts (permit states, zones, pressure classes, project kinds
and statuses, inspection kinds) come from the shared ``vocabulary``; the strings here are
the pages' own (titles, controls, pop-up field names).
"""

from __future__ import annotations

from vocabulary import InspectionKind, PermitState, PressureClass, Zone, project_permit_labels

# Page titles and navigation.
TITLE = {
    "dashboard": "燃气管道保护概览",
    "permits": "保护手续办理情况",
    "supervision": "燃气工程纳入监管情况",
    "inspections": "检查与抽查覆盖情况",
}
DISTRICT = "崇明区"
NAV_BACK = "返回概览"

# Layer names (layer control).
LAYER = {
    "district": "区界",
    "townships": "乡镇界",
    "pipelines": "燃气管道（按压力级制）",
    "protection": Zone.PROTECTION.label,
    "control": Zone.CONTROL.label,
    "projects_permits": "施工项目（按保护手续状态）",
    "projects_supervision": "在建燃气工程（按监管状态）",
    "projects_inspections": "在建项目（按检查状态）",
    "choropleth": "乡镇监管覆盖率",
    "base": "底图",
}

# Legend titles and entries.
LEGEND_TITLE = {
    "pipelines": "燃气管道压力级制",
    "ranges": "保护与控制范围",
    "permits": "项目保护手续状态",
    "supervision": "燃气工程监管状态",
    "choropleth": "乡镇监管覆盖率",
    "inspections": "项目检查状态",
}
PRESSURE_ZH: dict[str, str] = PressureClass.labels()
ZONE_ZH: dict[str, str] = Zone.labels()
# A project on the permits map: the worst permit state of its open conflicts, or none.
PERMIT_STATE_ZH: dict[str, str] = project_permit_labels()
PERMIT_STATUS_ZH: dict[str, str] = PermitState.labels()
NEW_ALERT = "有新告警（加粗红色虚线框）"
SUPERVISION_STATE_ZH = {
    "supervised": "已纳入监管",
    "not_supervised": "未纳入监管",
    "unknown": "监管状态未填报",
}
CHOROPLETH_CLASS_ZH = ("无在建燃气工程", "< 50%", "50%–80%", "80%–< 100%", "100%")
INSPECTION_STATE_ZH = {
    "spot_3": "已区级抽查（第3阶段）",
    "spot_2": "已区级抽查（第2阶段）",
    "spot_1": "已区级抽查（第1阶段）",
    "spot_planned": "已抽中、待抽查",
    "third_party": "已完成第三方检查",
    "self_2": "已完成两轮自查",
    "self_1": "已完成第一轮自查",
    "not_covered": "尚未覆盖",
}
INSPECTION_KIND_ZH: dict[str, str] = InspectionKind.labels()

# Controls.
TOWNSHIP_FILTER = "乡镇"
TOWNSHIP_ALL = "全部乡镇"
SEARCH_PLACEHOLDER = "按项目编号或名称搜索"
SEARCH_NONE = "未找到匹配的项目"
LOADING = "加载中……"
SHOWN = "已显示 {n} 个要素"
TRUNCATED = "（数据过多，仅显示一部分，请放大地图）"
ZOOM_IN_FOR = "放大至第 {z} 级以上显示{what}"
LOGIN_TITLE = "登录后查看地图数据"
LOGIN_USER = "用户名"
LOGIN_PASSWORD = "密码"
LOGIN_SUBMIT = "登录"
LOGIN_FAILED = "登录失败：用户名或密码错误"
LOGOUT = "退出登录"
FORBIDDEN = "当前角色无权查看地图数据（仅燃气管理所与检查人员可查看）"
LOAD_FAILED = "数据加载失败，请稍后重试"

# Pop-up labels.
POPUP = {
    "code": "项目编号",
    "name": "项目名称",
    "builder": "建设单位",
    "organisation": "所属单位",
    "contractor": "施工单位",
    "supervisor": "监理单位",
    "township": "乡镇",
    "kind": "项目类型",
    "status": "项目状态",
    "conflicts": "冲突管道",
    "pipeline": "管道编号",
    "pressure": "压力级制",
    "zone": "所在范围",
    "distance": "距管壁（米）",
    "permit": "保护手续",
    "rule_set": "规则集版本",
    "prohibited": "禁止的作业",
    "plan_required": "须商定保护方案的作业",
    "history": "手续办理记录",
    "no_conflict": "未进入任何燃气管道保护或控制范围",
    "no_history": "暂无办理记录",
    "new_alerts": "未处理的新告警",
    "under_supervision": "纳入监管",
    "supervised_since": "纳入监管日期",
    "yes": "是",
    "no": "否",
    "unknown": "未填报",
    "inspections": "检查记录",
    "no_inspections": "本年度暂无检查记录",
    "spot_picks": "区级抽查抽中",
    "stage": "第{n}阶段",
    "round": "第{n}轮",
    "date": "日期",
    "by": "操作人",
    "change": "变更",
    "note": "备注",
}

# Panels and the dashboard.
COVERAGE_TITLE = "{year} 年区级抽查覆盖率（每阶段不少于 {quota:.0%}）"
COVERAGE_HEAD = ("阶段", "应抽查对象", "应抽数量", "已抽中", "已抽查", "抽查率", "是否达标")
COVERAGE_MET = "达标"
COVERAGE_TOGGLE = "抽查覆盖情况"  # the button that folds and unfolds the coverage panel
LEGEND_TOGGLE = "图例"  # ... and the legend
COVERAGE_NOT_MET = "未达标"
COVERAGE_SELF = "自查：第一轮完成 {r1} 个，第二轮完成 {r2} 个（在建项目 {n} 个）"
COVERAGE_THIRD = "第三方检查：已完成 {done} 个 / 投保项目 {insured} 个"
COVERAGE_ALL = "全年累计抽查覆盖：{covered} / {n} 个在建项目（{rate}）"
CHOROPLETH_LABEL = "{name}：已纳入监管 {supervised} / {total} 个（{rate}）"
CHOROPLETH_EMPTY = "{name}：无在建燃气工程"
SUMMARY = {
    "pipelines": "燃气管道长度（按压力级制）",
    "pressure": "压力级制",
    "segments": "管段数",
    "km": "长度（公里）",
    "total": "合计",
    "projects": "施工项目",
    "project_status": "项目状态",
    "count": "数量",
    "conflicts": "未关闭的冲突（按范围）",
    "zone": "范围",
    "projects_affected": "涉及项目",
    "permits": "保护手续（按状态）",
    "permit_status": "手续状态",
    "alerts_new": "待处理新告警",
    "maps": "地图",
}
