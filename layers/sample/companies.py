"""Synthetic but plausible names of builders, contractors and supervising engineers.

The names are composed from Chongming place words; any likeness to a real company is
accidental. Gas utilities use the owners of the sample pipelines.
"""

from __future__ import annotations

import numpy as np

PLACE_WORDS = (
    "瀛洲",
    "东滩",
    "明珠湖",
    "西沙",
    "北湖",
    "长江口",
    "三岛",
    "翠竹",
    "金鳌",
    "寿安",
    "鳌山",
    "堡港",
    "南门",
    "北沿",
    "陈海",
)
BUILDER_TRADES = (
    "置业有限公司",
    "城市建设投资有限公司",
    "水务工程有限公司",
    "交通建设发展有限公司",
    "乡村振兴发展有限公司",
    "生态旅游开发有限公司",
)
CONTRACTOR_TRADES = (
    "建设工程有限公司",
    "建筑安装工程有限公司",
    "市政工程有限公司",
    "路桥建设有限公司",
)
GAS_CONTRACTOR_TRADES = ("燃气工程有限公司", "燃气设备安装有限公司", "管道工程有限公司")
SUPERVISOR_TRADES = ("工程监理有限公司", "建设工程咨询有限公司", "工程项目管理有限公司")


def company_pools(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Return name pools (object arrays) for builder, contractor, gas_contractor, supervisor."""
    sizes = {"builder": 24, "contractor": 20, "gas_contractor": 8, "supervisor": 10}
    trades = {
        "builder": BUILDER_TRADES,
        "contractor": CONTRACTOR_TRADES,
        "gas_contractor": GAS_CONTRACTOR_TRADES,
        "supervisor": SUPERVISOR_TRADES,
    }
    pools = {}
    for role, size in sizes.items():
        every = [f"上海{p}{t}" for p in PLACE_WORDS for t in trades[role]]
        pick = rng.choice(len(every), size=min(size, len(every)), replace=False)
        pools[role] = np.array([every[i] for i in sorted(pick)], dtype=object)
    return pools
