"""Rule sets (built-in and user files) and zone classification."""

from __future__ import annotations

import json
import math
from datetime import date

import numpy as np
import pytest

from spatial_rules.errors import DomainError, RuleSetError
from spatial_rules.pressure import PressureClass, classify_pressure
from spatial_rules.rulesets import (
    BUILTIN_RULE_SETS,
    RuleSet,
    ZoneActions,
    list_rule_sets,
    load_rule_set,
)
from spatial_rules.zones import (
    CONTROL_CODE,
    NO_ZONE,
    PROTECTION_CODE,
    ZONE_CODES,
    Zone,
    ZoneRange,
    classify_zone,
    classify_zones,
    required_action,
    wall_distance_m,
    wall_distances_m,
    zone_names,
)

P = PressureClass
LOW_TO_SUBHIGH = (P.LOW, P.MEDIUM_B, P.MEDIUM_A, P.SUBHIGH_B, P.SUBHIGH_A)
HIGH_AND_ABOVE = (P.HIGH_B, P.HIGH_A, P.ULTRA_HIGH)

# The table of /work/shared/DOMAIN.md (Shanghai measures Art. 6 of 2018; GB 55009-2021
# §5.1.6-5.1.7, which Shanghai's amended Art. 6 applies from 2026-03-01).
GB_FIGURES = {
    P.LOW: (0.5, 5.0),
    P.MEDIUM_B: (0.5, 5.0),
    P.MEDIUM_A: (0.5, 5.0),
    P.SUBHIGH_B: (1.5, 15.0),
    P.SUBHIGH_A: (1.5, 15.0),
    **dict.fromkeys(HIGH_AND_ABOVE, (5.0, 50.0)),
}
EXPECTED = {
    "shanghai@2018.1": {
        **dict.fromkeys(LOW_TO_SUBHIGH, (0.7, 6.0)),
        **dict.fromkeys(HIGH_AND_ABOVE, (6.0, 50.0)),
    },
    "shanghai@2026.1": GB_FIGURES,
    "gb55009@2021": GB_FIGURES,
}
SHANGHAI_2018 = "shanghai@2018.1"


# --- built-in rule sets -------------------------------------------------------------


@pytest.mark.parametrize("label", sorted(EXPECTED))
def test_builtin_figures_match_the_regulations(label):
    rule_set = load_rule_set(label)
    assert rule_set.label == label
    assert rule_set.version and rule_set.title and rule_set.source
    assert isinstance(rule_set.effective_date, date)
    for cls in PressureClass:
        protection, control = EXPECTED[label][cls]
        assert rule_set.ranges_for(cls) == ZoneRange(protection, control), cls
    assert rule_set.max_control_m == 50.0


def test_builtin_metadata_cites_sources():
    shanghai = load_rule_set(SHANGHAI_2018)
    gb = load_rule_set("gb55009")
    assert "上海市燃气管道设施保护办法" in shanghai.title + shanghai.source
    assert "第46号" in shanghai.source
    assert "GB 55009-2021" in gb.source
    assert gb.effective_date == date(2022, 1, 1)
    assert {r.name for r in list_rule_sets()} == set(BUILTIN_RULE_SETS)
    amended = load_rule_set("shanghai@2026.1")
    assert "第24号" in amended.source and "GB 55009-2021" in amended.source
    # Article by article: the ranges, the prohibitions of each zone, the plan rule.
    topics = dict(amended.sources)
    assert "第六条" in topics["ranges"] and "第七条" in topics["protection_prohibited"]
    assert "高压、超高压" in topics["control_prohibited"]
    assert "第三十七条" in topics["plan_required"]


def test_default_is_shanghai_and_name_is_case_insensitive():
    assert load_rule_set() == load_rule_set("shanghai") == load_rule_set(" Shanghai ")
    assert load_rule_set("GB55009").name == "gb55009"
    assert load_rule_set("SHANGHAI@2018.1").label == SHANGHAI_2018


@pytest.mark.parametrize("label", sorted(EXPECTED))
def test_to_dict_round_trips_through_a_json_file(tmp_path, label):
    rule_set = load_rule_set(label)
    path = tmp_path / f"{label.replace('@', '-')}_copy.json"
    path.write_text(json.dumps(rule_set.to_dict(), ensure_ascii=False), encoding="utf-8")
    assert load_rule_set(path) == rule_set
    assert rule_set.control_array()[-1] == 50.0
    assert len(rule_set.protection_array()) == len(PressureClass)


def test_rule_set_is_frozen_and_hashable():
    rule_set = load_rule_set()
    with pytest.raises(AttributeError):
        rule_set.name = "x"  # type: ignore[misc]
    assert hash(rule_set) == hash(load_rule_set("shanghai"))
    assert rule_set.label == f"shanghai@{rule_set.version}"


@pytest.mark.parametrize("label", sorted(EXPECTED))
def test_action_texts_state_what_the_regulations_require(label):
    rule_set = load_rule_set(label)
    protection = required_action(Zone.PROTECTION, rule_set)
    control = required_action("control", rule_set)
    for phrase in ["建筑物", "构筑物", "腐蚀性", "爆破", "迁移", "保护方案"]:
        assert phrase in protection, phrase
    for phrase in ["打桩", "顶进", "挖掘", "钻探", "敷设管道", "保护方案", "开工前", "保护措施"]:
        assert phrase in control, phrase
    assert "\n" not in protection and " " not in protection


def test_ranges_for_accepts_names_and_rejects_unknown():
    rule_set = load_rule_set("gb55009")
    assert rule_set.ranges_for("次高压B") == ZoneRange(1.5, 15.0)
    with pytest.raises(DomainError):
        rule_set.ranges_for("very_high")
    with pytest.raises(RuleSetError, match="未知的范围类型"):
        rule_set.action_for("nearby")


@pytest.mark.parametrize(
    ("pressure_mpa", "expected_class", "shanghai", "gb"),
    [
        (0.4, P.MEDIUM_A, (0.7, 6.0), (0.5, 5.0)),
        (0.4000001, P.SUBHIGH_B, (0.7, 6.0), (1.5, 15.0)),
        (1.6, P.SUBHIGH_A, (0.7, 6.0), (1.5, 15.0)),
        (1.6000001, P.HIGH_B, (6.0, 50.0), (5.0, 50.0)),
    ],
)
def test_boundary_pressures_take_the_lower_class_ranges(pressure_mpa, expected_class, shanghai, gb):
    cls = classify_pressure(pressure_mpa)
    assert cls is expected_class
    assert load_rule_set(SHANGHAI_2018).ranges_for(cls) == ZoneRange(*shanghai)
    assert load_rule_set("gb55009").ranges_for(cls) == ZoneRange(*gb)


# --- user rule set files ------------------------------------------------------------


def _user_rules(**overrides):
    data = {
        "name": "district_strict",
        "version": "2",
        "title": "崇明区加严规则",
        "source": "区燃气管理所内部规定（测试）",
        "effective_date": "2025-06-01",
        "ranges": {
            cls.value: {"protection_range_m": 1.0 + i, "control_range_m": 10.0 + i}
            for i, cls in enumerate(PressureClass)
        },
        "actions": {"protection": "禁止施工，先行避让。", "control": "报送保护方案。"},
    }
    data.update(overrides)
    return data


def _yaml_text(data) -> str:
    import yaml

    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def test_user_yaml_file_loads(tmp_path):
    path = tmp_path / "strict.yaml"
    path.write_text(_yaml_text(_user_rules()), encoding="utf-8")
    rule_set = load_rule_set(path)
    assert isinstance(rule_set, RuleSet)
    assert rule_set.name == "district_strict" and rule_set.version == "2"
    assert rule_set.effective_date == date(2025, 6, 1)
    assert rule_set.ranges_for(P.ULTRA_HIGH) == ZoneRange(8.0, 17.0)
    assert rule_set.actions == ZoneActions("禁止施工，先行避让。", "报送保护方案。")
    assert rule_set.path == str(path)
    assert load_rule_set(str(path)) == rule_set


def test_user_json_file_with_chinese_class_names_loads(tmp_path):
    data = _user_rules(version=3)
    data["ranges"] = {
        cls.label: {"protection_range_m": 2, "control_range_m": 20} for cls in PressureClass
    }
    data["notes"] = "用中文压力级制名称"
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    rule_set = load_rule_set(path)
    assert rule_set.version == "3"
    assert rule_set.notes == "用中文压力级制名称"
    assert all(rule_set.ranges_for(cls) == ZoneRange(2.0, 20.0) for cls in PressureClass)


def _write_bad(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _without_class(cls: str):
    data = _user_rules()
    del data["ranges"][cls]
    return data


def _with_range(cls: str, **entry):
    data = _user_rules()
    data["ranges"][cls] = entry
    return data


MALFORMED = [
    # (id, file text builder, fragments the message must contain)
    ("bad_yaml", lambda: "name: x\nranges: [unclosed\n", ["YAML 格式错误", "第"]),
    ("missing_class", lambda: _yaml_text(_without_class("subhigh_b")), ["ranges", "subhigh_b"]),
    (
        "negative",
        lambda: _yaml_text(_with_range("low", protection_range_m=-0.5, control_range_m=6)),
        ["ranges.low.protection_range_m", "负数"],
    ),
    (
        "non_numeric",
        lambda: _yaml_text(_with_range("medium_a", protection_range_m="0.7米", control_range_m=6)),
        ["ranges.medium_a.protection_range_m", "不是数字"],
    ),
    (
        "boolean",
        lambda: _yaml_text(_with_range("medium_b", protection_range_m=0.7, control_range_m=True)),
        ["ranges.medium_b.control_range_m", "不是数字"],
    ),
    (
        "control_below_protection",
        lambda: _yaml_text(_with_range("high_a", protection_range_m=6, control_range_m=5)),
        ["ranges.high_a.control_range_m", "应大于 protection_range_m"],
    ),
    (
        "control_equal_protection",
        lambda: _yaml_text(_with_range("high_b", protection_range_m=6, control_range_m=6)),
        ["ranges.high_b.control_range_m", "应大于"],
    ),
    (
        "unknown_class",
        lambda: _yaml_text(
            _user_rules(
                ranges={
                    **_user_rules()["ranges"],
                    "extreme": {"protection_range_m": 1, "control_range_m": 2},
                }
            )
        ),
        ["ranges.extreme", "无法识别的压力级制"],
    ),
    (
        "duplicate_class",
        lambda: _yaml_text(
            _user_rules(
                ranges={
                    **_user_rules()["ranges"],
                    "低压": {"protection_range_m": 1, "control_range_m": 2},
                }
            )
        ),
        ["ranges.低压", "重复"],
    ),
    ("unknown_top_key", lambda: _yaml_text(_user_rules(extra_rule=1)), ["未知字段", "extra_rule"]),
    (
        "unknown_range_key",
        lambda: _yaml_text(
            _with_range("low", protection_range_m=0.7, control_range_m=6, buffer_m=2)
        ),
        ["ranges.low", "buffer_m"],
    ),
    ("missing_title", lambda: _yaml_text(_without("title")), ["缺少字段", "title"]),
    ("bad_date", lambda: _yaml_text(_user_rules(effective_date="明年")), ["effective_date"]),
    ("top_level_list", lambda: "- shanghai\n- gb55009\n", ["顶层"]),
    (
        "empty_action",
        lambda: _yaml_text(_user_rules(actions={"protection": "", "control": "x"})),
        ["actions.protection", "非空"],
    ),
    ("bad_name", lambda: _yaml_text(_user_rules(name="规则 一")), ["name"]),
    (
        "nan_range",
        lambda: _yaml_text(_with_range("low", protection_range_m=math.nan, control_range_m=6)),
        ["ranges.low.protection_range_m", "有限"],
    ),
]


def _without(key: str):
    data = _user_rules()
    del data[key]
    return data


@pytest.mark.parametrize(("case", "build", "fragments"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_yaml_names_file_and_field(tmp_path, case, build, fragments):
    path = _write_bad(tmp_path, f"{case}.yaml", build())
    with pytest.raises(RuleSetError) as info:
        load_rule_set(path)
    message = str(info.value)
    assert f"{case}.yaml" in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_malformed_json_names_file_and_position(tmp_path):
    path = _write_bad(tmp_path, "broken.json", '{"name": "x", "version": 1,,}')
    with pytest.raises(RuleSetError, match=r"broken\.json.*JSON 格式错误（第 1 行"):
        load_rule_set(path)


def test_json_with_negative_control_names_field(tmp_path):
    data = _with_range("ultra_high", protection_range_m=6, control_range_m=-50)
    path = _write_bad(tmp_path, "neg.json", json.dumps(data))
    with pytest.raises(RuleSetError, match=r"neg\.json.*ranges\.ultra_high\.control_range_m"):
        load_rule_set(path)


def test_non_utf8_file_is_reported(tmp_path):
    path = tmp_path / "gbk.yaml"
    path.write_bytes(_yaml_text(_user_rules()).encode("gbk"))
    with pytest.raises(RuleSetError, match=r"gbk\.yaml.*UTF-8"):
        load_rule_set(path)


def test_unknown_name_and_missing_file(tmp_path):
    with pytest.raises(RuleSetError, match="未知的规则集“beijing”.*shanghai"):
        load_rule_set("beijing")
    with pytest.raises(RuleSetError, match="规则集文件不存在"):
        load_rule_set(tmp_path / "nope.yaml")
    assert issubclass(RuleSetError, DomainError)


# --- zones ---------------------------------------------------------------------------


def test_wall_distance_subtracts_half_the_outer_diameter_and_clamps():
    assert wall_distance_m(1.0, 219) == pytest.approx(1.0 - 0.1095, abs=1e-15)
    assert wall_distance_m(0.3, 1016) == 0.0
    assert wall_distance_m(0.0, 32) == 0.0
    np.testing.assert_array_equal(
        wall_distances_m(np.array([1.0, 0.3, 10.0]), np.array([219.0, 1016.0, 2000.0])),
        np.array([1.0 - 219 / 2000, 0.0, 9.0]),
    )


@pytest.mark.parametrize("name", ["shanghai", "gb55009"])
def test_classify_zone_thresholds_are_strict(name):
    for cls in PressureClass:
        zone_range = load_rule_set(name).ranges_for(cls)
        p, c = zone_range.protection_m, zone_range.control_m
        assert classify_zone(0.0, zone_range) is Zone.PROTECTION
        assert classify_zone(np.nextafter(p, 0), zone_range) is Zone.PROTECTION
        assert classify_zone(p, zone_range) is Zone.CONTROL  # on the line: outer zone
        assert classify_zone(np.nextafter(c, 0), zone_range) is Zone.CONTROL
        assert classify_zone(c, zone_range) is None
        assert classify_zone(c + 1e-9, zone_range) is None


def test_zone_equals_its_string_code_and_has_chinese_label():
    assert classify_zone(0.1, ZoneRange(0.7, 6)) == "protection"
    assert Zone.CONTROL.label == "安全控制范围"
    assert ZONE_CODES[Zone.PROTECTION] == PROTECTION_CODE


def test_vectorized_classification_matches_scalar():
    rng = np.random.default_rng(7)
    protection = rng.choice([0.5, 0.7, 1.5, 5.0, 6.0], size=2000)
    control = protection * rng.choice([8.0, 10.0], size=2000)
    distance = rng.uniform(0, 60, size=2000)
    distance[:5] = protection[:5]  # exactly on thresholds
    distance[5:10] = control[5:10]
    codes = classify_zones(distance, protection, control)
    assert codes.dtype == np.int8
    expected = []
    for d, p, c in zip(distance, protection, control, strict=True):
        zone = classify_zone(float(d), ZoneRange(float(p), float(c)))
        expected.append(NO_ZONE if zone is None else ZONE_CODES[zone])
    np.testing.assert_array_equal(codes, expected)
    assert set(codes[:5]) == {CONTROL_CODE} and set(codes[5:10]) == {NO_ZONE}
    names = zone_names(codes)
    assert names[0] == "control" and names[5] is None
    assert set(names[codes == PROTECTION_CODE]) <= {"protection"}


def test_vectorized_classification_broadcasts_a_scalar_range():
    codes = classify_zones(np.array([0.0, 0.7, 5.9999, 6.0]), 0.7, 6.0)
    np.testing.assert_array_equal(codes, [PROTECTION_CODE, CONTROL_CODE, CONTROL_CODE, NO_ZONE])


# --- families of versions -------------------------------------------------------------


def _version(version: str, start: str, until: str | None = None) -> RuleSet:
    data = _user_rules(name="city", version=version, effective_date=start)
    if until is not None:
        data["effective_until"] = until
    return load_rule_set_text(data)


def load_rule_set_text(data) -> RuleSet:
    from spatial_rules.rulesets import parse_rule_set

    return parse_rule_set(json.dumps(data, ensure_ascii=False), "city.json", fmt="json")


def test_a_family_chooses_the_version_in_force_on_a_date():
    from spatial_rules.rulesets import version_in_force

    assert load_rule_set("shanghai", date(2018, 1, 4)).label == "shanghai@2018.1"
    assert load_rule_set("shanghai", date(2026, 2, 28)).label == "shanghai@2018.1"
    assert load_rule_set("shanghai", date(2026, 3, 1)).label == "shanghai@2026.1"
    assert version_in_force("shanghai", date(2031, 1, 1)).label == "shanghai@2026.1"
    with pytest.raises(RuleSetError, match="2018-01-03 不在规则集 shanghai 任何版本的施行期内"):
        load_rule_set("shanghai", date(2018, 1, 3))
    # A version is that version whatever the date.
    assert load_rule_set("shanghai@2018.1", date(2030, 1, 1)).label == "shanghai@2018.1"
    with pytest.raises(RuleSetError, match="没有版本“2026.9”"):
        load_rule_set("shanghai@2026.9")
    with pytest.raises(RuleSetError, match="未知的规则集“tianjin”"):
        load_rule_set("tianjin@1")


def test_the_2026_amendment_changes_what_is_prohibited():
    old, new = load_rule_set("shanghai@2018.1"), load_rule_set("shanghai@2026.1")
    assert old.effective_until == date(2026, 2, 28) and new.effective_from == date(2026, 3, 1)
    # Blasting: before in every control range, now only beside high and ultra-high pressure.
    assert "blasting" in old.prohibited("control", "medium_a")
    assert new.prohibited("control", "medium_a") == ()
    for cls in ("high_b", "high_a", "ultra_high"):
        assert new.prohibited("control", cls) == ("blasting", "open_flame")
    in_protection = set(new.prohibited("protection", "low"))
    assert {"anchoring", "dredging", "earth_borrowing", "open_flame"} <= in_protection
    assert new.plan_required("control", "subhigh_a") == ("drilling", "excavation", "jacking", "piling",
                                                         "pipe_laying")
    # A declaration narrows the answer to what was declared.
    from vocabulary.activities import Activity

    declared = Activity.ANCHORING.bit | Activity.PILING.bit
    assert new.prohibited("protection", "low", declared) == ("anchoring",)


def test_loading_refuses_overlaps_gaps_and_duplicates():
    from spatial_rules.rulesets import check_families

    families = check_families([_version("2", "2024-01-01"), _version("1", "2020-01-01")])
    first, second = families["city"]
    # An open-ended version ends the day before the next one starts.
    assert first.effective_until == date(2023, 12, 31) and second.effective_until is None
    with pytest.raises(RuleSetError, match="施行期重叠"):
        check_families([_version("1", "2020-01-01", "2024-06-30"), _version("2", "2024-01-01")])
    with pytest.raises(RuleSetError, match="2024-01-01 至 2024-01-31 不在任何版本的施行期内"):
        check_families([_version("1", "2020-01-01", "2023-12-31"), _version("2", "2024-02-01")])
    with pytest.raises(RuleSetError, match="重复出现"):
        check_families([_version("1", "2020-01-01"), _version("1", "2021-01-01")])
    with pytest.raises(RuleSetError, match="effective_until.*早于"):
        _version("1", "2020-01-01", "2019-01-01")


def test_malformed_activity_rules_are_named():
    data = _user_rules()
    data["activities"] = {"protection": {"all": {"prohibited": ["blasting", "flying"]}},
                          "control": {"all": {}}}
    with pytest.raises(RuleSetError, match=r"activities\.protection\.all\.prohibited.*flying"):
        load_rule_set_text(data)
    data["activities"] = {"protection": {"all": {"prohibited": ["piling"], "plan_required": ["打桩"]}},
                          "control": {"all": {}}}
    with pytest.raises(RuleSetError, match="不能同时"):
        load_rule_set_text(data)
    data["activities"] = {"protection": {"low": {}}, "control": {"all": {}}}
    with pytest.raises(RuleSetError, match="activities.protection 缺少压力级制"):
        load_rule_set_text(data)
