"""Render a workbench page: one Jinja2 environment, autoescaped, templates in this package."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from layers.services.permissions import ROLE_ZH, allowed
from vocabulary import PermitState, PressureClass, ProjectKind, ProjectStatus, Zone
from workbench.roles import MENU, home_of

ASSET_URL = "/assets"
# The vocabulary's Chinese words, handed to the pages' scripts as JSON (one word per concept).
VOCABULARY = {"zone": Zone.labels(), "pressure": PressureClass.labels(),
              "permit": PermitState.labels(), "status": ProjectStatus.labels(),
              "kind": ProjectKind.labels()}


def package_dir(name: str) -> Path:
    """Return a directory of this package (``templates`` or ``static``)."""
    return Path(str(resources.files("workbench").joinpath(name)))


@functools.cache
def environment() -> Environment:
    """Return the one template environment (HTML autoescaped, so user text is always text)."""
    env = Environment(loader=FileSystemLoader(package_dir("templates")),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.globals["asset"] = lambda path: f"{ASSET_URL}/{path}"
    env.globals["MAP_ASSET"] = lambda path: f"/static/{path}"
    return env


def render_page(template: str, *, user=None, csrf: str = "", path: str = "/", **context) -> str:
    """Return the HTML of a page for ``user`` (None on the login page)."""
    menu = MENU.get(user.role, ()) if user is not None else ()
    return environment().get_template(template).render(
        user=user, role_zh=ROLE_ZH.get(getattr(user, "role", ""), ""), menu=menu, csrf=csrf,
        path=path, can_token=user is not None and allowed(user, "account.token"),
        home=home_of(getattr(user, "role", "")), vocabulary=VOCABULARY, **context)


def static_file(relative: str) -> Path | None:
    """Return the asset at ``relative`` under ``static``, or None if outside or missing."""
    root = package_dir("static").resolve()
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate
