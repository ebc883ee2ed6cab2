"""The ``gisapp`` command line: one Typer app, one module per command group."""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError

from spatial_rules.errors import DomainError

app = typer.Typer(
    name="gisapp",
    help="崇明区燃气管道保护 GIS：施工项目与燃气管道保护范围的空间筛查。",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    """Attach the command groups; each lives in its own module."""
    from gisapp.cli import db as db_cmds

    app.add_typer(db_cmds.app, name="db")
    for module_name in (
        "data_cmds", "sample_cmds", "quickstart_cmds", "screen_cmds", "campaign_cmds",
        "service_cmds", "report_cmds",
    ):
        try:
            module = __import__(f"gisapp.cli.{module_name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"gisapp.cli.{module_name}":
                raise
            continue
        module.register(app)


_register()


def main() -> None:
    """Run the CLI; domain errors become a one-line Chinese message and exit code 2."""
    try:
        # Without standalone mode click returns Exit codes instead of raising them.
        result = app(standalone_mode=False)
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
    sys.exit(result if isinstance(result, int) else 0)
