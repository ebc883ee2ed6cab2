"""Text decoding of input files: UTF-8 (with or without BOM), else GBK/GB18030."""

from __future__ import annotations

import codecs
from pathlib import Path

from layers.io.errors import file_error

# Code pages written into Shapefile .cpg files by Chinese GIS software, as Python codecs.
_CODE_PAGES = {
    "936": "gbk",
    "cp936": "gbk",
    "gb2312": "gbk",
    "gbk": "gbk",
    "gb18030": "gb18030",
    "54936": "gb18030",
    "65001": "utf-8",
    "utf8": "utf-8",
    "utf-8": "utf-8",
    "950": "big5",
    "big5": "big5",
    "1252": "cp1252",
    "88591": "latin-1",
    "8859-1": "latin-1",
    "iso-8859-1": "latin-1",
    "iso88591": "latin-1",
    "ansi 1252": "cp1252",
}


def codec_name(name: str, source: str | Path) -> str:
    """Return the Python codec for an encoding or code page name (``GBK``, ``936``)."""
    key = name.strip().lower()
    key = _CODE_PAGES.get(key, key)
    try:
        return codecs.lookup(key).name
    except LookupError as exc:
        raise file_error(
            source, f"无法识别的文本编码“{name}”（可用：UTF-8、GBK、GB18030 等）"
        ) from exc


def _where(data: bytes, offset: int) -> str:
    """Return 'line N, byte offset M' for a position in raw bytes."""
    line = data.count(b"\n", 0, offset) + 1
    return f"第 {line} 行，字节偏移 {offset}"


def decode_text(data: bytes, source: str | Path, encoding: str | None = None) -> tuple[str, str]:
    """Return (text, codec) of a file's bytes: given encoding, else UTF-8 then GB18030."""
    if encoding is not None:
        codec = codec_name(encoding, source)
        try:
            return data.decode(codec).removeprefix("\ufeff"), codec
        except UnicodeDecodeError as exc:
            raise file_error(
                source, f"按指定编码 {encoding} 无法解码（{_where(data, exc.start)}）"
            ) from exc
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16").removeprefix("\ufeff"), "utf-16"
        except UnicodeDecodeError as exc:
            raise file_error(source, f"UTF-16 文本无法解码（字节偏移 {exc.start}）") from exc
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as utf8_error:
        try:
            # GB18030 is a superset of GBK and GB2312.
            return data.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            raise file_error(
                source,
                f"文本既不是 UTF-8 也不是 GBK/GB18030 编码（{_where(data, utf8_error.start)}），"
                "请转换为 UTF-8 或用 encoding 参数指定编码",
            ) from utf8_error


def is_utf8_file(path: Path) -> bool:
    """Return True when a file's bytes are valid UTF-8, read in chunks (large files)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as fh:
        try:
            while chunk := fh.read(1 << 24):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def sniff_dbf_encoding(dbf: Path) -> str:
    """Return the codec of a .dbf without .cpg: UTF-8 when its records decode, else GB18030."""
    data = dbf.read_bytes()
    header_len = int.from_bytes(data[8:10], "little") if len(data) >= 10 else 0
    # Field names live in 32-byte descriptors after the 32-byte header; records follow.
    names = b" ".join(
        data[i : i + 11].split(b"\0")[0] for i in range(32, max(header_len - 1, 32), 32)
    )
    text = names + b" " + data[header_len:].rstrip(b"\x1a")
    for codec in ("utf-8", "gb18030"):
        try:
            text.decode(codec)
        except UnicodeDecodeError:
            continue
        return codec
    return "latin-1"
