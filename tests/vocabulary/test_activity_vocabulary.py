"""The activity vocabulary: 15 codes, one Chinese name each, parsed from codes or names."""

from __future__ import annotations

import pytest

from vocabulary.activities import (
    ALL_ACTIVITIES_MASK,
    Activity,
    ActivityError,
    activities_mask,
    canonical_activities,
    mask_codes,
    parse_activities,
)

CODES = ("structure", "blasting", "open_flame", "earth_borrowing", "corrosive_discharge",
         "dangerous_goods", "deep_rooted_planting", "anchoring", "dredging", "stacking", "piling",
         "jacking", "excavation", "drilling", "pipe_laying")


def test_the_fifteen_codes_of_the_issue_each_with_one_chinese_name():
    assert tuple(a.value for a in Activity) == CODES
    labels = [a.label for a in Activity]
    assert len(set(labels)) == 15 and all(not label.isascii() for label in labels)
    assert Activity.EARTH_BORROWING.label == "取土" and Activity.ANCHORING.label == "抛锚、拖锚"
    assert Activity.DREDGING.label == "掏沙、挖泥" and Activity.JACKING.label == "顶进"


@pytest.mark.parametrize("text", [
    "blasting,piling", "爆破，打桩", "爆破、打桩", "piling、爆破", " blasting , 打桩 ", "BLASTING,Piling",
])
def test_codes_or_names_with_any_of_the_three_separators(text):
    assert parse_activities(text) == {Activity.BLASTING, Activity.PILING}


def test_names_that_contain_the_separator_parse_in_a_list():
    parsed = parse_activities("抛锚、拖锚、爆破、掏沙、挖泥、建设占压管道的建筑物、构筑物")
    assert parsed == {Activity.ANCHORING, Activity.BLASTING, Activity.DREDGING, Activity.STRUCTURE}
    assert parse_activities(["抛锚", "dredging"]) == {Activity.ANCHORING, Activity.DREDGING}


def test_nothing_declared_means_every_activity():
    for empty in (None, "", " ", "，", []):
        assert parse_activities(empty) is None
    assert activities_mask(None) == ALL_ACTIVITIES_MASK
    assert mask_codes(ALL_ACTIVITIES_MASK) == tuple(sorted(CODES))


def test_unknown_words_are_all_named():
    with pytest.raises(ActivityError) as info:
        parse_activities("爆破，飞行、潜水")
    assert info.value.unknown == ["飞行", "潜水"]
    assert "飞行" in str(info.value) and "潜水" in str(info.value) and "blasting" in str(info.value)


def test_canonical_form_is_sorted_codes():
    assert canonical_activities(parse_activities("打桩、爆破、excavation")) == "blasting,excavation,piling"
    assert canonical_activities(None) is None
