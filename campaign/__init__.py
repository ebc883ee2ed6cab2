"""The yearly governance campaign: settings, spot-check sampling plans and compliance.

Pure logic on plain dataclasses; imports numpy, pandas, openpyxl and the standard
library, plus ``spatial_rules.errors`` for the shared ``DomainError`` base. Never
imports ``layers`` or ``gisapp``: callers adapt stored data into ``campaign.model``.
"""
