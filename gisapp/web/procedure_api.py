"""JSON the workbench's project page needs for the procedure (owner reply, plans, the office's
decision, start notices), beyond the public procedure API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam

from gisapp.api.deps import SessionDep, allow
from layers.services.permissions import Access
from layers.services.project_procedure import project_procedure

router = APIRouter(tags=["workbench"])
PermitReader = Annotated[Access, allow("permit.read")]
ProjectId = Annotated[int, PathParam(ge=1, le=2**62)]


@router.get("/api/workbench/projects/{project_id}/procedure")
def procedure(request: Request, session: SessionDep, access: PermitReader, project_id: ProjectId) -> dict:
    """项目的保护手续进展：各管道的权属单位答复、保护方案、燃气管理所决定；开工告知及能否提交。"""
    return project_procedure(session, project_id, access,
                             notice_days=request.app.state.settings.start_notice_days)
