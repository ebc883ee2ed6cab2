"""Domain exceptions. Every user-facing error of the product derives from ``DomainError``.

The message is Simplified Chinese and names the file, feature or field at fault;
the CLI prints it and the API maps the class to an HTTP status (one table each).
"""

from __future__ import annotations


class DomainError(Exception):
    """A problem the user can fix; ``str(err)`` is the message to show them."""


class RuleSetError(DomainError):
    """A rule set file or name is unknown or malformed."""


class PressureError(DomainError):
    """A pressure class or design pressure is missing or unusable."""
