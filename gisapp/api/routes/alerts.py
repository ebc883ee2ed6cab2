"""``/api/alerts``: the gas office's inbox of conflict alerts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from gisapp.api.deps import SessionDep, allow
from layers.services import alerts
from layers.services.permissions import EVERYTHING, Access

router = APIRouter(prefix="/api/alerts", tags=["alerts"])
Reader = Annotated[Access, allow("alert.read", scopes=EVERYTHING)]
Changer = Annotated[Access, allow("alert.change", scopes=EVERYTHING)]


@router.get("")
def list_alerts(
    session: SessionDep, access: Reader,
    status: Annotated[str | None, Query(pattern="^(new|acknowledged|resolved)$")] = None,
    since_id: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict:
    """告警列表（可按状态过滤；since_id 用于轮询新告警）。"""
    return {"alerts": alerts.list_alerts(session, status=status, since_id=since_id, limit=limit)}


@router.post("/{alert_id}/acknowledge")
def acknowledge(session: SessionDep, access: Changer, alert_id: int,
                note: Annotated[str | None, Body(embed=True, max_length=2000)] = None) -> dict:
    """确认告警。"""
    return alerts.change_alert(session, alert_id, "acknowledge", access.actor, note)


@router.post("/{alert_id}/resolve")
def resolve(session: SessionDep, access: Changer, alert_id: int,
            note: Annotated[str | None, Body(embed=True, max_length=2000)] = None) -> dict:
    """办结告警。"""
    return alerts.change_alert(session, alert_id, "resolve", access.actor, note)
