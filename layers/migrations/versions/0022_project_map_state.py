"""maps: each project's map state stored ahead of time, kept by triggers

``project_map_state`` holds per project what the map pages colour by and the overview
counts: its open conflicts per zone, per permit state (a conflict without a permit row
is not started), its new alerts, and (generated) the rank of its worst permit state.
At Shanghai size (100,000 sites, 200,000 conflicts) working this out per request took
0.34-0.49 s of every permits-map request and five full scans for the overview.

Statement-level triggers on ``pipeline_conflict``, ``permit`` and ``alert`` recompute the
touched projects' rows in the same transaction as the write, whoever writes (screening,
procedure, expiry, imports, SQL by hand). Each recomputation first locks the rows (in
project order) and then counts with a fresh snapshot, so two transactions writing the
same project's conflicts at once cannot store a state that misses the other's change.
A project without a row has no open conflict and no new alert.
The table follows its project under row-level security, as the conflicts do.

Revision ID: 0022
Revises: 0018
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = '0022'
down_revision = '0018'
branch_labels = None
depends_on = None

ZONES = ('protection', 'control')
# vocabulary.PERMIT_SEVERITY at the time of writing, worst first.
PERMITS = ('not_started', 'rejected', 'expired', 'applied', 'approved', 'not_required')
SEEN = "(SELECT current_setting('gisapp.district', true))"
POLICY = (f"{SEEN} = '*' OR EXISTS (SELECT 1 FROM construction_project p "
          "WHERE p.id = project_map_state.project_id)")
WATCHED = ('pipeline_conflict', 'permit', 'alert')
OPS = {'INSERT': 'NEW TABLE AS new_rows', 'UPDATE': 'OLD TABLE AS old_rows NEW TABLE AS new_rows',
       'DELETE': 'OLD TABLE AS old_rows'}


def _rank() -> str:
    return ("CASE " + " ".join(f"WHEN permits_{s} > 0 THEN {i}" for i, s in enumerate(PERMITS, 1))
            + " END")


def _counts() -> str:
    zones = ", ".join(f"count(*) FILTER (WHERE c.zone = '{z}') AS conflicts_{z}" for z in ZONES)
    permits = ", ".join(f"count(*) FILTER (WHERE coalesce(pm.status, 'not_started') = '{s}') "
                        f"AS permits_{s}" for s in PERMITS)
    return f"{zones}, {permits}"


COLUMNS = [f"conflicts_{z}" for z in ZONES] + [f"permits_{s}" for s in PERMITS] + ["alerts_new"]


def upgrade() -> None:
    op.create_table(
        'project_map_state',
        sa.Column('project_id', sa.BigInteger(), nullable=False),
        *[sa.Column(c, sa.Integer(), server_default='0', nullable=False) for c in COLUMNS],
        sa.Column('permit_rank', sa.SmallInteger(), sa.Computed(_rank(), persisted=True), nullable=True),
        sa.ForeignKeyConstraint(['project_id'], ['construction_project.id'], ondelete='CASCADE',
                                name=op.f('fk_project_map_state_project_id_construction_project')),
        sa.PrimaryKeyConstraint('project_id', name=op.f('pk_project_map_state')),
    )
    sets = ", ".join(f"{c} = coalesce(x.{c}, 0)" for c in COLUMNS)
    op.execute(f"""
        CREATE FUNCTION gisapp_ref.refresh_project_map_state(ids bigint[]) RETURNS void
        LANGUAGE plpgsql AS $$
        BEGIN
          IF cardinality(ids) = 0 THEN RETURN; END IF;
          INSERT INTO project_map_state (project_id)
            SELECT p.id FROM construction_project p WHERE p.id IN (SELECT unnest(ids))
            ORDER BY p.id ON CONFLICT DO NOTHING;
          PERFORM 1 FROM project_map_state s WHERE s.project_id IN (SELECT unnest(ids))
            ORDER BY s.project_id FOR UPDATE;
          -- A new statement: a fresh snapshot, taken after the rows were locked.
          UPDATE project_map_state s SET {sets}
          FROM (SELECT i.id, c.*, a.alerts_new
                FROM (SELECT DISTINCT unnest(ids) AS id) i
                LEFT JOIN (SELECT c.project_id, {_counts()}
                           FROM pipeline_conflict c LEFT JOIN permit pm ON pm.conflict_id = c.id
                           WHERE c.closed_at IS NULL AND c.project_id IN (SELECT unnest(ids))
                           GROUP BY c.project_id) c ON c.project_id = i.id
                LEFT JOIN (SELECT project_id, count(*) AS alerts_new FROM alert
                           WHERE status = 'new' AND project_id IN (SELECT unnest(ids))
                           GROUP BY project_id) a ON a.project_id = i.id) x
          WHERE s.project_id = x.id;
        END $$""")
    op.execute("""
        CREATE FUNCTION gisapp_ref.project_map_state_changed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE ids bigint[];
        BEGIN
          IF TG_OP = 'TRUNCATE' THEN
            ids := ARRAY(SELECT project_id FROM project_map_state);
          ELSIF TG_TABLE_NAME = 'permit' THEN
            IF TG_OP = 'INSERT' THEN
              ids := ARRAY(SELECT DISTINCT c.project_id FROM new_rows r JOIN pipeline_conflict c ON c.id = r.conflict_id);
            ELSIF TG_OP = 'UPDATE' THEN
              ids := ARRAY(SELECT DISTINCT c.project_id FROM pipeline_conflict c WHERE c.id IN (
                SELECT n.conflict_id FROM new_rows n JOIN old_rows o ON o.id = n.id
                WHERE n.status IS DISTINCT FROM o.status OR n.conflict_id IS DISTINCT FROM o.conflict_id
                UNION SELECT o.conflict_id FROM new_rows n JOIN old_rows o ON o.id = n.id
                WHERE n.conflict_id IS DISTINCT FROM o.conflict_id));
            ELSE
              ids := ARRAY(SELECT DISTINCT c.project_id FROM old_rows r JOIN pipeline_conflict c ON c.id = r.conflict_id);
            END IF;
          ELSIF TG_OP = 'INSERT' THEN
            ids := ARRAY(SELECT DISTINCT project_id FROM new_rows);
          ELSIF TG_OP = 'UPDATE' THEN
            ids := ARRAY(SELECT project_id FROM new_rows UNION SELECT project_id FROM old_rows);
          ELSE
            ids := ARRAY(SELECT DISTINCT project_id FROM old_rows);
          END IF;
          PERFORM gisapp_ref.refresh_project_map_state(ids);
          RETURN NULL;
        END $$""")
    for table in WATCHED:
        for event, refs in OPS.items():
            op.execute(f"CREATE TRIGGER gisapp_map_state_{event.lower()} AFTER {event} ON {table} "
                       f"REFERENCING {refs} FOR EACH STATEMENT "
                       "EXECUTE FUNCTION gisapp_ref.project_map_state_changed()")
        op.execute(f"CREATE TRIGGER gisapp_map_state_truncate AFTER TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION gisapp_ref.project_map_state_changed()")
    op.execute("ALTER TABLE project_map_state ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE project_map_state FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY gisapp_district ON project_map_state FOR ALL USING ({POLICY})")
    for role in ('gisapp_app', 'gisapp_city'):
        op.execute(f"""
            DO $$ BEGIN
              IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON project_map_state TO {role};
              END IF;
            END $$""")
    # Backfill: every project with an open conflict or a new alert.
    op.execute("""
        SELECT gisapp_ref.refresh_project_map_state(ARRAY(
          SELECT project_id FROM pipeline_conflict WHERE closed_at IS NULL
          UNION SELECT project_id FROM alert WHERE status = 'new'))""")


def downgrade() -> None:
    for table in WATCHED:
        for event in (*OPS, 'TRUNCATE'):
            op.execute(f"DROP TRIGGER gisapp_map_state_{event.lower()} ON {table}")
    op.execute("DROP FUNCTION gisapp_ref.project_map_state_changed()")
    op.execute("DROP FUNCTION gisapp_ref.refresh_project_map_state(bigint[])")
    op.drop_table('project_map_state')
