"""Monthly map reports: a self-contained HTML, an A4 PDF with static maps, CSV and XLSX tables.

Reads the database only. Geometry is drawn in the district's metric CRS (metres).
"""

from maps.report.build import ReportResult, build_report, prepare_output_dir
from maps.report.errors import ReportError, ReportFontError, ReportInputError, ReportOutputError
from maps.report.period import ReportPeriod, parse_month

__all__ = [
    "ReportError",
    "ReportFontError",
    "ReportInputError",
    "ReportOutputError",
    "ReportPeriod",
    "ReportResult",
    "build_report",
    "parse_month",
    "prepare_output_dir",
]
