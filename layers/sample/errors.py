"""Errors of the sample generator (messages in Chinese)."""

from __future__ import annotations

from spatial_rules.errors import DomainError


class SampleError(DomainError):
    """A sample dataset cannot be generated or written as asked."""
