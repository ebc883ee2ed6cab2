"""maps: the generalised network drawn below zoom 14, kept by triggers and a refresh

Below zoom 14 a map shows the mains only (sub-high pressure and above), and at Shanghai
size a zoom-9 view held ~14,000 of their segments, each a sub-pixel feature the browser
builds, styles and keeps (its part of a map page's first render). ``pipeline_overview``
holds the same mains merged end to end, one row per district, pressure class and grid
cell of ``CELL_DEG`` degrees (a segment's cell: the one holding the south-west corner of
its bounding box): 15,270 segments became 202 rows in 0.15 s.

A row is only as fresh as its last refresh, so a write never waits for one:
- A statement-level trigger on ``gas_pipeline`` appends the keys (district, class, cell)
  a write touched to ``pipeline_overview_change``: an insert only, so writers never
  wait for each other or for the refresh.
- A tile reads the stored rows of the keys without a pending change, and the live
  segments of the keys with one: right after any write, and never stale.
- ``gisapp_ref.refresh_pipeline_overview(n)`` rebuilds the keys of up to ``n`` pending
  changes (one refresher at a time: an advisory lock) with a snapshot taken after it
  read them, and deletes exactly the changes it read; a change committed meanwhile stays
  for the next pass. The server runs it every few seconds (``gisapp.overview_refresh``),
  and an import at its end, in its own transaction.
A row keeps its key when its segments are gone (``segments`` 0, ``geom`` NULL).

Row-level security: a row is its district's, as the pipelines it merges.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None

CELL_DEG = 0.05  # ~5 km: a refresh of one cell merges a few hundred mains at most
# Drops the vertices of a straight run only (~10 cm): a tile unit is ~1 m at zoom 13.
MERGED_TOLERANCE_DEG = 1e-6
MAJOR = "('subhigh_b', 'subhigh_a', 'high_b', 'high_a', 'ultra_high')"
SEEN = "(SELECT current_setting('gisapp.district', true))"
POLICY = f"{SEEN} = '*' OR district = {SEEN}"
KEY = "coalesce(district, ''), pressure_class, cell_x, cell_y"
LOCK_KEY = 26_0001  # the refresher's advisory lock (transaction-scoped)
TABLES = ('pipeline_overview', 'pipeline_overview_change')
OPS = {'INSERT': 'NEW TABLE AS new_rows', 'UPDATE': 'OLD TABLE AS old_rows NEW TABLE AS new_rows',
       'DELETE': 'OLD TABLE AS old_rows'}


def _keys(rows: str, where: str = "") -> str:
    """SQL of the distinct keys of the live mains in ``rows`` (a FROM clause naming them ``r``)."""
    return (f"SELECT DISTINCT r.district, r.pressure_class, gisapp_ref.overview_cell_x(r.geom), "
            f"gisapp_ref.overview_cell_y(r.geom) FROM {rows} "
            f"WHERE r.deleted_at IS NULL AND r.pressure_class IN {MAJOR}{where}")


def _key_columns() -> list[sa.Column]:
    """Fresh columns of a row's id and key (district, class, cell), for each table."""
    return [sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
            sa.Column('district', sa.String(length=6), nullable=True),
            sa.Column('pressure_class', sa.String(length=16), nullable=False),
            sa.Column('cell_x', sa.Integer(), nullable=False),
            sa.Column('cell_y', sa.Integer(), nullable=False)]


def upgrade() -> None:
    for axis, coord in (('x', 'ST_XMin'), ('y', 'ST_YMin')):
        op.execute(f"""
            CREATE FUNCTION gisapp_ref.overview_cell_{axis}(g geometry) RETURNS integer
            LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
            $$ SELECT floor({coord}(g) / {CELL_DEG})::integer $$""")
    op.create_table(
        'pipeline_overview',
        *_key_columns(),
        sa.Column('segments', sa.Integer(), server_default='0', nullable=False),
        sa.Column('geom', Geometry('MULTILINESTRING', srid=4490, spatial_index=False), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_pipeline_overview')),
    )
    op.execute(f"CREATE UNIQUE INDEX uq_pipeline_overview_key ON pipeline_overview ({KEY})")
    op.create_geospatial_index('idx_pipeline_overview_geom', 'pipeline_overview', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_table(
        'pipeline_overview_change',
        *_key_columns(),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_pipeline_overview_change')),
    )
    # One function per event: a transition table exists only for its own events.
    changed = {
        'INSERT': _keys("new_rows r"),
        'DELETE': _keys("old_rows r"),
        # Only what the overview draws: a main's line, district, class or deletion.
        'UPDATE': _keys(
            "old_rows o JOIN new_rows n ON n.id = o.id CROSS JOIN LATERAL (VALUES "
            "(o.district, o.pressure_class, o.geom, o.deleted_at), "
            "(n.district, n.pressure_class, n.geom, n.deleted_at)) AS r (district, pressure_class, geom, deleted_at)",
            " AND (o.geom, o.district, o.pressure_class, o.deleted_at) IS DISTINCT FROM "
            "(n.geom, n.district, n.pressure_class, n.deleted_at)"),
    }
    for event, keys in changed.items():
        op.execute(f"""
            CREATE FUNCTION gisapp_ref.pipeline_overview_{event.lower()}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
              INSERT INTO pipeline_overview_change (district, pressure_class, cell_x, cell_y)
              {keys};
              RETURN NULL;
            END $$""")
    op.execute("""
        CREATE FUNCTION gisapp_ref.pipeline_overview_truncate() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          DELETE FROM pipeline_overview;
          DELETE FROM pipeline_overview_change;
          RETURN NULL;
        END $$""")
    for event, refs in OPS.items():
        op.execute(f"CREATE TRIGGER gisapp_overview_{event.lower()} AFTER {event} ON gas_pipeline "
                   f"REFERENCING {refs} FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION gisapp_ref.pipeline_overview_{event.lower()}()")
    op.execute("CREATE TRIGGER gisapp_overview_truncate AFTER TRUNCATE ON gas_pipeline "
               "FOR EACH STATEMENT EXECUTE FUNCTION gisapp_ref.pipeline_overview_truncate()")
    envelope = (f"ST_MakeEnvelope(k.cell_x * {CELL_DEG}, k.cell_y * {CELL_DEG}, "
                f"(k.cell_x + 1) * {CELL_DEG}, (k.cell_y + 1) * {CELL_DEG}, 4490)")
    op.execute(f"""
        CREATE FUNCTION gisapp_ref.refresh_pipeline_overview(max_changes integer) RETURNS integer
        LANGUAGE plpgsql AS $$
        DECLARE taken bigint[];
        BEGIN
          IF NOT pg_try_advisory_xact_lock({LOCK_KEY}) THEN RETURN -1; END IF;
          -- A new statement after the lock: the changes committed so far.
          taken := ARRAY(SELECT id FROM pipeline_overview_change ORDER BY id LIMIT max_changes);
          IF cardinality(taken) = 0 THEN RETURN 0; END IF;
          -- Again a new statement: every write those changes record is committed and seen.
          INSERT INTO pipeline_overview AS o (district, pressure_class, cell_x, cell_y, segments, geom)
          SELECT k.district, k.pressure_class, k.cell_x, k.cell_y, m.segments, m.geom
          FROM (SELECT DISTINCT district, pressure_class, cell_x, cell_y
                FROM pipeline_overview_change WHERE id = ANY(taken)) k
          CROSS JOIN LATERAL (
            SELECT count(*)::integer AS segments,
                   ST_Multi(ST_Simplify(ST_LineMerge(ST_CollectionExtract(ST_Collect(g.geom), 2)), {MERGED_TOLERANCE_DEG}, true)) AS geom
            FROM gas_pipeline g
            WHERE g.deleted_at IS NULL AND g.pressure_class = k.pressure_class
              AND g.pressure_class IN {MAJOR}
              AND g.district IS NOT DISTINCT FROM k.district
              AND g.geom && {envelope}
              AND gisapp_ref.overview_cell_x(g.geom) = k.cell_x
              AND gisapp_ref.overview_cell_y(g.geom) = k.cell_y) m
          ON CONFLICT ({KEY}) DO UPDATE SET segments = EXCLUDED.segments, geom = EXCLUDED.geom;
          DELETE FROM pipeline_overview_change WHERE id = ANY(taken);
          RETURN cardinality(taken);
        END $$""")
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY gisapp_district ON {table} FOR ALL USING ({POLICY})")
    for role in ('gisapp_app', 'gisapp_city'):
        op.execute(f"""
            DO $$ BEGIN
              IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON {', '.join(TABLES)} TO {role};
              END IF;
            END $$""")
    # Build it for the pipelines there are: every key pending, then one refresh.
    op.execute("SELECT set_config('gisapp.district', '*', true)")
    op.execute("INSERT INTO pipeline_overview_change (district, pressure_class, cell_x, cell_y) "
               + _keys("gas_pipeline r"))
    op.execute("SELECT gisapp_ref.refresh_pipeline_overview(2147483647)")


def downgrade() -> None:
    for event in (*OPS, 'TRUNCATE'):
        op.execute(f"DROP TRIGGER gisapp_overview_{event.lower()} ON gas_pipeline")
        op.execute(f"DROP FUNCTION gisapp_ref.pipeline_overview_{event.lower()}()")
    op.execute("DROP FUNCTION gisapp_ref.refresh_pipeline_overview(integer)")
    op.drop_table('pipeline_overview_change')
    op.drop_table('pipeline_overview')
    for axis in ('x', 'y'):
        op.execute(f"DROP FUNCTION gisapp_ref.overview_cell_{axis}(geometry)")
