"""Find a Chinese TrueType font for the PDF and the static maps, at run time.

reportlab embeds TrueType outlines only, so the CFF-based Noto CJK collections do not
qualify; WenQuanYi Zen Hei (Debian ``fonts-wqy-zenhei``) does, and so does any other
CJK font with TrueType outlines that fontconfig lists.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from maps.report.errors import ReportFontError

DEBIAN_PACKAGE = "fonts-wqy-zenhei"
PREFERRED = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
)
PDF_FONT_NAME = "ReportCJK"


@dataclass(frozen=True)
class CjkFont:
    """A font file and the face inside it (collections hold several)."""

    path: Path
    index: int = 0


def _fontconfig_candidates() -> list[Path]:
    if shutil.which("fc-list") is None:
        return []
    try:
        out = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    files = {Path(line.split(":")[0].strip()) for line in out.splitlines() if line.strip()}
    return sorted(p for p in files if p.suffix.lower() in (".ttf", ".ttc"))


def _embeddable(font: CjkFont) -> bool:
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    try:
        TTFont("probe", str(font.path), subfontIndex=font.index)
    except (TTFError, OSError, ValueError):
        return False
    return True


@lru_cache(maxsize=1)
def find_cjk_font() -> CjkFont:
    """Return an installed Chinese font with TrueType outlines, or raise ``ReportFontError``."""
    for path in (*PREFERRED, *_fontconfig_candidates()):
        font = CjkFont(path)
        if path.is_file() and _embeddable(font):
            return font
    raise ReportFontError(
        "未找到可嵌入 PDF 的中文 TrueType 字体。请安装 Debian 软件包 "
        f"{DEBIAN_PACKAGE}（apt-get install -y {DEBIAN_PACKAGE}）后重试。"
    )


@lru_cache(maxsize=1)
def register_pdf_font() -> str:
    """Register the Chinese font with reportlab (embedded as a subset); return its name."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    font = find_cjk_font()
    pdfmetrics.registerFont(TTFont(PDF_FONT_NAME, str(font.path), subfontIndex=font.index))
    return PDF_FONT_NAME


@lru_cache(maxsize=1)
def matplotlib_font():
    """Return matplotlib ``FontProperties`` for the Chinese font."""
    from matplotlib import font_manager

    font = find_cjk_font()
    font_manager.fontManager.addfont(str(font.path))
    return font_manager.FontProperties(fname=str(font.path))
