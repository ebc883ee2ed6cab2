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
from gisapp.api.limits import NUL_TEXT, storable_text
from gisapp.api.uploads import VertexCounter, vertex_limit_message
from layers.importer import file_sha256
from layers.io import FeatureProblem, InputFileError, read_layer
from layers.io.crs_input import LocalGridCrs
from layers.io.dxf import DxfOptions
from layers.services.errors import InvalidRequestError
from layers.services.imports import ENTITY, import_and_screen
from layers.services.local_grids import load_grid
from layers.services.permissions import Access
from layers.services.site_limits import limits_for

router = APIRouter(prefix="/api", tags=["imports"])

ALLOWED_SUFFIXES = (".geojson", ".json", ".gpkg", ".zip", ".csv", ".kml", ".kmz", ".dxf", ".xlsx", ".xls")
LAYER_ZH = {"pipelines": "燃气管道", "projects": "施工项目"}
CHUNK_BYTES = 1 << 20
MAX_FIELD_MAP_ENTRIES = 200
_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f/\\]")
FILE_HELP = "GeoJSON、GeoPackage、Shapefile 压缩包（.zip）、CSV、KML/KMZ、DXF 或 Excel（.xlsx/.xls）"
CRS_HELP = "输入坐标系，如 4326、4549、4528、gcj02、bd09、local:名称；默认取文件自带坐标系（DXF 必填）"
CAD_LAYER_HELP = "DXF：只读这些 CAD 图层（逗号分隔）"
CODE_FROM_HELP = "DXF：编号来源 layer、text、text:图层名 或 attrib:属性标记"
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


def _save_upload(upload: UploadFile, target: Path, limit: int, max_vertices: int | None = None,
                 role: str = "") -> None:
    """Copy the upload to ``target`` in chunks; 413 as soon as it passes ``limit`` bytes.

    A GeoJSON upload is also refused (413) as soon as it has more vertices than
    ``max_vertices`` (``gisapp.api.uploads.VertexCounter``), before it is parsed.
    """
    written = 0
    counter = VertexCounter() if max_vertices is not None and target.suffix in (".geojson", ".json") else None
    with target.open("wb") as out:
        while chunk := upload.file.read(CHUNK_BYTES):
            written += len(chunk)
            if written > limit:
                raise HTTPException(413, f"上传文件过大（超过上限 {limit:,} 字节）")
            if counter is not None and max_vertices is not None and counter.feed(chunk) > max_vertices:
                raise HTTPException(413, vertex_limit_message(counter.count, max_vertices, role))
            out.write(chunk)


# The readers speak the command line's options; the API's form fields are named without "--".
_CLI_TO_FORM = (("--replace", "replace=true"), ("--crs ", "crs="), ("--crs", "crs"),
                ("--code-from", "code_from"), ("--cad-layer", "cad_layer"))


def _api_words(message: str) -> str:
    for cli, form in _CLI_TO_FORM:
        message = message.replace(cli, form)
    return message


def _renamed(exc: InputFileError, name: str, tmp: str) -> InputFileError:
    """Return the error naming the client's file instead of our temporary copy."""
    problems = [
        FeatureProblem(p.row, p.feature_id, p.field,
                       _api_words(p.message.replace(tmp, "")))
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
        cad_layer: Annotated[str | None, Form(max_length=2000, description=CAD_LAYER_HELP)] = None,
        code_from: Annotated[str | None, Form(max_length=200, description=CODE_FROM_HELP)] = None,
    ):
        settings = request.app.state.settings
        for field, value in (("crs", crs), ("encoding", encoding), ("layer", layer),
                             ("field_map", field_map)):
            if value is not None and not storable_text(value):
                raise InvalidRequestError(f"字段 {field} {NUL_TEXT}")
        name = _display_name(file.filename)
        suffix = _safe_suffix(file.filename)
        mapping = _parse_field_map(field_map)
        with tempfile.TemporaryDirectory(prefix="gisapp-import-") as tmp:  # mode 0700
            target = Path(tmp) / f"upload{suffix}"
            role = access.actor.role
            _save_upload(file, target, settings.max_upload_bytes,
                         limits_for(settings, role).max_import_vertices, role)
            try:
                source_crs: str | LocalGridCrs | None = crs or None
                if crs and crs.strip().lower().startswith("local:"):
                    source_crs = load_grid(session, crs)
                cad = DxfOptions(tuple(x.strip() for x in (cad_layer or "").split(",") if x.strip()),
                                 code_from or None)
                result = read_layer(
                    target, kind, crs=source_crs, field_map=mapping, encoding=encoding or None,
                    layer=layer or None, margin_m=settings.district_margin_m,
                    max_bytes=settings.max_upload_bytes, cad=cad,
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
