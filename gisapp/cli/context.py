"""What a command-line run acts as: the OS user (``cli:<user>``), as the permission table allows.

Every command that touches stored data asks the table once (``cli_access``); writes
carry the command's actor into the audit log.
"""

from __future__ import annotations

from gisapp.settings import Settings
from layers.services.actors import Actor
from layers.services.permissions import Access, authorize


def cli_access(action: str) -> Access:
    """Return the command's access for ``action`` (the table refuses with a Chinese message)."""
    return authorize(Actor.cli(), action)


def cli_write_ctx(settings: Settings, access: Access, rule_set=None):
    """Return the ``WriteContext`` of a CLI write (``rule_set`` defaults to the configured one)."""
    from layers.services.features import WriteContext
    from spatial_rules.rulesets import load_rule_set

    rules = rule_set if rule_set is not None else load_rule_set(settings.rule_set)
    return WriteContext.of(access, rules, webhook_urls=settings.webhook_urls,
                           margin_m=settings.district_margin_m,
                           alert_burst=settings.alert_burst_threshold)
