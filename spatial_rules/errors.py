"""Domain exceptions. Every user-facing error of the product derives from ``DomainError``.

The message is Simplified Chinese and names the file, feature or field at fault;
the CLI prints it and the API maps the class to an HTTP status (one table each).
"""

from __future__ import annotations

from vocabulary import DomainError as DomainError  # the one base (shared vocabulary), re-exported


class RuleSetError(DomainError):
    """A rule set file or name is unknown or malformed."""


class PressureError(DomainError):
    """A pressure class or design pressure is missing or unusable."""
