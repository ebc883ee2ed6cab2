"""``/api/reports/{YYYY-MM}``: the monthly map report as a zip download (gas office only)."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response

from gisapp.api.deps import ReadSessionDep, allow
from layers.services.campaign_plans import judging_settings
from layers.services.permissions import EVERYTHING, Access

router = APIRouter(prefix="/api/reports", tags=["reports"])
Reader = Annotated[Access, allow("report.read", scopes=EVERYTHING)]


@router.get("/{month}", response_class=Response,
            responses={200: {"content": {"application/zip": {}}}})
def download_report(
    request: Request, session: ReadSessionDep, access: Reader, month: str,
    township: Annotated[str | None, Query(max_length=64)] = None,
    format: Annotated[str, Query(pattern="^zip$")] = "zip",  # noqa: A002 - the API's name
) -> Response:
    """月度地图报告（HTML、PDF、CSV、XLSX）打包下载；统计截至该月最后一天。"""
    # Imported here: matplotlib and reportlab load only when a report is asked for.
    from maps.report import build_report, parse_month

    period = parse_month(month)
    # Every version (each conflict row names its own), as ``gisapp report``.
    rule_set = None
    campaign = judging_settings(session, period.year,
                                request.app.state.settings.campaign_settings)
    with tempfile.TemporaryDirectory(prefix="gisapp-report-") as tmp:
        # A district office's report names and frames its district (its rows alone reach
        # this transaction); the city office's, the served jurisdiction.
        result = build_report(session, period, Path(tmp), township=township, rule_set=rule_set,
                              campaign_settings=campaign, district=access.district)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in result.files:
                archive.write(path, arcname=path.name)
    name = f"gisapp-report-{period.label}" + (f"-{township}" if township else "") + ".zip"
    ascii_name = f"gisapp-report-{period.label}.zip"
    return Response(
        buffer.getvalue(), media_type="application/zip",
        headers={"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                 f"filename*=UTF-8''{quote(name)}"},
    )
