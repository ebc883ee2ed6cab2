"""The database summary printed by ``gisapp quickstart`` and ``gisapp summary``.

The figures come from ``layers.services.summary``; this module words them.
"""

from __future__ import annotations

from vocabulary import PressureClass, ProjectKind, ProjectStatus


def format_summary(summary: dict) -> str:
    """Render the summary as Chinese text for the terminal."""
    lines = ["== 数据概况 =="]
    pipes = summary["pipelines"]
    total_n = sum(n for n, _ in pipes.values())
    total_km = sum(km for _, km in pipes.values())
    lines.append(f"燃气管道：{total_n} 段，共 {total_km:.1f} km")
    for cls in PressureClass:
        if cls.value in pipes:
            n, km = pipes[cls.value]
            lines.append(f"  {cls.label:<6} {n:>7} 段 {km:>9.1f} km")
    projects = summary["projects"]
    lines.append(f"施工项目：{sum(projects.values())} 个")
    for kind in ProjectKind:
        by_status = [
            f"{s.label} {projects.get((kind.value, s.value), 0)}" for s in ProjectStatus
        ]
        total = sum(projects.get((kind.value, s.value), 0) for s in ProjectStatus)
        lines.append(f"  {kind.label} {total}（{'，'.join(by_status)}）")
    lines.append(f"乡镇：{summary['townships']} 个")
    return "\n".join(lines)
