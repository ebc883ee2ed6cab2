"""The ``gisapp`` command line: one Typer app, one module per command group."""

from __future__ import annotations

import importlib
import sys

import typer
from pydantic import ValidationError

from spatial_rules.errors import DomainError

# Command (first argument) -> the module that defines it. Only that module is imported
# for a run, so ``gisapp screen`` does not pay for matplotlib or the web stack.
COMMAND_MODULES = {
    "import": "data_cmds",
    "export": "data_cmds",
    "sample": "sample_cmds",
    "quickstart": "quickstart_cmds",
    "summary": "quickstart_cmds",
    "screen": "screen_cmds",
    "campaign": "campaign_cmds",
    "serve": "service_cmds",
    "user": "service_cmds",
    "permits": "service_cmds",
    "report": "report_cmds",
    "calendar": "procedure_cmds",
    "org": "procedure_cmds",
    "rules": "rules_cmds",
    "crs": "crs_cmds",
}


def build_app(command: str | None = None) -> typer.Typer:
    """Return the CLI with the module of ``command`` registered (all of them when None)."""
    from gisapp.cli import db as db_cmds

    cli = typer.Typer(
        name="gisapp",
        help="崇明区燃气管道保护 GIS：施工项目与燃气管道保护范围的空间筛查。",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    cli.add_typer(db_cmds.app, name="db")
    wanted = COMMAND_MODULES.get(command or "")
    for module_name in dict.fromkeys(COMMAND_MODULES.values()):
        if wanted is None or module_name == wanted:
            module = importlib.import_module(f"gisapp.cli.{module_name}")
            module.register(cli)
    return cli


def __getattr__(name: str):
    """``gisapp.cli.app``: the full CLI, built on first use (tests, documentation)."""
    if name == "app":
        return build_app()
    raise AttributeError(name)


def _serve_configured_jurisdiction() -> None:
    """Extent checks, messages and maps of this run follow ``GISAPP_JURISDICTION`` (or .env)."""
    from gisapp.settings import Settings
    from layers.district import use_jurisdiction

    use_jurisdiction(Settings().jurisdiction)


def main() -> None:
    """Run the CLI; domain errors become a one-line Chinese message and exit code 2."""
    try:
        # Without standalone mode click returns Exit codes instead of raising them.
        command = sys.argv[1] if len(sys.argv) > 1 else None
        _serve_configured_jurisdiction()
        result = build_app(command)(standalone_mode=False)
    except DomainError as err:
        typer.secho(f"错误：{err}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except ValidationError as err:  # settings from the environment or .env
        for problem in err.errors():
            where = ".".join(str(p) for p in problem.get("loc", ())) or "设置"
            typer.secho(f"配置有误：{where}：{problem.get('msg')}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.secho("已中止。", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as err:  # the user must never see a traceback
        # Usage errors (unknown option, bad value) carry their own message and code;
        # Typer vendors click, so recognise them by their interface.
        if hasattr(err, "show") and hasattr(err, "exit_code"):
            err.show()
            sys.exit(err.exit_code)
        typer.secho(f"内部错误（{type(err).__name__}）：{err}", fg=typer.colors.RED, err=True)
        sys.exit(1)
    code = result if isinstance(result, int) else 0
    if command in EXIT_WITHOUT_TEARDOWN:
        _exit_without_teardown(code)
    sys.exit(code)


# Commands that end holding a city-size screen in memory: freeing a million GEOS
# geometries one by one at exit took 0.2-0.4 s of a 3 s run, for memory the operating
# system takes back at once. Their files are closed by then (written under ``with``).
EXIT_WITHOUT_TEARDOWN = frozenset({"screen"})


def _exit_without_teardown(code: int) -> None:
    """Flush what is buffered and end the process without freeing its objects."""
    import logging
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)
