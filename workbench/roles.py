"""Where each role starts and what its menu offers (Chinese labels)."""

from __future__ import annotations

HOME = {
    "builder": "/builder/",
    "gas_office": "/office/",
    "inspector": "/inspector/",
    "admin": "/admin/users",
    "utility": "/owner/",
}

MENU = {
    "utility": (("/owner/", "管道冲突"), ("/owner/supervision", "现场监护"),
                ("/owner/damage-reports", "损坏报告")),
    "builder": (("/builder/", "我的项目"), ("/builder/projects/new", "新建项目")),
    "gas_office": (("/office/", "待办"), ("/office/alerts", "告警"), ("/office/projects", "项目"),
                   ("/office/conflicts", "冲突"), ("/office/permits", "保护手续"),
                   ("/office/campaign", "专项检查"), ("/maps/", "地图")),
    "inspector": (("/inspector/", "今日检查"), ("/maps/inspections", "检查地图")),
    "admin": (("/admin/users", "用户管理"), ("/admin/organisations", "单位管理")),
}


def home_of(role: str) -> str:
    """Return the start page of a role (the login page for an unknown one)."""
    return HOME.get(role, "/")
