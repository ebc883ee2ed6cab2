"""One table from domain exceptions to HTTP status codes, and the JSON error body."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from layers.io.errors import InputFileError
from layers.services.errors import (
    AuthenticationError,
    ConflictStateError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    QueryParameterError,
)
from spatial_rules.errors import DomainError

STATUS_BY_ERROR: list[tuple[type[DomainError], int]] = [
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (ConflictStateError, 409),
    (QueryParameterError, 400),
    (InputFileError, 422),
    (InvalidRequestError, 422),
    (DomainError, 422),
]


def _status_for(err: DomainError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(err, cls):
            return status
    return 422


def error_body(message: str, problems: list[dict] | None = None) -> dict:
    """Return the error JSON: a Chinese message and, where known, one entry per problem."""
    return {"detail": message, "problems": problems or []}


def install(app: FastAPI) -> None:
    """Register the handlers: domain errors, validation errors, and a last-resort 500."""

    @app.exception_handler(DomainError)
    async def _domain(_request: Request, err: DomainError):
        problems = [
            {"row": p.row, "feature_id": p.feature_id, "field": p.field, "message": p.message}
            for p in getattr(err, "problems", [])
        ]
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(err, AuthenticationError) else None
        return JSONResponse(error_body(str(err), problems), status_code=_status_for(err),
                            headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, err: RequestValidationError):
        problems = []
        for e in err.errors():
            where = ".".join(str(part) for part in e.get("loc", ()) if part != "body")
            problems.append({"row": None, "feature_id": None, "field": where,
                             "message": e.get("msg", "无效")})
        fields = "、".join(p["field"] or "请求体" for p in problems[:5])
        return JSONResponse(error_body(f"请求格式有误（字段 {fields}）", problems), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, err: StarletteHTTPException):
        message = err.detail if isinstance(err.detail, str) else "请求有误"
        return JSONResponse(error_body(message), status_code=err.status_code,
                            headers=getattr(err, "headers", None))

    @app.exception_handler(DBAPIError)
    async def _database(_request: Request, err: DBAPIError):
        if err.connection_invalidated:  # the database restarted or the network dropped
            app.state.logger.warning("database connection lost: %s", err.orig)
            return JSONResponse(error_body("数据库连接中断，请稍后重试"), status_code=503,
                                headers={"Retry-After": "1"})
        app.state.logger.exception("database error")
        return JSONResponse(error_body(f"服务器内部错误（{type(err).__name__}），已记录日志"),
                            status_code=500)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, err: Exception):  # never a traceback to users
        app.state.logger.exception("unhandled error")
        return JSONResponse(error_body(f"服务器内部错误（{type(err).__name__}），已记录日志"),
                            status_code=500)
