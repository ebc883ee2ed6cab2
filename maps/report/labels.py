"""The report's Chinese strings and colours in one place (legends, headings, table columns).

The words of the field's concepts come from the shared ``vocabulary``, as on the map pages.
"""

from __future__ import annotations

from vocabulary import PermitState, PressureClass, Zone, project_permit_labels

TITLE_SUFFIX = "燃气管道保护月度地图报告"


def area_name(district: str | None = None) -> str:
    """Return the name of the report's area: ``district``'s (an adcode), else the served jurisdiction's."""
    from layers.district import district_name
    from layers.jurisdictions import jurisdiction

    return jurisdiction(district).name if district else district_name()


def whole_area(district: str | None = None) -> str:
    """Return the word for the report's whole area: 全市 for the city, 全区 for a district."""
    from layers.district import deployment
    from layers.jurisdictions import CITY_CODE

    return "全市" if (district or deployment().code) == CITY_CODE else "全区"


def report_title(district: str | None = None) -> str:
    """Return the report's title for ``district`` (a district user's), else the served jurisdiction.

    A district office of a whole-city deployment reports on its district (崇明区燃气管道
    保护月度地图报告), the city office on the city (上海市...).
    """
    return area_name(district) + TITLE_SUFFIX


TITLE = "崇明区" + TITLE_SUFFIX  # the default deployment's
SYNTHETIC_NOTE = "乡镇边界为合成示意数据，非官方行政区划。"

ZONE_ZH: dict[str, str] = Zone.labels()
PERMIT_STATUS_ZH: dict[str, str] = PermitState.labels()
# Project states on the maps (worst first, no conflict last), with their fill colours.
PROJECT_STATE_ZH: dict[str, str] = project_permit_labels()
PROJECT_STATE_COLOUR = {
    "not_started": "#d62728",
    "rejected": "#9b1fa8",
    "expired": "#8c564b",
    "applied": "#ff9f1c",
    "not_required": "#1f77b4",
    "approved": "#2ca02c",
    "no_conflict": "#b0b0b0",
}
# Outline of a conflict site: the most severe zone it reaches.
ZONE_COLOUR = {"protection": "#7a0010", "control": "#e6b800"}

# Pipeline groups drawn on the maps, highest pressure first.
PIPE_GROUPS = {
    "high": (PressureClass.ULTRA_HIGH, PressureClass.HIGH_A, PressureClass.HIGH_B),
    "subhigh": (PressureClass.SUBHIGH_A, PressureClass.SUBHIGH_B),
    "medium": (PressureClass.MEDIUM_A, PressureClass.MEDIUM_B),
    "low": (PressureClass.LOW,),
}
PIPE_GROUP_ZH = {"high": "高压及以上", "subhigh": "次高压", "medium": "中压", "low": "低压"}
PIPE_GROUP_STYLE = {  # colour, line width in points (static maps) / pixels (SVG)
    "high": ("#c0392b", 1.6),
    "subhigh": ("#e67e22", 1.2),
    "medium": ("#2e86c1", 0.7),
    "low": ("#7f8c8d", 0.5),
}
PIPE_GROUP_OF = {cls.value: group for group, classes in PIPE_GROUPS.items() for cls in classes}
PRESSURE_ZH: dict[str, str] = PressureClass.labels()

BAND_COLOUR = {"protection": "#d62728", "control": "#ffcc00"}

# Table names: file stem -> Chinese title (CSV file names, XLSX sheets, headings).
TABLE_TITLES = {
    "summary": "概况",
    "conflicts_by_township": "冲突按范围和乡镇统计",
    "permit_status": "保护手续办理状态",
    "supervision_coverage": "燃气工程纳入监管情况",
    "inspection_progress": "检查进度（对照治理行动时间节点）",
    "spot_check_stages": "区级抽查分阶段进度",
    "conflict_list": "冲突清单",
}
SHEET_TITLES = {
    "summary": "概况",
    "conflicts_by_township": "冲突按范围和乡镇",
    "permit_status": "保护手续办理状态",
    "supervision_coverage": "纳入监管情况",
    "inspection_progress": "检查进度",
    "spot_check_stages": "区级抽查分阶段",
    "conflict_list": "冲突清单",
}
MAP_HEADING = "全区地图"
CONFLICT_MAPS_HEADING = "冲突点位图"
TOTAL = "合计"
