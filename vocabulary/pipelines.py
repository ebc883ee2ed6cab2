"""Gas pipelines: pressure classes (GB 50028 / GB 55009) and operating status."""

from __future__ import annotations

from vocabulary.labelled import LabelledEnum


class PressureClass(LabelledEnum):
    """The eight pressure classes (压力级制), lowest first."""

    LOW = "low", "低压"
    MEDIUM_B = "medium_b", "中压B"
    MEDIUM_A = "medium_a", "中压A"
    SUBHIGH_B = "subhigh_b", "次高压B"
    SUBHIGH_A = "subhigh_a", "次高压A"
    HIGH_B = "high_b", "高压B"
    HIGH_A = "high_a", "高压A"
    ULTRA_HIGH = "ultra_high", "超高压"


class PipelineStatus(LabelledEnum):
    """Operating status of a gas pipeline."""

    IN_SERVICE = "in_service", "在役"
    PLANNED = "planned", "规划"
    ABANDONED = "abandoned", "废弃"
