"""All-or-nothing import of validated layers into PostGIS.

The reader (``layers.io.read_layer``) has already checked every feature; here the
rows go in with one COPY per chunk inside a single transaction, so either every
feature of the file is stored or none is. Codes already stored are an error unless
the user asked to replace them (``mode="replace"``): then the stored row is updated
in place (same id, so its conflicts, permits and alerts stay attached) and its old
values are written to the audit log.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import psycopg2
from sqlalchemy import text
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

import geopandas as gpd
import shapely

from campaign.export import quote_csv_cells
from layers.district import districts_of
from layers.io import FeatureProblem, InputFileError
from layers.io.errors import file_error
from layers.io.validate import promote_multi
from layers.schema import ID_FIELD, PIPELINE_FIELDS, PROJECT_FIELDS
from layers.services.actors import Actor
from layers.townships import check_project_townships, fill_townships
from spatial_rules.crs import STORAGE_EPSG

TABLES = {"pipelines": "gas_pipeline", "projects": "construction_project"}
COLUMNS = {"pipelines": list(PIPELINE_FIELDS), "projects": list(PROJECT_FIELDS)}
CHUNK_ROWS = 20_000
# COPY sends NULL explicitly, which bypasses column defaults: fill them here.
DEFAULTS: dict[str, dict[str, object]] = {
    "pipelines": {"status": "in_service"},
    "projects": {"hazardous": False, "insured": False},
}
MODES = ("insert", "replace")


@dataclass
class ImportReport:
    """What an import stored."""

    layer: str
    batch_id: int
    inserted: int
    replaced: int
    notes: list[str] = field(default_factory=list)


# Imports of at least this many rows refresh the table's planner statistics.
ANALYZE_AFTER_ROWS = 1000


def file_sha256(path: str | Path) -> str:
    """Return the SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def code_keys(frame, kind: str) -> list[tuple[str, str]]:
    """Each row's live-code key: (organisation or '', code) for projects, ('', code) for pipelines.

    A project's code is unique within its organisation (migration 0017), so a file may
    hold one code for two organisations and a replace touches only the row of the
    row's own organisation.
    """
    codes = [str(c) for c in frame[ID_FIELD[kind]].tolist()]
    if kind != "projects" or "organisation" not in frame.columns:
        return [("", c) for c in codes]
    orgs = ["" if o is None or o != o else str(o) for o in frame["organisation"].tolist()]  # o != o: NaN
    return list(zip(orgs, codes, strict=True))


def _existing_codes(session: Session, kind: str, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Return the keys (``code_keys``) of these that are live already."""
    table, code_col = TABLES[kind], ID_FIELD[kind]
    org = "coalesce(organisation, '')" if kind == "projects" else "''"
    found: set[tuple[str, str]] = set()
    for start in range(0, len(keys), 50_000):
        part = keys[start : start + 50_000]
        rows = session.execute(
            text(f"SELECT {org} AS org, {code_col} AS code FROM {table} WHERE deleted_at IS NULL "
                 f"AND {code_col} = ANY(:c) AND {org} = ANY(:o)"),
            {"c": sorted({c for _, c in part}), "o": sorted({o for o, _ in part})},
        ).all()
        found.update((r.org, r.code) for r in rows)
    return found & set(keys)


def _copy_text(value) -> str:
    """Render one value for COPY ... CSV (empty string stands for NULL)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return ""
    if isinstance(value, bool | np.bool_):
        return "t" if value else "f"
    return str(value)


def import_layer(
    session: Session,
    kind: str,
    frame: gpd.GeoDataFrame,
    *,
    source_name: str,
    source_sha256: str,
    source_crs: str,
    notes: list[str] | None = None,
    mode: str = "insert",
    actor: Actor | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Store a validated frame (EPSG:4490, canonical columns) in one transaction.

    The caller owns the transaction: commit on success, roll back on any error.
    ``actor`` names the batch and the audit rows of replaced features; without one, the
    OS user running this process (``cli:<user>``).
    """
    actor = actor or Actor.cli()
    if kind not in TABLES:
        raise file_error(source_name, f"未知图层“{kind}”（可用：pipelines、projects）")
    if mode not in MODES:
        raise file_error(source_name, f"未知导入模式“{mode}”（可用：insert、replace）")
    if frame.crs is None or frame.crs.to_epsg() != STORAGE_EPSG:
        raise ValueError("import_layer expects a frame in EPSG:4490 from layers.io.read_layer")
    code_col = ID_FIELD[kind]
    codes = [str(c) for c in frame[code_col].tolist()]
    if kind == "projects" and "township" in frame.columns:
        check_project_townships(session, [
            (int(r), str(c), None if t is None or t != t else str(t))  # t != t: NaN
            for r, c, t in zip(frame.index, codes, frame["township"].tolist(), strict=True)
        ], source_name)
    keys = code_keys(frame, kind)
    existing = _existing_codes(session, kind, keys)
    if existing and mode == "insert":
        rows = [r for r, key in zip(frame.index, keys, strict=True) if key in existing]
        problems = [
            FeatureProblem(
                row=int(r),
                feature_id=str(frame.at[r, code_col]),
                field=code_col,
                # A project's code is taken only within its own organisation: this
                # says nothing about other organisations' codes.
                message=("编号已被同一单位的项目使用（如需覆盖，请使用 --replace）" if kind == "projects"
                         else "编号已存在于数据库中（如需覆盖，请使用 --replace）"),
            )
            for r in rows
        ]
        raise InputFileError(source_name, problems)
    table = TABLES[kind]
    batch_id = session.execute(
        text(
            "INSERT INTO import_batch (layer, source_name, source_sha256, source_crs, "
            "feature_count, notes, created_by) VALUES (:layer, :name, :sha, :crs, :n, :notes, "
            ":by) RETURNING id"
        ),
        {
            "layer": kind,
            "name": source_name,
            "sha": source_sha256,
            "crs": source_crs,
            "n": len(frame),
            "notes": "\n".join(notes or []) or None,
            "by": actor.username,
        },
    ).scalar_one()
    replaced = 0
    if existing:
        # Replace in place: the row keeps its id, so its conflicts, permits and alerts
        # stay attached; the old values go to the audit log.
        session.execute(
            text(
                f"CREATE TEMP TABLE {STAGING} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
                "ON COMMIT DROP"
            )
        )
        _copy_rows(session, kind, frame, batch_id, source_name, progress, target=STAGING)
        present = [c for c in COLUMNS[kind] if c in frame.columns]
        replaced = _merge_staged(session, kind, present, batch_id, actor)
        session.execute(text(f"DROP TABLE {STAGING}"))
    elif _row_security_binds(session, table):
        # COPY into a table under row-level security is refused (PostgreSQL): the rows
        # go through a staging table and one INSERT, which the policy checks.
        session.execute(
            text(
                f"CREATE TEMP TABLE {STAGING} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
                "ON COMMIT DROP"
            )
        )
        _copy_rows(session, kind, frame, batch_id, source_name, progress, target=STAGING)
        columns = [*[c for c in COLUMNS[kind] if c in frame.columns], "source", "import_batch_id", "geom",
                   "district"]
        try:
            with _spatial_indexes_rebuilt(session, table, len(frame)):
                session.execute(text(f"INSERT INTO {table} ({', '.join(columns)}) "
                                     f"SELECT {', '.join(columns)} FROM {STAGING}"))
        except DBAPIError as exc:
            raise _copy_problem(exc.orig, frame, kind, 0, source_name) from exc
        session.execute(text(f"DROP TABLE {STAGING}"))
    else:
        with _spatial_indexes_rebuilt(session, table, len(frame)):
            _copy_rows(session, kind, frame, batch_id, source_name, progress)
    if kind == "projects":
        # Sites without a township get the one their site lies in (statistics by township).
        fill_townships(session, batch_id=batch_id)
    if len(frame) >= ANALYZE_AFTER_ROWS:
        # Statistics follow a bulk load at once rather than when autovacuum gets to it:
        # the prepared statements of API writes are planned from them.
        analyze(session, table)
    return ImportReport(kind, batch_id, len(frame), replaced, list(notes or []))


STAGING = "_import_rows"
# A load of at least this many rows, and at least as many as the table already holds,
# builds the table's spatial indexes afresh after the COPY instead of updating them row
# by row: PostGIS builds a GiST index from sorted input several times faster
# (city sample: COPY 24 s with the indexes, 16 s without them plus 2 s to build both).
BULK_INDEX_ROWS = 50_000


@contextmanager
def _spatial_indexes_rebuilt(session: Session, table: str, rows: int) -> Iterator[None]:
    """Drop the GiST indexes of ``table`` for a bulk load and create them again after it.

    Dropping an index takes the table's exclusive lock until the import commits: readers
    of the table wait for a bulk load, which is the price of the speed; a failed import
    rolls back and the indexes are as they were.
    """
    if rows < BULK_INDEX_ROWS:
        yield
        return
    stored, owned = session.execute(
        text("SELECT reltuples, pg_has_role(current_user, relowner, 'MEMBER') FROM pg_class "
             "WHERE oid = CAST(:t AS regclass)"), {"t": table}
    ).one()
    if stored > rows or not owned:  # only the table's owner may drop and create its indexes
        yield
        return
    definitions = session.execute(
        text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
             "AND tablename = :t AND indexdef LIKE '% USING gist %' ORDER BY indexname"),
        {"t": table},
    ).all()
    for name, _definition in definitions:
        session.execute(text(f'DROP INDEX "{name}"'))
    yield
    session.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    for _name, definition in definitions:
        session.execute(text(definition))


def analyze(session: Session, table: str) -> None:
    """Refresh ``table``'s statistics now, as its owner (the server's role may not ANALYZE).

    ``gisapp_ref.analyze_table`` (migration 0013) runs as the tables' owner and takes the
    data tables only.
    """
    session.execute(text("SELECT gisapp_ref.analyze_table(:t)"), {"t": table})


def _row_security_binds(session: Session, table: str) -> bool:
    """Return whether row-level security applies to this session's role on ``table``."""
    return bool(session.execute(text("SELECT row_security_active(CAST(:t AS regclass))"),
                                {"t": table}).scalar())


def _merge_staged(
    session: Session, kind: str, present: list[str], batch_id: int, actor: Actor
) -> int:
    """Update live rows whose code is staged, insert the rest; return how many were replaced."""
    table, code = TABLES[kind], ID_FIELD[kind]
    columns = [*present, "source", "import_batch_id", "geom"]
    entity = "pipeline" if kind == "pipelines" else "project"
    # The same live row: same code, and for a project the same organisation (0017).
    same = f"s.{code} = t.{code}" + (
        " AND coalesce(s.organisation, '') = coalesce(t.organisation, '')" if kind == "projects" else "")
    session.execute(
        text(
            "INSERT INTO audit_log (user_id, username, action, entity, entity_id, detail) "
            f"SELECT CAST(:uid AS integer), :by, '{entity}.replace', '{table}', t.id::text, "
            "jsonb_build_object("
            "'before', to_jsonb(t) - 'geom' - 'geom_m', "
            "'geometry_before', ST_AsGeoJSON(t.geom, 9, 0)::jsonb, 'import_batch_id', :b) "
            f"FROM {table} t JOIN {STAGING} s ON {same} WHERE t.deleted_at IS NULL"
        ),
        {"uid": actor.id, "by": actor.username, "b": batch_id},
    )
    assignments = ", ".join(f"{c} = s.{c}" for c in columns if c != code)
    update = session.execute(
        text(
            f"UPDATE {table} t SET {assignments}, updated_at = now() FROM {STAGING} s "
            f"WHERE {same} AND t.deleted_at IS NULL"
        )
    )
    replaced = cast(CursorResult, update).rowcount  # a DML statement's result is a cursor result
    session.execute(
        text(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join('s.' + c for c in columns)} "
            f"FROM {STAGING} s WHERE NOT EXISTS (SELECT 1 FROM {table} t "
            f"WHERE {same} AND t.deleted_at IS NULL)"
        )
    )
    return replaced


def _copy_rows(session, kind, frame, batch_id, source_name, progress, target: str | None = None) -> None:
    columns = [c for c in COLUMNS[kind] if c in frame.columns]
    geoms = promote_multi(np.asarray(frame.geometry.values, dtype=object), kind)
    geoms = shapely.set_srid(geoms, STORAGE_EPSG)
    wkb = shapely.to_wkb(geoms, hex=True, include_srid=True)
    values = frame[columns].astype(object).where(frame[columns].notna(), None)
    for column, default in DEFAULTS[kind].items():
        if column in values.columns:
            values[column] = values[column].map(lambda v, d=default: d if v is None else v)
    # The district of each row, computed here for the whole layer at once: the database's
    # per-row lookup (trigger gisapp_fill_district) fills only the rows left empty.
    districts = districts_of(geoms)
    raw = session.connection().connection.dbapi_connection
    copy_sql = (
        f"COPY {target or TABLES[kind]} ({', '.join(columns)}, source, import_batch_id, geom, district) "
        "FROM STDIN WITH (FORMAT csv, NULL '')"
    )
    cells = [values[c].tolist() for c in columns]
    district_texts = [d or "" for d in districts]
    with raw.cursor() as cur:
        for start in range(0, len(frame), CHUNK_ROWS):
            stop = start + CHUNK_ROWS
            chunk = [column[start:stop] for column in cells]
            tail = [wkb[start:stop].tolist(), district_texts[start:stop]]
            buf = io.StringIO(copy_chunk(chunk, source_name, batch_id, tail))
            try:
                cur.copy_expert(copy_sql, buf)
            except psycopg2.Error as exc:
                raise _copy_problem(exc, frame, kind, start, source_name) from exc
            if progress:
                progress(min(CHUNK_ROWS, len(frame) - start))


def copy_chunk_plain(columns: list[list], source_name: str, batch_id: int, tail: list[list[str]]) -> str:
    """Return the COPY CSV text of some rows, one ``csv.writer`` row at a time.

    ``columns``: the layer's values per column; each row then gets the source name, the
    batch id and its cell of each ``tail`` column (EWKB hex, district).
    """
    buf = io.StringIO()
    writer = csv.writer(buf)
    for offset, row in enumerate(zip(*columns, strict=True)):
        writer.writerow([_copy_text(v) for v in row] + [source_name, batch_id]
                        + [extra[offset] for extra in tail])
    return buf.getvalue()


def copy_chunk(columns: list[list], source_name: str, batch_id: int, tail: list[list[str]]) -> str:
    """Return exactly what ``copy_chunk_plain`` returns, column by column.

    Rendering every value through a function and ``csv.writer`` was a third of a
    300,000-segment import; here each column is rendered in one comprehension and quoted
    only when one of its distinct values needs it, and rows are joined at once.
    """
    n = len(columns[0]) if columns else len(tail[0])
    texts = [quote_csv_cells(_copy_texts(column)) for column in columns]
    texts.append(quote_csv_cells([source_name] * n))
    texts.append([str(batch_id)] * n)
    texts.extend(quote_csv_cells(extra) for extra in tail)
    if not n:
        return ""
    return "\r\n".join(map(",".join, zip(*texts, strict=True))) + "\r\n"


def _copy_texts(values: list) -> list[str]:
    """``_copy_text`` of each value, without a call per value for the usual types."""
    kinds = set(map(type, values))
    if kinds <= {str}:
        return values
    if kinds <= {str, type(None)}:
        return ["" if v is None else v for v in values]
    if kinds <= {float, int, type(None)}:
        # str() of a float or an int is its repr; NaN stands for a missing value.
        return ["" if v is None or v != v else str(v) for v in values]
    return [_copy_text(v) for v in values]


CONSTRAINT_ZH = {
    "ck_construction_project_dates": "计划竣工日期早于开工日期",
    "ck_gas_pipeline_outer_diameter_mm": "外径须大于 0 且小于 3000 mm",
    "ck_gas_pipeline_design_pressure_mpa": "设计压力须在 0 到 10 MPa 之间",
}


def _copy_problem(exc, frame, kind, chunk_start, source_name) -> InputFileError:
    """Turn a database rejection during COPY into a message naming the feature."""
    diag = getattr(exc, "diag", None)
    context = (diag.context if diag else "") or ""
    match = re.search(r"line (\d+)", context)
    row = code = None
    if match:
        position = chunk_start + int(match.group(1)) - 1
        if 0 <= position < len(frame):
            row = int(frame.index[position])
            code = str(frame.iloc[position][ID_FIELD[kind]])
    constraint = diag.constraint_name if diag else None
    message = (
        CONSTRAINT_ZH.get(constraint or "")
        or f"数据库拒绝该要素：{(diag.message_primary if diag else str(exc))}"
    )
    return InputFileError(source_name, [FeatureProblem(row, code, None, message + "；未导入任何数据")])


def load_townships(session: Session, frame: gpd.GeoDataFrame, *, source: str) -> int:
    """Replace the township areas with ``frame`` (columns code, name, synthetic; EPSG:4490)."""
    frame = frame.to_crs(STORAGE_EPSG)
    session.execute(text("DELETE FROM township"))
    geoms = promote_multi(np.asarray(frame.geometry.values, dtype=object), "projects")
    geoms = shapely.set_srid(geoms, STORAGE_EPSG)
    rows = [
        {
            "code": str(code),
            "name": str(name),
            "synthetic": bool(synth),
            "source": source,
            "wkb": wkb,
        }
        for code, name, synth, wkb in zip(
            frame["code"],
            frame["name"],
            frame.get("synthetic", pd.Series(False, index=frame.index)),
            shapely.to_wkb(geoms, hex=True, include_srid=True),
            strict=True,
        )
    ]
    if rows:
        session.execute(
            text(
                "INSERT INTO township (code, name, synthetic, source, geom) VALUES "
                "(:code, :name, :synthetic, :source, ST_Multi(ST_GeomFromEWKB(decode(:wkb, 'hex'))))"
            ),
            rows,
        )
    return len(rows)
