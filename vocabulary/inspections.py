"""The inspection campaign: who inspected, and the rectification state of a problem found."""

from __future__ import annotations

from vocabulary.labelled import LabelledEnum


class InspectionKind(LabelledEnum):
    """Who inspected: the project team, a third party (insurer) or the district."""

    SELF = "self", "自查"
    THIRD_PARTY = "third_party", "第三方检查"
    SPOT = "spot", "区级抽查"


class HazardState(LabelledEnum):
    """Closed-loop rectification (闭环整改) state of a problem found on site."""

    OPEN = "open", "未整改"
    RECTIFIED = "rectified", "已整改待复核"
    VERIFIED = "verified", "已复核销项"


def hazard_position(index: int) -> str:
    """Return how a message names the hazard at 0-based ``index`` of a list: 第 1 条隐患.

    Users count from 1; the machine-readable field of the same hazard keeps the request's
    0-based path (``hazards.0.deadline``), as every validation problem of the API does.
    """
    return f"第 {index + 1} 条隐患"
