"""The ``--rules`` / ``--on`` options shared by commands that screen: parse, resolve, explain."""

from __future__ import annotations

import datetime as dt

from gisapp.cli.errors import CliUsageError
from spatial_rules.rulesets import RuleSet, resolve_rule_set

RULES_HELP = ("规则集：族名 shanghai、gb55009（取 --on 日期施行的版本），版本 shanghai@2018.1、"
              "shanghai@2026.1、gb55009@2021，或 YAML/JSON 文件路径。")
ON_HELP = "按哪一天施行的版本筛查（YYYY-MM-DD，默认上海时间今天）；只对族名有意义。"


def parse_day(text: str | None, option: str = "--on") -> dt.date | None:
    """Return the date of ``--on``; a malformed one is a usage error."""
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise CliUsageError(f"{option}“{text}”不是日期（格式 YYYY-MM-DD，例如 2026-03-01）") from None


def rules_from_options(rules: str, on: str | None) -> RuleSet:
    """Return the rule set version ``--rules`` and ``--on`` name."""
    return resolve_rule_set(rules, parse_day(on))
