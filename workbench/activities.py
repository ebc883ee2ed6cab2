"""Planned construction activities (issue #13's codes) with their Chinese names.

Shown on the new-project form until the rules package publishes the same list; the
codes are the ones a site file's ``activities`` column takes.
"""

from __future__ import annotations

ACTIVITIES: tuple[tuple[str, str], ...] = (
    ("structure", "修建建筑物、构筑物（占压管道）"),
    ("blasting", "爆破"),
    ("open_flame", "明火作业"),
    ("earth_borrowing", "取土"),
    ("corrosive_discharge", "倾倒、排放腐蚀性物质"),
    ("dangerous_goods", "堆放易燃易爆危险物品"),
    ("deep_rooted_planting", "种植深根植物"),
    ("anchoring", "抛锚、拖锚"),
    ("dredging", "掏沙、挖泥"),
    ("stacking", "堆放物品"),
    ("piling", "打桩"),
    ("jacking", "顶进"),
    ("excavation", "开挖"),
    ("drilling", "钻探"),
    ("pipe_laying", "敷设管道"),
)
