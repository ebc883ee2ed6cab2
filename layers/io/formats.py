"""Input format detection and guards: local files only, size limits, safe zip extraction.

GDAL opens far more than plain files: ``/vsicurl/`` URLs, ``.vrt`` files that point
at any local path, connection strings. Only local files of the formats below are
accepted, their first bytes must match the format, and archives are extracted by
us (never through ``/vsizip/``) after checking every member.
"""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path, PurePosixPath

from layers.io.errors import FeatureProblem, InputFileError, file_error

FORMATS: dict[str, str] = {
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpkg": "gpkg",
    ".zip": "shapefile_zip",
    ".shp": "shapefile",
    ".csv": "csv",
    ".kml": "kml",
    ".kmz": "kmz",
    ".dxf": "dxf",
    ".xlsx": "xlsx",
    ".xls": "xls",
}
MAX_ARCHIVE_MEMBERS = 1000
MAX_COMPRESSION_RATIO = 100
# Small members compress extremely well (padding in a .dbf); the ratio guard starts here.
RATIO_CHECK_MIN_BYTES = 1 << 20
_COPY_CHUNK = 1 << 20
_URL_RE = re.compile(r"^[a-z][a-z0-9+.\-]*://", re.IGNORECASE)
_ARCHIVE_SUFFIXES = (".zip", ".7z", ".rar", ".gz", ".tgz", ".tar", ".bz2", ".xz", ".kmz")
SHAPEFILE_SIDECARS = (".shx", ".dbf")


def _size_text(n_bytes: int) -> str:
    """Return a size for messages: bytes below 1 MB, else MB."""
    return f"{n_bytes:,} 字节" if n_bytes < 1_000_000 else f"{n_bytes / 1_000_000:.1f} MB"


def check_input_path(path: str | Path, max_bytes: int) -> tuple[Path, str]:
    """Return the resolved local file and its format, or raise InputFileError."""
    text = str(path)
    low = text.strip().lower()
    if low.startswith("/vsi") or _URL_RE.match(low):
        raise file_error(text, f"不接受 GDAL 虚拟路径或网址“{text}”：只能读取本机上的文件")
    if low.endswith(".vrt") or low.endswith(".ovf"):
        raise file_error(text, "不接受 GDAL 虚拟数据集（.vrt）：它可以引用任意本地文件或网络资源")
    file = Path(text).expanduser()
    suffix = file.suffix.lower()
    fmt = FORMATS.get(suffix)
    if fmt is None:
        known = "、".join(FORMATS)
        raise file_error(text, f"不支持的文件格式“{suffix or '无扩展名'}”（支持：{known}）")
    if not file.exists():
        raise file_error(text, "文件不存在")
    if not file.is_file():
        raise file_error(text, "不是普通文件")
    size = file.stat().st_size
    if fmt == "shapefile":
        size += sum(side.stat().st_size for side in _sidecars(file).values() if side is not None)
    if size > max_bytes:
        raise file_error(text, f"文件大小 {_size_text(size)} 超过上限 {_size_text(max_bytes)}")
    if size == 0:
        raise file_error(text, "文件为空（0 字节）")
    _check_magic(file, fmt)
    resolved = file.resolve()
    if str(resolved).lower().startswith("/vsi"):
        raise file_error(text, "不接受 GDAL 虚拟路径：只能读取本机上的文件")
    return resolved, fmt


def _check_magic(file: Path, fmt: str) -> None:
    """Refuse a file whose first bytes do not match its extension (e.g. a VRT named .json)."""
    with file.open("rb") as fh:
        head = fh.read(4096)
    ok = True
    if fmt == "geojson":
        stripped = head.removeprefix(b"\xef\xbb\xbf").lstrip()
        ok = stripped.startswith(b"{") or not stripped
    elif fmt == "gpkg":
        ok = head.startswith(b"SQLite format 3\x00")
    elif fmt == "shapefile":
        ok = head[:4] == b"\x00\x00\x27\x0a"
    elif fmt in ("shapefile_zip", "kmz", "xlsx"):
        ok = head.startswith(b"PK")
    elif fmt == "kml":
        ok = head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<")
    elif fmt == "xls":
        ok = head.startswith(b"\xd0\xcf\x11\xe0")
    elif fmt == "dxf":
        stripped = head.lstrip()
        ok = head.startswith(b"AutoCAD Binary DXF") or stripped.startswith((b"0", b"999"))
    if not ok:
        names = {
            "geojson": "GeoJSON（应以 { 开头）",
            "gpkg": "GeoPackage",
            "shapefile": "Shapefile",
            "shapefile_zip": "zip 压缩包",
            "kml": "KML（XML 文本）",
            "kmz": "KMZ（zip 压缩的 KML）",
            "xlsx": "Excel 工作簿（.xlsx）",
            "xls": "Excel 97-2003 工作簿（.xls）",
            "dxf": "DXF 图形交换文件",
        }
        raise file_error(file, f"文件内容不是 {names[fmt]}，与扩展名不符")


def _sidecars(shp: Path) -> dict[str, Path | None]:
    """Return the .shx/.dbf/.prj/.cpg files next to a .shp (any case), None when absent."""
    found: dict[str, Path | None] = dict.fromkeys((*SHAPEFILE_SIDECARS, ".prj", ".cpg"))
    for candidate in shp.parent.iterdir():
        if candidate.stem == shp.stem and candidate.suffix.lower() in found:
            found[candidate.suffix.lower()] = candidate
    return found


def shapefile_sidecars(shp: Path) -> dict[str, Path | None]:
    """Return the sidecar files of a .shp, raising when .shx or .dbf is missing."""
    found = _sidecars(shp)
    missing = [s for s in SHAPEFILE_SIDECARS if found[s] is None]
    if missing:
        raise file_error(
            shp, f"Shapefile 缺少配套文件 {'、'.join(missing)}（需与 .shp 同名放在一起）"
        )
    return found


def _unsafe_name(name: str) -> str | None:
    """Return why an archive member name is unsafe, or None."""
    if "\x00" in name:
        return "文件名含空字符"
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[a-zA-Z]:", norm):
        return "绝对路径"
    if ".." in PurePosixPath(norm).parts:
        return "路径穿越（../）"
    return None


def extract_zip_safely(archive: Path, dest: Path, max_bytes: int, *, needs: str = ".shp") -> None:
    """Extract a zipped Shapefile (or KMZ: ``needs=".kml"``) into ``dest`` after checking every member."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise file_error(archive, f"不是有效的 zip 压缩包（{exc}）") from exc
    with zf:
        members = zf.infolist()
        problems: list[FeatureProblem] = []

        def reject(member: str, message: str) -> None:
            problems.append(FeatureProblem(None, None, None, f"压缩包成员“{member}”：{message}"))

        if len(members) > MAX_ARCHIVE_MEMBERS:
            raise file_error(
                archive, f"压缩包含 {len(members)} 个文件，超过上限 {MAX_ARCHIVE_MEMBERS}"
            )
        total = 0
        for info in members:
            why = _unsafe_name(info.filename)
            if why:
                reject(info.filename, f"{why}，已拒绝")
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                reject(info.filename, "是符号链接，已拒绝")
            if info.filename.lower().endswith(_ARCHIVE_SUFFIXES):
                reject(info.filename, "压缩包内嵌套压缩包，已拒绝")
            if info.flag_bits & 0x1:
                reject(info.filename, "已加密，无法读取")
            total += info.file_size
            if (
                info.file_size >= RATIO_CHECK_MIN_BYTES
                and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1)
            ):
                ratio = info.file_size / max(info.compress_size, 1)
                reject(
                    info.filename,
                    f"压缩比 {ratio:.0f}:1 超过 {MAX_COMPRESSION_RATIO}:1，疑似 zip 炸弹，已拒绝",
                )
        if total > max_bytes:
            problems.append(
                FeatureProblem(
                    None,
                    None,
                    None,
                    f"解压后大小 {_size_text(total)} 超过上限 {_size_text(max_bytes)}",
                )
            )
        if problems:
            raise InputFileError(archive, problems)
        if not any(i.filename.lower().endswith(needs) for i in members):
            what = "只支持压缩的 Shapefile" if needs == ".shp" else "KMZ 应包含 doc.kml"
            raise file_error(archive, f"压缩包中没有 {needs} 文件（{what}）")
        _copy_members(zf, members, archive, dest, max_bytes)


def _copy_members(
    zf: zipfile.ZipFile, members: list[zipfile.ZipInfo], archive: Path, dest: Path, max_bytes: int
) -> None:
    """Stream members to disk, counting real bytes: declared sizes in a zip can lie."""
    written = 0
    root = dest.resolve()
    for info in members:
        if info.is_dir():
            continue
        target = (root / info.filename.replace("\\", "/")).resolve()
        if root not in target.parents:
            raise file_error(archive, f"压缩包成员“{info.filename}”：路径穿越，已拒绝")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with zf.open(info) as src, target.open("wb") as out:
                while chunk := src.read(_COPY_CHUNK):
                    written += len(chunk)
                    if written > max_bytes:
                        raise file_error(
                            archive,
                            f"解压后大小超过上限 {_size_text(max_bytes)}，疑似 zip 炸弹，已拒绝",
                        )
                    out.write(chunk)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise file_error(archive, f"压缩包成员“{info.filename}”损坏（{exc}）") from exc


def pick_shapefile(folder: Path, archive: Path, layer: str | None) -> Path:
    """Return the one .shp in an extracted archive, or the one named ``layer``."""
    shps = sorted(p for p in folder.rglob("*") if p.suffix.lower() == ".shp" and p.is_file())
    if layer is not None:
        chosen = [p for p in shps if p.stem == layer or p.name == layer]
        if not chosen:
            names = "、".join(p.stem for p in shps)
            raise file_error(archive, f"压缩包中没有图层“{layer}”（现有：{names}）")
        return chosen[0]
    if len(shps) > 1:
        names = "、".join(p.stem for p in shps)
        raise file_error(archive, f"压缩包中有多个 Shapefile：{names}，请用 layer 参数指定一个")
    return shps[0]
