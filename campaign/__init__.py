"""The yearly governance campaign: settings, spot-check sampling plans and compliance.

Pure logic on plain dataclasses; imports numpy, pandas, openpyxl and the standard
library, and of ours only the shared ``vocabulary`` (the enums and their Chinese labels,
the ``DomainError`` base, the Shanghai date). Never imports ``spatial_rules``, ``layers``,
``maps`` or ``gisapp``: callers adapt stored data into ``campaign.model``.
"""
