"""Construction activities near gas pipelines: one enum, one Chinese label each.

The codes are those of issue 13; the Chinese names follow the wording of the Shanghai
measures (《上海市燃气管道设施保护办法》第七条、第八条) and 《城镇燃气管理条例》第三十七条.
Pages, reports, CSV/XLSX, error messages and the API all read ``Activity.label``.

Parsing accepts codes or Chinese names (and a few common synonyms) separated by
``,`` ``，`` or ``、``; the canonical form of a declaration is its codes, sorted, joined
with commas (``blasting,piling``). A bit mask per activity (enum order) lets the
screening engine combine declarations with rule cells without a Python loop per row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from vocabulary.labelled import LabelledEnum


class Activity(LabelledEnum):
    """A kind of work a project may plan within reach of a gas pipeline."""

    STRUCTURE = "structure", "建设占压管道的建筑物、构筑物"
    BLASTING = "blasting", "爆破"
    OPEN_FLAME = "open_flame", "动用明火"
    EARTH_BORROWING = "earth_borrowing", "取土"
    CORROSIVE_DISCHARGE = "corrosive_discharge", "倾倒、排放腐蚀性物质"
    DANGEROUS_GOODS = "dangerous_goods", "放置易燃易爆危险物品"
    DEEP_ROOTED_PLANTING = "deep_rooted_planting", "种植深根植物"
    ANCHORING = "anchoring", "抛锚、拖锚"
    DREDGING = "dredging", "掏沙、挖泥"
    STACKING = "stacking", "堆放物品"
    PILING = "piling", "打桩"
    JACKING = "jacking", "顶进"
    EXCAVATION = "excavation", "挖掘"
    DRILLING = "drilling", "钻探"
    PIPE_LAYING = "pipe_laying", "敷设管道"

    @property
    def bit(self) -> int:
        """Return this activity's bit in an activity mask (enum order)."""
        return _BITS[self]


_ORDER: tuple[Activity, ...] = tuple(Activity)
_BITS: dict[Activity, int] = {a: 1 << i for i, a in enumerate(_ORDER)}
# Every activity: what a site that declares none is judged for.
ALL_ACTIVITIES_MASK = (1 << len(_ORDER)) - 1
# Codes in sorted (C collation) order, the order of every list we output.
SORTED_CODES: tuple[str, ...] = tuple(sorted(a.value for a in Activity))

# Accepted spellings -> activity: codes, labels, and the short words people write.
_SYNONYMS: dict[str, Activity] = {
    "建筑物": Activity.STRUCTURE,
    "构筑物": Activity.STRUCTURE,
    "建筑物、构筑物": Activity.STRUCTURE,
    "建设建筑物": Activity.STRUCTURE,
    "明火": Activity.OPEN_FLAME,
    "动火": Activity.OPEN_FLAME,
    "腐蚀性物质": Activity.CORROSIVE_DISCHARGE,
    "排放腐蚀性物质": Activity.CORROSIVE_DISCHARGE,
    "危险物品": Activity.DANGEROUS_GOODS,
    "易燃易爆危险物品": Activity.DANGEROUS_GOODS,
    "深根植物": Activity.DEEP_ROOTED_PLANTING,
    "抛锚": Activity.ANCHORING,
    "拖锚": Activity.ANCHORING,
    "掏沙": Activity.DREDGING,
    "挖泥": Activity.DREDGING,
    "堆放": Activity.STACKING,
    "顶管": Activity.JACKING,
    "开挖": Activity.EXCAVATION,
    "敷设": Activity.PIPE_LAYING,
}
_LOOKUP: dict[str, Activity] = {
    **{a.value: a for a in Activity},
    **{a.label: a for a in Activity},
    **_SYNONYMS,
}
# Separators between declared activities. "、" also appears inside three labels
# (抛锚、拖锚 ...): the parser first matches whole labels, then splits.
_SEPARATORS = re.compile(r"[,，;；]")
_ENUM_COMMA = "、"


class ActivityError(ValueError):
    """An activity declaration names something that is not an activity."""

    def __init__(self, unknown: list[str]) -> None:
        """Keep the unknown words; the message lists them and the accepted codes."""
        self.unknown = unknown
        words = "、".join(f"“{w}”" for w in unknown)
        codes = "、".join(a.value for a in Activity)
        super().__init__(f"未知的作业类型 {words}（可用：{codes}，或其中文名称）")


def _lookup(word: str) -> Activity | None:
    return _LOOKUP.get(word) or _LOOKUP.get(word.lower())


def parse_activities(value: str | Iterable[str] | None) -> frozenset[Activity] | None:
    """Return the declared activities, or None when nothing is declared (blank or empty).

    ``value`` is text of codes or Chinese names separated by ``,`` ``，`` or ``、``,
    or a list of such items. Raises ``ActivityError`` naming every unknown word.
    """
    if value is None:
        return None
    items = [value] if isinstance(value, str) else [str(v) for v in value]
    found: set[Activity] = set()
    unknown: list[str] = []
    for item in items:
        for part in _SEPARATORS.split(item):
            part = part.strip()
            if not part:
                continue
            # "、" separates items and also appears inside names (抛锚、拖锚): take the
            # longest run of 、-separated words that names an activity, left to right.
            words = [w.strip() for w in part.split(_ENUM_COMMA)]
            i = 0
            while i < len(words):
                for j in range(len(words), i, -1):
                    activity = _lookup(_ENUM_COMMA.join(words[i:j]))
                    if activity is not None:
                        found.add(activity)
                        i = j
                        break
                else:
                    if words[i]:
                        unknown.append(words[i])
                    i += 1
    if unknown:
        raise ActivityError(list(dict.fromkeys(unknown)))
    return frozenset(found) or None


def canonical_activities(activities: Iterable[Activity] | None) -> str | None:
    """Return the stored form: sorted codes joined by commas, or None for no declaration."""
    if not activities:
        return None
    return ",".join(sorted(a.value for a in activities))


def activities_mask(activities: Iterable[Activity] | None) -> int:
    """Return the bit mask of a declaration; no declaration means every activity."""
    if not activities:
        return ALL_ACTIVITIES_MASK
    mask = 0
    for activity in activities:
        mask |= Activity(activity).bit
    return mask


def mask_codes(mask: int) -> tuple[str, ...]:
    """Return the codes of a mask, sorted."""
    return tuple(code for code in SORTED_CODES if mask & Activity(code).bit)


def labels_of(codes: Iterable[str], sep: str = "、") -> str:
    """Return the Chinese names of codes joined by 、 in the given order."""
    return sep.join(Activity(code).label for code in codes)
