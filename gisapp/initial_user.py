"""The first account's password file (``<data dir>/initial-user.txt``), kept only until changed.

``gisapp quickstart`` creates the first gas office account with a random password and
writes it here (mode 0600) so that it is not lost with the terminal. The file is
deleted as soon as that account changes its password (``POST /api/auth/password``);
until then every quickstart reminds the operator to change it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FILE_NAME = "initial-user.txt"


def credentials_path(data_dir: Path) -> Path:
    """Return where the first account's password is kept."""
    return Path(data_dir) / FILE_NAME


def write(data_dir: Path, username: str, password: str) -> Path:
    """Write the first account's credentials, readable by the owner only; return the path."""
    path = credentials_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(f"username: {username}\npassword: {password}\n"
                  "# 首次登录后请立即修改密码（POST /api/auth/password）；修改后本文件自动删除。\n")
    path.chmod(0o600)
    return path


def pending_username(data_dir: Path) -> str | None:
    """Return the username whose initial password is still on file, or None."""
    try:
        first = credentials_path(data_dir).read_text(encoding="utf-8").splitlines()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    return first.removeprefix("username: ").strip() or None


def forget(data_dir: Path, username: str) -> bool:
    """Delete the file if it holds ``username``'s initial password; return whether it did."""
    if pending_username(data_dir) != username:
        return False
    with contextlib.suppress(FileNotFoundError):
        credentials_path(data_dir).unlink()
    return True
