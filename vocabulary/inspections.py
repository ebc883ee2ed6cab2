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
