"""The write context of a command-line run: no signed-in user, the configured rules and receivers."""

from __future__ import annotations

from gisapp.settings import Settings


def system_write_context(settings: Settings, rule_set=None):
    """Return the ``WriteContext`` of a CLI write (``rule_set`` defaults to the configured one)."""
    from layers.services.features import WriteContext
    from spatial_rules.rulesets import load_rule_set

    return WriteContext(
        actor=None,
        rule_set=rule_set if rule_set is not None else load_rule_set(settings.rule_set),
        webhook_urls=settings.webhook_urls,
        margin_m=settings.district_margin_m,
        alert_burst=settings.alert_burst_threshold,
    )
