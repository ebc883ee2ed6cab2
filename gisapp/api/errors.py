"""One table from domain exceptions to HTTP status codes, and the JSON error body."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from layers.io.errors import InputFileError
from layers.services.errors import (
    AuthenticationError,
    ConflictStateError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    QueryParameterError,
    ServiceBusyError,
    TooManyRequestsError,
)
from spatial_rules.errors import DomainError
from vocabulary import hazard_position

STATUS_BY_ERROR: list[tuple[type[DomainError], int]] = [
    (AuthenticationError, 401),
    (TooManyRequestsError, 429),
    (ServiceBusyError, 503),
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


UNSTORABLE_TEXT = "请求中含有无法保存的字符（NUL 字符或不成对的 UTF-16 代理字符），请删除后重试"


def _data_error_message(err: DataError) -> str:
    text = str(getattr(err, "orig", err))
    if "too long" in text:
        return "某个字段的值过长，超出了允许的长度，请缩短后重试"
    return "某个字段的值不符合要求（格式或范围），请检查后重试"


# How a message names an item of a request's list, counted from 1 as users count ("第 1 条
# 隐患"); the field keeps the request's own 0-based path (hazards.0.deadline), as the
# services' refusals of the same items do (layers.services.errors.FieldError).
LIST_ITEMS: dict[str, Callable[[int], str]] = {"hazards": hazard_position}


def _list_item(loc: list) -> str | None:
    """Return "第 1 条隐患" for a location inside a known list's item, else None."""
    for name, index in zip(loc, loc[1:], strict=False):
        if isinstance(index, int) and name in LIST_ITEMS:
            return LIST_ITEMS[name](index)
    return None


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
        if isinstance(err, TooManyRequestsError | ServiceBusyError):
            headers = {"Retry-After": str(err.retry_after_s)}
        return JSONResponse(error_body(str(err), problems), status_code=_status_for(err),
                            headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, err: RequestValidationError):
        problems, named = [], []
        for e in err.errors():
            loc = [part for part in e.get("loc", ()) if part != "body"]
            where, item = ".".join(str(part) for part in loc), _list_item(loc)
            message = e.get("msg", "无效")
            problems.append({"row": None, "feature_id": None, "field": where,
                             "message": f"{item}：{message}" if item else message})
            named.append(f"{where}（{item}）" if item else where or "请求体")
        return JSONResponse(error_body(f"请求格式有误（字段 {'、'.join(named[:5])}）", problems),
                            status_code=422)

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
        if isinstance(err, OperationalError):  # no connection at all: the database is down
            app.state.logger.warning("database unavailable: %s", err.orig)
            return JSONResponse(error_body("数据库暂时不可用，请稍后重试"), status_code=503,
                                headers={"Retry-After": "5"})
        if _row_security_refused(err):
            # The database's own district bound (migration 0013) caught a write our code
            # let through: refused like any other out-of-district write, and logged as a bug.
            app.state.logger.error("row-level security refused a write: %s", err.orig)
            return JSONResponse(error_body("写入的数据超出本账号所辖的区，已拒绝"), status_code=403)
        if isinstance(err, DataError):  # a value the column cannot hold (length, range)
            app.state.logger.info("value refused by the database: %s", err.orig)
            return JSONResponse(error_body(_data_error_message(err)), status_code=422)
        app.state.logger.exception("database error")
        return JSONResponse(error_body(f"服务器内部错误（{type(err).__name__}），已记录日志"),
                            status_code=500)

    @app.exception_handler(PoolTimeoutError)
    async def _pool_timeout(_request: Request, _err: PoolTimeoutError):
        app.state.logger.warning("no pooled database connection free in time")
        return JSONResponse(error_body("服务器繁忙（数据库连接已用尽），请稍后重试"), status_code=503,
                            headers={"Retry-After": "2"})

    @app.exception_handler(UnicodeEncodeError)
    async def _unencodable(_request: Request, _err: UnicodeEncodeError):  # lone surrogates
        return JSONResponse(error_body(UNSTORABLE_TEXT), status_code=422)

    @app.exception_handler(ValueError)
    async def _value(_request: Request, err: ValueError):
        if "NUL" in str(err):  # psycopg2 refuses NUL characters in any text value
            return JSONResponse(error_body(UNSTORABLE_TEXT), status_code=422)
        app.state.logger.exception("unhandled error")
        return JSONResponse(error_body(f"服务器内部错误（{type(err).__name__}），已记录日志"),
                            status_code=500)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, err: Exception):  # never a traceback to users
        app.state.logger.exception("unhandled error")
        return JSONResponse(error_body(f"服务器内部错误（{type(err).__name__}），已记录日志"),
                            status_code=500)


def _row_security_refused(err: DBAPIError) -> bool:
    """A write refused by a row-level security policy (SQLSTATE 42501 naming the policy)."""
    orig = err.orig
    return (getattr(orig, "pgcode", None) == "42501"
            and "row-level security" in str(orig))
