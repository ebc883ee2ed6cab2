"""Which district's rows a transaction sees: the setting row-level security keys on.

The data tables (projects, pipelines and what hangs on them) are under PostgreSQL
row-level security, forced also for their owner (migration 0013). A row is visible when
the transaction-local setting ``gisapp.district`` is ``*`` (city-wide) or the row's
district adcode. A request sets it in the same statement that checks its token
(``layers.services.users.user_for_token``), from the user's ``district`` (NULL: the whole
jurisdiction the deployment serves, ``*``); background jobs, the CLI and screening set
city-wide explicitly. A connection that set nothing sees nothing of the data tables.
On the server's connections, seeing the whole jurisdiction also takes the role
``gisapp_city`` (``CITY_ROLE``, BYPASSRLS) for the rest of the transaction; a district
stays ``gisapp_app``, bound by the policies (``gisapp_ref.see``, migration 0013).

A district's read-only database role (``gisapp db up --district-role CODE``) for a
direct SQL session (desktop GIS) carries a RESTRICTIVE policy too: it sees only its
district whatever it sets.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from layers.jurisdictions import CITY_CODE, JurisdictionError, jurisdiction
from layers.services.errors import InvalidRequestError

SETTING = "gisapp.district"
CITY_WIDE = "*"
APP_ROLE = "gisapp_app"
# What a transaction that sees the whole jurisdiction acts as: it bypasses row-level
# security (the planner cannot tell that the policies' '*' test is true, and misjudged
# joins by 50x), while a district's transaction stays gisapp_app, bound by the policies.
CITY_ROLE = "gisapp_city"
# The tables whose rows carry a district, and those whose rows follow their project.
FEATURE_TABLES = ("construction_project", "gas_pipeline")
# Rows hanging on a project (or on a damage report) carry their parent's district in a
# column of their own, filled and kept by the database (migration 0018), so that their
# policy is a plain comparison an index serves, not a subquery per row. A conflict's is
# its site's (its project's), wherever the pipe lies.
FOLLOWS_PROJECT = (
    "pipeline_conflict", "alert", "inspection", "spot_check_pick", "project_review",
    "answer_letter", "start_notice", "violation", "permit", "owner_review", "supervision_visit",
    "permit_event", "hazard", "inspection_key_item", "evidence_file", "procedure_document",
    "notification",
)
# A notification about neither a project nor a damage report (an account matter) has no
# district: the service shows it to its user only.
UNDISTRICTED = {"notification": "project_id IS NULL AND entity IS DISTINCT FROM 'damage_report'"}
# A pipeline of another district is read when a visible project conflicts with it
# (migration 0013's SELECT policy on gas_pipeline).
CROSSING = "EXISTS (SELECT 1 FROM pipeline_conflict c WHERE c.pipeline_id = gas_pipeline.id)"
# Tables whose rows carry their own district column (a damage report's is its location's;
# a spot-check plan's is the office's that drew it, NULL for the whole deployment).
DISTRICT_COLUMN_TABLES = (*FEATURE_TABLES, "damage_report", *FOLLOWS_PROJECT, "spot_check_plan")
# project_map_state (migration 0022): its policy shows a row only with its project.
# The generalised network of the low-zoom tiles (migration 0026) and its pending keys.
MAP_CACHE_TABLES = ("project_map_state", "pipeline_overview", "pipeline_overview_change")
RLS_TABLES = (*DISTRICT_COLUMN_TABLES, *MAP_CACHE_TABLES)
# SQL of the district this transaction sees (its setting), NULL when city-wide: what
# belongs to the office that sees it, such as its spot-check plans (district NULL: the
# whole deployment's), is picked by it, so every caller gets its own scope's rows.
SEEN_DISTRICT = "nullif(current_setting('gisapp.district', true), '*')"
# Not under row-level security, and why (tests/api/test_api_districts.py checks that every
# table is in one list or the other, so a new table is decided, not forgotten):
NOT_DISTRICT_DATA = {
    "app_user": "accounts: the token check reads them before any district is known; "
                "district-scoped admins manage their district's users only (users._check_within)",
    "api_token": "read by the token check itself, by digest",
    "personal_access_token": "read by the token check by digest, listed only to their owner",
    "login_failure": "rate limiting of logins, before any user is known",
    "user_change_request": "account requests, managed like app_user",
    "idempotency_record": "per user, keyed by the user's id",
    "audit_log": "written by every request, read by no route (the database's own record)",
    "outbox_message": "written inside requests, read only by the delivery job (city-wide); no route lists it",
    "import_batch": "file name, checksum and counts of an import: no feature data",
    "township": "reference geography of the whole jurisdiction, shown on every map",
    "rule_set_switch": "the rules in force: the same for every district",
    "organisation": "builders' and owners' contacts, printed on answer letters of any district",
    "calendar_day": "the office calendar: shared",
    "local_grid": "control-point grids for coordinate input: shared reference data",
    "alembic_version": "the migration revision",
    "district_area": "the districts' boundaries (schema gisapp_ref): public geography",
}
# What a district's read-only database login reads (desktop GIS): the layers and the
# procedure, not other users' inboxes nor stored documents.
DISTRICT_ROLE_READS = tuple(t for t in RLS_TABLES
                            if t not in ("notification", "procedure_document", *MAP_CACHE_TABLES))


def scope_value(district: str | None) -> str:
    """Return the setting for a user's district: its adcode, or ``*`` for the whole deployment."""
    return district or CITY_WIDE


def see(session: Session | Connection, district: str | None) -> None:
    """Let this transaction see ``district``'s rows (None: all, city-wide)."""
    # gisapp_ref.see (migration 0013) sets gisapp.district and, on the server's
    # connections, the role: gisapp_city for the whole jurisdiction, gisapp_app otherwise.
    session.execute(text("SELECT gisapp_ref.see(:d)"), {"d": district})


def see_city_wide(session: Session | Connection) -> None:
    """Let this transaction see every district's rows (background jobs, CLI, screening)."""
    see(session, None)


@contextmanager
def city_wide(session: Session | Connection, district: str | None) -> Iterator[None]:
    """Within the block, see every district (screening, answers); then ``district`` again.

    A write's screening reaches pipelines across a district's edge, and the answer
    letter lists them; what the request reads after that is its user's district again.
    An error leaves the setting as it is: the transaction is rolled back, and with it
    the transaction-local setting.
    """
    see_city_wide(session)
    yield
    see(session, district)


def check_district(value: str | None, field: str = "district") -> str | None:
    """Return the adcode of a user's district (name, alias or code), None for the whole jurisdiction."""
    if value is None or not str(value).strip():
        return None
    try:
        found = jurisdiction(str(value))
    except JurisdictionError as exc:
        raise InvalidRequestError(f"字段 {field}：{exc}") from exc
    return None if found.code == CITY_CODE else found.code


def district_name(code: str | None) -> str:
    """Return the Chinese name of a district adcode (the city's for None)."""
    return jurisdiction(code or CITY_CODE).name


def role_name(code: str) -> str:
    """Return the read-only database role of a district."""
    return f"gisapp_district_{code}"


def create_district_role(conn: Connection, code: str, password: str | None = None) -> tuple[str, str]:
    """Create or refresh the read-only login role of district ``code``; return (role, password).

    The role reads the data tables and the reference schema only; its default setting is
    its district, and a RESTRICTIVE policy per table keeps it there whatever it sets.
    """
    found = check_district(code, "--district-role")
    if found is None:
        raise InvalidRequestError("--district-role：须为一个区（如 310151 或 崇明区），不能是全市")
    code = found
    role = role_name(code)
    password = password or secrets.token_urlsafe(18)
    exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    verb = "ALTER" if exists else "CREATE"
    # Identifiers and the literal cannot be bound; both are built from checked values.
    quoted_password = password.replace("'", "''")
    conn.execute(text(f"{verb} ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '{quoted_password}'"))
    conn.execute(text(f"ALTER ROLE {role} SET {SETTING} = '{code}'"))
    conn.execute(text(f"GRANT USAGE ON SCHEMA public, gisapp_ref TO {role}"))
    conn.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA gisapp_ref TO {role}"))
    conn.execute(text(f"GRANT SELECT ON {', '.join(DISTRICT_ROLE_READS)}, township TO {role}"))
    restricted = dict.fromkeys(DISTRICT_COLUMN_TABLES, f"district = '{code}'")
    for table, extra in UNDISTRICTED.items():
        restricted[table] += f" OR ({extra})"
    # As for the server's role: pipelines its projects conflict with, across the edge too.
    restricted["gas_pipeline"] = f"district = '{code}' OR {CROSSING}"
    for table, using in restricted.items():
        conn.execute(text(f"DROP POLICY IF EXISTS {role} ON {table}"))
        conn.execute(text(f"CREATE POLICY {role} ON {table} AS RESTRICTIVE FOR SELECT TO {role} "
                          f"USING ({using})"))
    return role, password


_KIND_ZH = {"projects": "施工项目", "pipelines": "燃气管道", "damage_reports": "损坏位置"}


def check_in_district(actor, kind: str, geometry) -> str:
    """Return the district of a lon/lat geometry; refuse it outside a district-scoped actor's district.

    Row-level security would refuse the row too; this says why, in the caller's words.
    """
    from layers.district import district_of
    from layers.services.errors import PermissionDeniedError

    code = district_of(geometry)
    if actor.district is not None and code != actor.district:
        raise PermissionDeniedError(
            f"{_KIND_ZH.get(kind, '要素')}位于{district_name(code)}，超出本账号所辖的"
            f"{district_name(actor.district)}")
    return code


def check_all_in_district(actor, kind: str, codes: list[str], geometries) -> None:
    """Refuse a whole import when a feature lies outside a district-scoped actor's district."""
    from layers.district import district_of
    from layers.services.errors import PermissionDeniedError

    found = ((code, district_of(g)) for code, g in zip(codes, geometries, strict=True))
    outside = [(code, d) for code, d in found if d != actor.district]
    if outside:
        listed = "、".join(f"{code}（{district_name(d)}）" for code, d in outside[:5])
        more = f" 等 {len(outside)} 个" if len(outside) > 5 else ""
        raise PermissionDeniedError(
            f"{_KIND_ZH.get(kind, '要素')} {listed}{more}超出本账号所辖的{district_name(actor.district)}，"
            "整个文件未导入")
