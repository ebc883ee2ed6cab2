"""Errors of the map report export; every message is Simplified Chinese."""

from __future__ import annotations

from spatial_rules.errors import DomainError


class ReportError(DomainError):
    """A map report cannot be produced as asked."""


class ReportInputError(ReportError):
    """The month or township asked for is malformed or unknown."""


class ReportOutputError(ReportError):
    """The output folder cannot be written."""


class ReportFontError(ReportError):
    """No Chinese TrueType font is installed for the PDF and the static maps."""
