"""A read-only database role for desktop GIS (QGIS, ogr2ogr) on the GIS tables only.

GIS staff connect QGIS straight to PostGIS for analysis. The role reads the layers
(pipelines, projects, conflicts, permits, townships) and PostGIS's catalogue, and
nothing that holds a secret or a person (users, password hashes, tokens, audit log);
it can write nothing. Created or updated by ``gisapp db up --readonly-role NAME``.
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from spatial_rules.errors import DomainError

READABLE_TABLES = (
    "gas_pipeline", "construction_project", "pipeline_conflict", "permit", "township",
    "spatial_ref_sys",
)
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{1,62}$")


class RoleError(DomainError):
    """The role name or password given for the read-only role is not usable."""


def create_readonly_role(engine: Engine, name: str, password: str | None = None) -> str:
    """Create (or reset) role ``name`` with SELECT on the GIS tables; return its libpq URL."""
    if not _ROLE_NAME.match(name or ""):
        raise RoleError(f"参数 --readonly-role：角色名“{name}”无效"
                        "（须为 2–63 位小写字母、数字或下划线，且不以数字开头）")
    if password is not None and (len(password) < 12 or "\x00" in password):
        raise RoleError("参数 --readonly-password：密码至少 12 个字符")
    password = password or secrets.token_urlsafe(18)
    with engine.begin() as conn:
        current = conn.execute(text("SELECT current_user, current_database()")).one()
        if name == current[0]:
            raise RoleError(f"参数 --readonly-role：“{name}”是应用自己的数据库角色，不能改为只读")
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).first()
        # psycopg2 quotes the password client-side, so a bound value is safe in DDL.
        verb = "ALTER" if exists else "CREATE"
        conn.execute(text(f'{verb} ROLE "{name}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE '
                          "PASSWORD :p"), {"p": password})
        conn.execute(text(f'GRANT CONNECT ON DATABASE "{current[1]}" TO "{name}"'))
        conn.execute(text(f'GRANT USAGE ON SCHEMA public TO "{name}"'))
        conn.execute(text(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{name}"'))
        conn.execute(text(f"GRANT SELECT ON {', '.join(READABLE_TABLES)} TO \"{name}\""))
        conn.execute(text(f'GRANT SELECT ON geometry_columns, geography_columns TO "{name}"'))
        conn.execute(text(f'ALTER ROLE "{name}" SET default_transaction_read_only = on'))
        # The layers are under row-level security (migration 0013): this role reads the
        # whole deployment, as the city-wide setting says (district logins: --district-role).
        conn.execute(text(f'ALTER ROLE "{name}" SET gisapp.district = \'*\''))
    url = make_url(str(engine.url)).set(drivername="postgresql", username=name, password=password)
    return url.render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """Return ``url`` as libpq, psql, QGIS and ogr2ogr take it (``postgresql://``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
