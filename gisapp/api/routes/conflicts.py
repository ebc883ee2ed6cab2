"""``/api/conflicts``: current conflicts with zone, distance, pipeline and project."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from gisapp.api.deps import SessionDep, allow
from layers.services import conflicts
from layers.services.permissions import Access

router = APIRouter(prefix="/api/conflicts", tags=["conflicts"])
Reader = Annotated[Access, allow("conflict.read")]


@router.get("")
def list_conflicts(
    session: SessionDep, access: Reader,
    zone: Annotated[str | None, Query(pattern="^(protection|control)$")] = None,
    township: Annotated[str | None, Query(max_length=64)] = None,
    include_closed: bool = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict:
    """当前冲突（项目进入管道保护/控制范围），含距离、管道与项目；建设单位只见本单位项目。"""
    return {"conflicts": conflicts.list_conflicts(session, access, zone=zone, township=township,
                                                  include_closed=include_closed,
                                                  limit=limit, offset=offset)}
