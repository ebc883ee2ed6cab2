"""``/api/alerts``: the gas office's inbox of conflict alerts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query
from sqlalchemy import text

from gisapp.api.deps import SessionDep, require
from layers.services.alerts import ALERT_SELECT, change_alert
from layers.services.users import User

router = APIRouter(prefix="/api/alerts", tags=["alerts"])
GasOffice = Annotated[User, require("gas_office")]


@router.get("")
def list_alerts(
    session: SessionDep, user: GasOffice,
    status: Annotated[str | None, Query(pattern="^(new|acknowledged|resolved)$")] = None,
    since_id: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict:
    """告警列表（可按状态过滤；since_id 用于轮询新告警）。"""
    rows = session.execute(
        text(f"{ALERT_SELECT} WHERE (CAST(:s AS text) IS NULL OR a.status = :s) AND a.id > :since "
             "ORDER BY a.id DESC LIMIT :limit"),
        {"s": status, "since": since_id, "limit": limit},
    ).mappings().all()
    return {"alerts": [dict(r) for r in rows]}




@router.post("/{alert_id}/acknowledge")
def acknowledge(session: SessionDep, user: GasOffice, alert_id: int,
                note: Annotated[str | None, Body(embed=True, max_length=2000)] = None) -> dict:
    """确认告警。"""
    return change_alert(session, alert_id, "acknowledge", user, note)


@router.post("/{alert_id}/resolve")
def resolve(session: SessionDep, user: GasOffice, alert_id: int,
            note: Annotated[str | None, Body(embed=True, max_length=2000)] = None) -> dict:
    """办结告警。"""
    return change_alert(session, alert_id, "resolve", user, note)
