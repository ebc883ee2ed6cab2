"""Campaign exceptions; all derive from the product's ``DomainError`` (Chinese messages)."""

from __future__ import annotations

from vocabulary import DomainError


class CampaignError(DomainError):
    """A campaign input or request cannot be used as given."""


class CampaignSettingsError(CampaignError):
    """Campaign settings (dates, windows, quota) are malformed or inconsistent."""


class CampaignInputError(CampaignError):
    """A projects or inspections file has a bad row, column or encoding."""
