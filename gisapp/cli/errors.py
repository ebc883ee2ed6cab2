"""Errors of the command line itself (options that do not fit together or are malformed)."""

from __future__ import annotations

from spatial_rules.errors import DomainError


class CliUsageError(DomainError):
    """Options are missing, malformed or conflict with each other."""
