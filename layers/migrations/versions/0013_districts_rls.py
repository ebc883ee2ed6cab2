"""districts: every project and pipeline knows its district; row-level security keys on it

- ``gisapp_ref.district_area``: Shanghai's 16 districts (subdivided pieces, CGCS2000),
  in their own schema so that emptying the data tables never empties them.
- ``district`` (adcode) on ``construction_project`` and ``gas_pipeline``, always computed
  by the database on insert and on a geometry change (trigger ``gisapp_fill_district``):
  the district containing a point on the feature, else the nearest one.
- ``district`` on ``app_user``: NULL is the deployment's whole jurisdiction.
- Row-level security, FORCED also for the tables' owner, on the data tables: a row is
  visible when the transaction-local setting ``gisapp.district`` is ``*`` (city-wide)
  or the row's district; rows hanging on a project (conflicts, permits, alerts,
  inspections, hazards, evidence, spot-check picks) follow their project. A connection
  that set nothing sees nothing.
- The protection procedure's tables (answers, owner reviews, supervision visits, start
  notices, violations, documents, notifications) follow their project too; a damage
  report carries the district of its location. A pipeline across a district's edge is
  read (never written) by the district whose project conflicts with it.
- ``gisapp_app``: the non-superuser role the server's request connections act as
  (superusers bypass row-level security whatever is forced); ``gisapp_city`` (BYPASSRLS),
  taken with ``gisapp_ref.see(NULL)`` by a transaction that sees the whole jurisdiction.
  District read-only roles (``gisapp db up --district-role CODE``) get a RESTRICTIVE
  policy on top.
- ``gisapp_ref.analyze_table``: ANALYZE of the data tables for the server's role;
  ``answer_next_seq`` runs as its owner (it creates a sequence per year).

Revision ID: 0013
Revises: 0008
Create Date: 2026-12-01
"""
import json
from importlib import resources

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = '0013'
down_revision = '0007'
branch_labels = None
depends_on = None

APP_ROLE = 'gisapp_app'
CITY_ROLE = 'gisapp_city'
# table -> the USING expression of its policy (besides the city-wide '*').
FEATURE_TABLES = ('construction_project', 'gas_pipeline')
# A damage report may name no project nor pipeline: it carries the district of its location.
LOCATED_TABLES = ('damage_report',)
# The conflicts are themselves under row-level security: those of visible projects.
CROSSING = "EXISTS (SELECT 1 FROM pipeline_conflict c WHERE c.pipeline_id = gas_pipeline.id)"
ANALYZED = ('gas_pipeline', 'construction_project', 'pipeline_conflict', 'township')
_PROJECT = "EXISTS (SELECT 1 FROM construction_project p WHERE p.id = {col})"
_CONFLICT = ("EXISTS (SELECT 1 FROM pipeline_conflict c JOIN construction_project p "
             "ON p.id = c.project_id WHERE c.id = {col})")
_INSPECTION = ("EXISTS (SELECT 1 FROM inspection i JOIN construction_project p "
               "ON p.id = i.project_id WHERE i.id = {col})")
CHILD_TABLES = {
    'pipeline_conflict': _PROJECT.format(col='project_id'),
    'alert': _PROJECT.format(col='project_id'),
    'inspection': _PROJECT.format(col='project_id'),
    'spot_check_pick': _PROJECT.format(col='project_id'),
    'project_review': _PROJECT.format(col='project_id'),
    'permit': _CONFLICT.format(col='conflict_id'),
    'permit_event': ("EXISTS (SELECT 1 FROM permit x JOIN pipeline_conflict c ON c.id = x.conflict_id "
                     "JOIN construction_project p ON p.id = c.project_id WHERE x.id = permit_id)"),
    'hazard': _INSPECTION.format(col='inspection_id'),
    'inspection_key_item': _INSPECTION.format(col='inspection_id'),
    # The protection procedure (migration 0009): each row follows its project.
    'answer_letter': _PROJECT.format(col='project_id'),
    'start_notice': _PROJECT.format(col='project_id'),
    'violation': _PROJECT.format(col='project_id'),
    'owner_review': _CONFLICT.format(col='conflict_id'),
    'supervision_visit': _CONFLICT.format(col='conflict_id'),
    # A notification about a project follows it, one about a damage report follows the
    # report; any other (an account matter) is its user's, whom the service alone picks.
    'notification': ("CASE WHEN project_id IS NOT NULL THEN " + _PROJECT.format(col='project_id')
                     + " WHEN entity = 'damage_report' THEN EXISTS (SELECT 1 FROM damage_report d "
                     "WHERE d.id = entity_id) ELSE true END"),
    # One parent each (ck_procedure_document_owner), itself under row-level security.
    'procedure_document': ("EXISTS (SELECT 1 FROM owner_review r WHERE r.id = owner_review_id) OR "
                           "EXISTS (SELECT 1 FROM permit x WHERE x.id = permit_id) OR "
                           "EXISTS (SELECT 1 FROM supervision_visit v WHERE v.id = visit_id) OR "
                           "EXISTS (SELECT 1 FROM damage_report d WHERE d.id = damage_report_id)"),
    'evidence_file': ("(inspection_id IS NOT NULL AND " + _INSPECTION.format(col='inspection_id') + ") OR "
                      "(hazard_id IS NOT NULL AND EXISTS (SELECT 1 FROM hazard h JOIN inspection i "
                      "ON i.id = h.inspection_id JOIN construction_project p ON p.id = i.project_id "
                      "WHERE h.id = hazard_id))"),
}
# Read once per query, not per row: an uncorrelated scalar subquery is an InitPlan, whose
# value the policies compare against (and an index on district can take).
SEEN = "(SELECT current_setting('gisapp.district', true))"
CITY_WIDE = f"{SEEN} = '*'"
# Row-level security lets a query's own conditions use an index only when their
# functions are LEAKPROOF (else they must wait until the policy has filtered each row:
# a sequential scan of every pipeline for each new site). These PostGIS predicates
# reveal nothing of a row but the answer (our columns' SRID and type are fixed, so they
# raise no value-dependent error); declaring them so takes a superuser.
LEAKPROOF = ('st_dwithin(geometry, geometry, double precision)', 'geometry_overlaps(geometry, geometry)',
             'st_intersects(geometry, geometry)', 'st_contains(geometry, geometry)',
             'st_within(geometry, geometry)', 'st_covers(geometry, geometry)',
             'geometry_distance_centroid(geometry, geometry)')


def _leakproof(flag: str) -> None:
    names = ", ".join(f"'{f}'" for f in LEAKPROOF)
    op.execute(f"""
        DO $$ DECLARE f text; BEGIN
          IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
            RAISE NOTICE 'gisapp: not a superuser, PostGIS predicates stay not LEAKPROOF '
                         '(district-scoped queries then scan without spatial indexes)';
            RETURN;
          END IF;
          FOREACH f IN ARRAY ARRAY[{names}] LOOP
            IF to_regprocedure(f) IS NOT NULL THEN
              EXECUTE format('ALTER FUNCTION %s {flag}', to_regprocedure(f));
            END IF;
          END LOOP;
        END $$""")


def _load_districts() -> None:
    text = resources.files('layers').joinpath('data', 'shanghai_districts_cgcs2000.geojson').read_text(
        encoding='utf-8')
    insert = sa.text(
        "INSERT INTO gisapp_ref.district_area (code, name, geom) "
        "SELECT :code, :name, ST_SetSRID((ST_Dump(ST_Subdivide(ST_CollectionExtract(ST_MakeValid("
        "ST_GeomFromGeoJSON(:g)), 3), 128))).geom, 4490)")
    bind = op.get_bind()
    for feature in json.loads(text)['features']:
        props = feature['properties']
        bind.execute(insert, {'code': props['adcode'], 'name': props['name'],
                              'g': json.dumps(feature['geometry'])})


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS gisapp_ref")
    op.create_table(
        'district_area',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=6), nullable=False),
        sa.Column('name', sa.Text(), nullable=False),
        sa.Column('geom', Geometry(geometry_type='POLYGON', srid=4490, spatial_index=False,
                                   from_text='ST_GeomFromEWKT', name='geometry'), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_district_area')),
        schema='gisapp_ref',
    )
    op.create_index('ix_district_area_geom', 'district_area', ['geom'], schema='gisapp_ref',
                    postgresql_using='gist')
    op.create_index('ix_district_area_code', 'district_area', ['code'], schema='gisapp_ref')
    _load_districts()

    op.execute("""
        CREATE FUNCTION gisapp_ref.district_of(g geometry) RETURNS varchar
        LANGUAGE sql STABLE PARALLEL SAFE AS $$
          SELECT coalesce(
            (SELECT a.code FROM gisapp_ref.district_area a
              WHERE ST_Intersects(a.geom, ST_PointOnSurface(g)) ORDER BY a.code LIMIT 1),
            (SELECT a.code FROM gisapp_ref.district_area a
              ORDER BY a.geom <-> ST_PointOnSurface(g) LIMIT 1))
        $$""")
    op.execute("""
        CREATE FUNCTION gisapp_ref.fill_district() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          -- An import computes the districts of a whole layer at once (layers.importer);
          -- a row written alone, a moved geometry or a changed district is looked up here.
          IF TG_OP = 'INSERT' AND NEW.district IS NOT NULL THEN
            RETURN NEW;
          END IF;
          IF TG_OP = 'UPDATE' AND NEW.geom IS NOT DISTINCT FROM OLD.geom
             AND NEW.district IS NOT DISTINCT FROM OLD.district THEN
            RETURN NEW;
          END IF;
          NEW.district := gisapp_ref.district_of(NEW.geom);
          RETURN NEW;
        END $$""")
    for table in FEATURE_TABLES:
        op.add_column(table, sa.Column('district', sa.String(length=6), nullable=True))
        op.execute(f"UPDATE {table} SET district = gisapp_ref.district_of(geom)")
        op.create_index(f'ix_{table}_district', table, ['district'])
        # A row written alone, a moved geometry or a district set by hand gets the
        # computed one; only an import's bulk-computed districts are taken as given.
        op.execute(f"CREATE TRIGGER gisapp_fill_district BEFORE INSERT OR UPDATE OF geom, district "
                   f"ON {table} FOR EACH ROW EXECUTE FUNCTION gisapp_ref.fill_district()")

    op.execute("""
        CREATE FUNCTION gisapp_ref.fill_location_district() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'UPDATE' AND NEW.location IS NOT DISTINCT FROM OLD.location
             AND NEW.district IS NOT DISTINCT FROM OLD.district THEN
            RETURN NEW;
          END IF;
          NEW.district := gisapp_ref.district_of(NEW.location);
          RETURN NEW;
        END $$""")
    for table in LOCATED_TABLES:
        op.add_column(table, sa.Column('district', sa.String(length=6), nullable=True))
        op.execute(f"UPDATE {table} SET district = gisapp_ref.district_of(location)")
        op.create_index(f'ix_{table}_district', table, ['district'])
        op.execute(f"CREATE TRIGGER gisapp_fill_district BEFORE INSERT OR UPDATE OF location, district "
                   f"ON {table} FOR EACH ROW EXECUTE FUNCTION gisapp_ref.fill_location_district()")

    op.add_column('app_user', sa.Column('district', sa.String(length=6), nullable=True))
    op.create_check_constraint(op.f('ck_app_user_district'), 'app_user', "district ~ '^[0-9]{6}$'")

    # The role the server's request connections act as (SET ROLE at connect). A
    # migrating user that may not create roles (an external database) leaves it out:
    # the server then acts as that user, the tables' owner, whom FORCE binds as well.
    grants = [
        f"GRANT {APP_ROLE} TO CURRENT_USER",
        f"GRANT USAGE ON SCHEMA public, gisapp_ref TO {APP_ROLE}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA gisapp_ref TO {APP_ROLE}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE "
        f"ON TABLES TO {APP_ROLE}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {APP_ROLE}",
    ]
    executes = "\n".join(f"    EXECUTE {_literal(g)};" for g in grants)
    op.execute(f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
            IF NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
              RAISE NOTICE 'gisapp: may not create role {APP_ROLE}; the server acts as %', current_user;
              RETURN;
            END IF;
            CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
          END IF;
{executes}
        END $$""")

    # A transaction that sees the whole jurisdiction acts as gisapp_city, which bypasses
    # row-level security: the policies' '*' test would cost nothing per row, but the
    # planner cannot know that it is true and misjudges every join over these tables
    # (the full screen took 50x as long). Taking the role is gisapp_ref.see's alone (below).
    city_grants = [g.replace(APP_ROLE, CITY_ROLE) for g in grants]
    city_executes = "\n".join(f"    EXECUTE {_literal(g)};" for g in city_grants)
    op.execute(f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{CITY_ROLE}') THEN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}')
               OR NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
              RAISE NOTICE 'gisapp: not a superuser, no role {CITY_ROLE}: city-wide reads go '
                           'through the policies (slower joins)';
              RETURN;
            END IF;
            CREATE ROLE {CITY_ROLE} NOLOGIN NOSUPERUSER BYPASSRLS;
          END IF;
{city_executes}
        END $$""")
    # Which district the rest of the transaction sees (NULL: all), and, on the server's
    # connections (acting as gisapp_app), the role that goes with it. SET LOCAL: both end
    # with the transaction. SET ROLE is checked against the login role, a member of both.
    op.execute(f"""
        CREATE FUNCTION gisapp_ref.see(d text) RETURNS text LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM set_config('gisapp.district', coalesce(d, '*'), true);
          IF d IS NULL AND current_user = '{APP_ROLE}'
             AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{CITY_ROLE}') THEN
            PERFORM set_config('role', '{CITY_ROLE}', true);
          ELSIF d IS NOT NULL AND current_user = '{CITY_ROLE}' THEN
            PERFORM set_config('role', '{APP_ROLE}', true);
          END IF;
          RETURN coalesce(d, '*');
        END $$""")

    # ANALYZE after a bulk load or a full screen (layers.importer, layers.screening_db)
    # is the owner's right; the server's role asks the owner to do it, for these tables only.
    op.execute(f"""
        CREATE FUNCTION gisapp_ref.analyze_table(t text) RETURNS void
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        BEGIN
          IF t NOT IN ({", ".join(f"'{x}'" for x in ANALYZED)}) THEN
            RAISE EXCEPTION 'gisapp_ref.analyze_table: % is not one of the data tables', t;
          END IF;
          EXECUTE format('ANALYZE %I', t);
        END $$""")
    op.execute("REVOKE ALL ON FUNCTION gisapp_ref.analyze_table(text) FROM PUBLIC")
    op.execute(f"""
        DO $$ BEGIN
          IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
            GRANT EXECUTE ON FUNCTION gisapp_ref.analyze_table(text) TO {APP_ROLE};
          END IF;
          IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{CITY_ROLE}') THEN
            GRANT EXECUTE ON FUNCTION gisapp_ref.analyze_table(text) TO {CITY_ROLE};
          END IF;
        END $$""")
    # The answer number's per-year sequence is created on first use; gisapp_app may not
    # create objects in public, so the function runs as its owner (the migrating user).
    op.execute("ALTER FUNCTION answer_next_seq(integer) SECURITY DEFINER SET search_path = public, pg_temp")
    _leakproof('LEAKPROOF')
    own_district = f"district = {SEEN}"
    for table in ('construction_project', *LOCATED_TABLES):
        _secure(table, own_district)
    # A pipeline across the district's edge that one of its projects conflicts with is
    # read too (lists, the answer letter name it), never written. One SELECT policy with
    # the cheap tests first (two permissive policies are OR-ed with the subquery first,
    # run for every row even city-wide); writes keep the district alone.
    _secure('gas_pipeline', f"{own_district} OR {CROSSING}", command='SELECT')
    for command, clause in (('INSERT', 'WITH CHECK'), ('UPDATE', 'USING'), ('DELETE', 'USING')):
        op.execute(f"CREATE POLICY gisapp_district_{command.lower()} ON gas_pipeline FOR {command} "
                   f"{clause} ({CITY_WIDE} OR {own_district})")
    for table, using in CHILD_TABLES.items():
        _secure(table, using)


def _literal(sql: str) -> str:
    return "'" + sql.replace("'", "''") + "'"


def _secure(table: str, using: str, command: str = 'ALL') -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY gisapp_district ON {table} FOR {command} USING ({CITY_WIDE} OR {using})")


def downgrade() -> None:
    op.execute("ALTER FUNCTION answer_next_seq(integer) SECURITY INVOKER RESET search_path")
    _leakproof('NOT LEAKPROOF')
    tables = ", ".join(f"'{t}'" for t in (*CHILD_TABLES, *FEATURE_TABLES, *LOCATED_TABLES))
    # Every policy on them: ours and those of district roles (gisapp db up --district-role).
    op.execute(f"""
        DO $$ DECLARE p record; BEGIN
          FOR p IN SELECT policyname, tablename FROM pg_policies
                   WHERE schemaname = 'public' AND tablename IN ({tables}) LOOP
            EXECUTE format('DROP POLICY %I ON %I', p.policyname, p.tablename);
          END LOOP;
        END $$""")
    for table in (*CHILD_TABLES, *FEATURE_TABLES, *LOCATED_TABLES):
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    revokes = [f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {APP_ROLE}",
               f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {APP_ROLE}",
               f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}",
               f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE}",
               f"REVOKE ALL ON SCHEMA public FROM {APP_ROLE}"]
    for role in (APP_ROLE, CITY_ROLE):
        executes = "\n".join(f"    EXECUTE {_literal(r.replace(APP_ROLE, role))};" for r in revokes)
        op.execute(f"""
            DO $$ BEGIN
              IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
{executes}
              END IF;
            END $$""")
    op.drop_constraint(op.f('ck_app_user_district'), 'app_user', type_='check')
    op.drop_column('app_user', 'district')
    for table in (*FEATURE_TABLES, *LOCATED_TABLES):
        op.execute(f"DROP TRIGGER IF EXISTS gisapp_fill_district ON {table}")
        op.drop_index(f'ix_{table}_district', table_name=table)
        op.drop_column(table, 'district')
    # The role stays (roles are cluster-wide; another database may use it); district
    # read-only roles hold grants on gisapp_ref, which goes.
    op.execute("DROP SCHEMA gisapp_ref CASCADE")
