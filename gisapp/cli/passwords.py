"""Reading a password on the command line without putting it in ``ps`` or the shell history.

``--password VALUE`` is visible to every local user in the process list while the
command runs and stays in the shell history: it still works (scripts rely on it) but
warns. The safe ways are a hidden prompt on a terminal (typed twice) and
``--password-stdin`` (one line from standard input, for scripts and pipes).
"""

from __future__ import annotations

import sys

import typer

from gisapp.cli.errors import CliUsageError

WARN_ARGV = ("警告：--password 的值会出现在进程列表（ps）和 shell 历史中，"
             "请改用 --password-stdin 或在终端中按提示输入。")


def read_password(given: str | None, from_stdin: bool, *, prompt: str = "密码") -> str:
    """Return the password from the option (with a warning), standard input or a hidden prompt."""
    if given is not None and from_stdin:
        raise CliUsageError("--password 与 --password-stdin 不能同时使用")
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password.removesuffix("\r")
        if not password:
            raise CliUsageError("--password-stdin：标准输入中没有读到密码（应为一行）")
        return password
    if given is not None:
        typer.echo(WARN_ARGV, err=True)
        return given
    if not sys.stdin.isatty():
        raise CliUsageError("缺少密码：请在终端中按提示输入，或用 --password-stdin 从标准输入读取")
    return typer.prompt(prompt, hide_input=True, confirmation_prompt=f"再次输入{prompt}以确认")
