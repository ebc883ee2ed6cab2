"""``/api/pipelines/import`` and ``/api/projects/import``: a whole file in one transaction.

The upload is saved under a private temporary folder with a name of our own (never
the client's path), read and validated by ``layers.io.read_layer`` (which refuses zip
bombs, traversal, VRT and GDAL virtual paths), stored by ``layers.importer`` and
screened in the request's transaction: every feature is stored and screened, or none.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse

from gisapp.api.deps import SessionDep, allow, write_ctx
from layers.importer import file_sha256
from layers.io import FeatureProblem, InputFileError, read_layer
from layers.services.errors import InvalidRequestError
from layers.services.imports import ENTITY, import_and_screen
from layers.services.permissions import Access

router = APIRouter(prefix="/api", tags=["imports"])

ALLOWED_SUFFIXES = (".geojson", ".json", ".gpkg", ".zip", ".csv")
LAYER_ZH = {"pipelines": "燃气管道", "projects": "施工项目"}
CHUNK_BYTES = 1 << 20
MAX_FIELD_MAP_ENTRIES = 200
_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f/\\]")
FILE_HELP = "GeoJSON、GeoPackage、Shapefile 压缩包（.zip）或 CSV"
CRS_HELP = "输入坐标系，如 4326、4549、gcj02；默认取文件自带坐标系"
LAYER_HELP = "GeoPackage 或压缩包中的图层名"
REPLACE_HELP = "编号已存在时覆盖（旧记录软删除）"
FIELD_MAP_HELP = 'JSON 对象，如 {"管径": "outer_diameter_mm"}'


def _display_name(filename: str | None) -> str:
    """Return the client's file name fit for messages and the batch record (no path)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME_CHARS.sub("_", name).strip() or "上传文件"
    return name[:120]


def _safe_suffix(filename: str | None) -> str:
    """Return the upload's extension if it is on the allow list, else raise naming the field."""
    suffix = Path(_display_name(filename)).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise InvalidRequestError(
            f"字段 file：不支持的文件格式“{suffix or '无扩展名'}”"
            f"（支持：{'、'.join(ALLOWED_SUFFIXES)}）"
        )
    return suffix


def _parse_field_map(raw: str | None) -> dict[str, str] | None:
    """Parse the ``field_map`` form field: a JSON object of file column -> canonical field."""
    if raw is None or not raw.strip():
        return None
    try:
        mapping = json.loads(raw)
    except ValueError as exc:
        raise InvalidRequestError(
            '字段 field_map：应为 JSON 对象，例如 {"管径": "outer_diameter_mm"}'
        ) from exc
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise InvalidRequestError(
            "字段 field_map：应为“文件字段名: 标准字段名”的 JSON 对象，键和值都是文本"
        )
    if len(mapping) > MAX_FIELD_MAP_ENTRIES:
        raise InvalidRequestError(f"字段 field_map：最多 {MAX_FIELD_MAP_ENTRIES} 项")
    return mapping


def _save_upload(upload: UploadFile, target: Path, limit: int) -> None:
    """Copy the upload to ``target`` in chunks; 413 as soon as it passes ``limit`` bytes."""
    written = 0
    with target.open("wb") as out:
        while chunk := upload.file.read(CHUNK_BYTES):
            written += len(chunk)
            if written > limit:
                raise HTTPException(413, f"上传文件过大（超过上限 {limit:,} 字节）")
            out.write(chunk)


def _renamed(exc: InputFileError, name: str, tmp: str) -> InputFileError:
    """Return the error naming the client's file instead of our temporary copy."""
    problems = [
        FeatureProblem(p.row, p.feature_id, p.field,
                       p.message.replace(tmp, "").replace("--replace", "replace=true"))
        for p in exc.problems
    ]
    return InputFileError(name, problems)


def _import(kind: str):
    def import_file(
        request: Request,
        session: SessionDep,
        access: Access,
        file: Annotated[UploadFile, File(description=FILE_HELP)],
        crs: Annotated[str | None, Form(max_length=64, description=CRS_HELP)] = None,
        encoding: Annotated[str | None, Form(max_length=32, description="文本编码，如 GBK")] = None,
        layer: Annotated[str | None, Form(max_length=128, description=LAYER_HELP)] = None,
        replace: Annotated[bool, Form(description=REPLACE_HELP)] = False,
        field_map: Annotated[str | None, Form(max_length=20000, description=FIELD_MAP_HELP)] = None,
    ):
        settings = request.app.state.settings
        name = _display_name(file.filename)
        suffix = _safe_suffix(file.filename)
        mapping = _parse_field_map(field_map)
        with tempfile.TemporaryDirectory(prefix="gisapp-import-") as tmp:  # mode 0700
            target = Path(tmp) / f"upload{suffix}"
            _save_upload(file, target, settings.max_upload_bytes)
            try:
                result = read_layer(
                    target, kind, crs=crs or None, field_map=mapping, encoding=encoding or None,
                    layer=layer or None, margin_m=settings.district_margin_m,
                    max_bytes=settings.max_upload_bytes,
                )
            except InputFileError as exc:
                raise _renamed(exc, name, tmp) from None
            try:
                outcome = import_and_screen(
                    session, kind, result.frame, write_ctx(request, access), replace=replace,
                    source_name=name, source_sha256=file_sha256(target),
                    source_crs=result.source_crs, notes=result.notes,
                )
            except InputFileError as exc:
                raise _renamed(exc, name, tmp) from None
        report = outcome.report
        body = {
            "layer": kind, "batch_id": report.batch_id, "imported": report.inserted,
            "replaced": report.replaced, "notes": report.notes, "source_crs": result.source_crs,
            "new_conflicts": len(outcome.conflict_ids), "new_alerts": outcome.new_alerts,
        }
        return JSONResponse(body, status_code=201)

    import_file.__doc__ = (
        f"批量导入{LAYER_ZH[kind]}文件（multipart 上传，字段 file）：全部成功或全部不导入，"
        "同一事务内完成缓冲区筛查并产生告警；返回导入报告。"
    )
    # Set here, not in the signature: the string annotations are resolved in the
    # module's globals, where ``kind`` is unknown.
    import_file.__annotations__["access"] = Annotated[Access, allow(f"{ENTITY[kind]}.import")]
    return import_file


for _kind in ("pipelines", "projects"):
    router.add_api_route(
        f"/{_kind}/import", _import(_kind), methods=["POST"], status_code=201,
        name=f"import_{_kind}",
        responses={413: {"description": "上传文件过大"},
                   422: {"description": "文件有误，未导入任何数据"}},
    )
