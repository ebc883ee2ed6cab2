"""district columns: every row under row-level security carries its own district

Migration 0013's policies on the tables that hang on a project (conflicts, alerts,
permits, the procedure...) checked, for every row, that its project was visible: an
EXISTS subquery per row, down to the project (a district user's conflict list cost
2.65x its time without the policies). Each of those tables now has its own
``district`` column, and its policy is a plain comparison with the setting, which an
index serves:

- On INSERT the database fills ``district`` from the row's parent (trigger
  ``gisapp_follow_district``, one function per table with static SQL) unless the
  statement gave one (the screening's insert takes its project's, so a full screen pays
  no per-row lookup); a changed parent link looks it up again. The parent is read under
  the writer's own row-level security: a district writing a row under another
  district's parent gets NULL, which its policy then refuses.
- When a row's district changes (a project moved into another district by a city-wide
  user), the rows that follow it change too (trigger ``gisapp_cascade_district``), down
  the chain (project -> conflict -> permit -> permit event...).
- A conflict belongs to its SITE's district (its project's), wherever the pipe lies: the
  district office that registered the site answers the builder and follows the permit.
  The pipe's district does not see it (it sees its pipe, of course).
- A notification about a project follows the project, one about a damage report the
  report; one about neither (an account matter) has no district and is visible to its
  user's service alone, as before.
- ``spot_check_plan`` gets ``district`` too: in a whole-city deployment each district
  office draws its own plan per (year, stage); NULL is the plan of the whole deployment
  (a one-district deployment's, and the city office's). It comes under row-level
  security: a district sees its own plans only.
- ``ix_construction_project_live_district``: a district's count of its live projects
  (the project lists' totals) reads an index only instead of the whole table.
- ``answer_next_seq(year, prefix)``: the answer number's sequence per district prefix
  and year. ``CM`` keeps the sequence ``answer_seq_<year>`` of migration 0009, so a
  Chongming deployment's numbers go on unchanged.

Revision ID: 0018
Revises: 0020
Create Date: 2026-12-01
"""
import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0019'
branch_labels = None
depends_on = None

SEEN = "(SELECT current_setting('gisapp.district', true))"
CITY_WIDE = f"{SEEN} = '*'"
_P = ('construction_project', 'project_id')
_C = ('pipeline_conflict', 'conflict_id')
_I = ('inspection', 'inspection_id')
# child -> its parents in order of precedence: (parent table, link column[, condition on
# the child row]). The first parent the row links to gives its district. Parents come
# before their children (the backfill and trigger order).
FOLLOWS = {
    'pipeline_conflict': [_P],
    'alert': [_P],
    'inspection': [_P],
    'spot_check_pick': [_P],
    'project_review': [_P],
    'answer_letter': [_P],
    'start_notice': [_P],
    'violation': [_P],
    'permit': [_C],
    'owner_review': [_C],
    'supervision_visit': [_C],
    'permit_event': [('permit', 'permit_id')],
    'hazard': [_I],
    'inspection_key_item': [_I],
    'evidence_file': [_I, ('hazard', 'hazard_id')],
    'procedure_document': [('owner_review', 'owner_review_id'), ('permit', 'permit_id'),
                           ('supervision_visit', 'visit_id'), ('damage_report', 'damage_report_id')],
    'notification': [_P, ('damage_report', 'entity_id', "{row}.entity = 'damage_report'")],
}
# Parents whose district other rows follow (they themselves get theirs elsewhere too).
PARENTS = ('construction_project', 'damage_report', *FOLLOWS)
# A notification about neither a project nor a damage report (an account matter) has
# no district: every service of its user may show it (the service picks by user).
UNDISTRICTED = {'notification': "project_id IS NULL AND entity IS DISTINCT FROM 'damage_report'"}


def _links(child: str) -> list[tuple[str, str, str | None]]:
    return [(p[0], p[1], p[2] if len(p) > 2 else None) for p in FOLLOWS[child]]


def _lookup(child: str, row: str) -> str:
    """SQL of the district a ``child`` row (alias ``row``) follows, from its first linked parent."""
    parts = []
    for parent, column, condition in _links(child):
        found = f"(SELECT x.district FROM {parent} x WHERE x.id = {row}.{column})"
        if condition:
            found = f"CASE WHEN {condition.format(row=row)} THEN {found} END"
        parts.append(found)
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def _fill_function(child: str) -> str:
    # The notification's project comes first, and only a notification of no project
    # follows a damage report (as 0013's CASE did).
    if child == 'notification':
        lookup = ("CASE WHEN NEW.project_id IS NOT NULL THEN "
                  "(SELECT x.district FROM construction_project x WHERE x.id = NEW.project_id) "
                  "WHEN NEW.entity = 'damage_report' THEN "
                  "(SELECT x.district FROM damage_report x WHERE x.id = NEW.entity_id) END")
    else:
        lookup = _lookup(child, 'NEW')
    return f"""
        CREATE FUNCTION gisapp_ref.follow_district_{child}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          -- A statement that knows the district (the screening's insert) gives it.
          IF TG_OP = 'INSERT' AND NEW.district IS NOT NULL THEN
            RETURN NEW;
          END IF;
          NEW.district := {lookup};
          RETURN NEW;
        END $$"""


def _children_of(parent: str) -> list[tuple[str, str, str]]:
    """(child, link column, the child rows that follow this parent) for each child of ``parent``."""
    out = []
    for child in FOLLOWS:
        earlier: list[str] = []
        for other, column, condition in _links(child):
            if other == parent:
                where = [f"c.{column} = NEW.id", *(f"c.{e} IS NULL" for e in earlier)]
                if condition:
                    where.append(condition.format(row='c'))
                out.append((child, column, " AND ".join(where)))
            earlier.append(column)
    return out


def _cascade_function(parent: str) -> str:
    updates = "\n".join(
        f"          UPDATE {child} c SET district = NEW.district WHERE {where} "
        f"AND c.district IS DISTINCT FROM NEW.district;"
        for child, _column, where in _children_of(parent))
    return f"""
        CREATE FUNCTION gisapp_ref.cascade_district_{parent}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
{updates}
          RETURN NULL;
        END $$"""


def _policy(table: str, using: str) -> None:
    op.execute(f"DROP POLICY IF EXISTS gisapp_district ON {table}")
    op.execute(f"CREATE POLICY gisapp_district ON {table} FOR ALL USING ({CITY_WIDE} OR {using})")


def upgrade() -> None:
    # A migrating user that is not a superuser is bound by the forced policies too:
    # the backfill must see every row.
    op.execute("SELECT set_config('gisapp.district', '*', true)")
    for child in FOLLOWS:
        op.add_column(child, sa.Column('district', sa.String(length=6), nullable=True))
        if child == 'notification':
            op.execute("UPDATE notification t SET district = CASE WHEN t.project_id IS NOT NULL THEN "
                       "(SELECT x.district FROM construction_project x WHERE x.id = t.project_id) "
                       "WHEN t.entity = 'damage_report' THEN "
                       "(SELECT x.district FROM damage_report x WHERE x.id = t.entity_id) END")
        else:
            op.execute(f"UPDATE {child} t SET district = {_lookup(child, 't')}")
        op.create_index(f'ix_{child}_district', child, ['district'])
        op.execute(_fill_function(child))
        link_columns = ", ".join(dict.fromkeys(link[1] for link in _links(child)))
        op.execute(f"CREATE TRIGGER gisapp_follow_district BEFORE INSERT OR UPDATE OF {link_columns} "
                   f"ON {child} FOR EACH ROW EXECUTE FUNCTION gisapp_ref.follow_district_{child}()")
    for parent in PARENTS:
        if not _children_of(parent):
            continue
        op.execute(_cascade_function(parent))
        # Not "UPDATE OF district": a moved site's district is changed by a BEFORE trigger,
        # which a column list would not see. The WHEN test costs nothing per other row.
        op.execute(f"CREATE TRIGGER gisapp_cascade_district AFTER UPDATE ON {parent} FOR EACH ROW "
                   f"WHEN (OLD.district IS DISTINCT FROM NEW.district) "
                   f"EXECUTE FUNCTION gisapp_ref.cascade_district_{parent}()")
    # A district's count of its live projects (every project list pages with a total)
    # was a scan of the whole table under the policy (6.8 ms for 10,000 sites, 0.8 ms
    # off): with the live rows' districts in an index of their own it is an index-only scan.
    op.create_index('ix_construction_project_live_district', 'construction_project', ['district'],
                    postgresql_where=sa.text('deleted_at IS NULL'))
    own = f"district = {SEEN}"
    for child in FOLLOWS:
        extra = UNDISTRICTED.get(child)
        _policy(child, f"{own} OR ({extra})" if extra else own)

    # Spot-check plans per (year, stage, district); NULL: the whole deployment's.
    op.add_column('spot_check_plan', sa.Column('district', sa.String(length=6), nullable=True))
    op.drop_index('uq_spot_check_plan_year_stage', table_name='spot_check_plan')
    op.create_index('uq_spot_check_plan_year_stage_district', 'spot_check_plan',
                    ['year', 'stage', sa.text("coalesce(district, '')")], unique=True)
    op.execute("ALTER TABLE spot_check_plan ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE spot_check_plan FORCE ROW LEVEL SECURITY")
    _policy('spot_check_plan', own)

    # The answer number's sequence per district prefix and year (CM: migration 0009's).
    op.execute("""
        CREATE FUNCTION answer_next_seq(y integer, prefix text) RETURNS bigint
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE
          seq text;
        BEGIN
          IF y < 2000 OR y > 2999 THEN
            RAISE EXCEPTION 'answer year out of range: %', y;
          END IF;
          IF prefix IS NULL OR prefix !~ '^[A-Z]{2,4}$' THEN
            RAISE EXCEPTION 'answer number prefix must be 2-4 capital letters: %', prefix;
          END IF;
          seq := CASE WHEN prefix = 'CM' THEN 'answer_seq_' || y
                      ELSE 'answer_seq_' || lower(prefix) || '_' || y END;
          IF to_regclass(seq) IS NULL THEN
            BEGIN
              EXECUTE format('CREATE SEQUENCE %I', seq);
            EXCEPTION WHEN unique_violation OR duplicate_table THEN
              NULL;  -- a concurrent first issue of the year created it
            END;
          END IF;
          RETURN nextval(seq);
        END $$""")


def _migration_0013():
    path = Path(__file__).with_name('0013_districts_rls.py')
    spec = importlib.util.spec_from_file_location('gisapp_migration_0013', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def downgrade() -> None:
    # District read-only roles' policies (gisapp db up --district-role) may name the
    # columns about to go, spot_check_plan's included: dropped first; the role's next
    # refresh makes them again.
    tables = ", ".join(f"'{t}'" for t in (*FOLLOWS, 'spot_check_plan'))
    op.execute(f"""
        DO $$ DECLARE p record; BEGIN
          FOR p IN SELECT policyname, tablename FROM pg_policies
                   WHERE schemaname = 'public' AND tablename IN ({tables})
                     AND policyname LIKE 'gisapp\\_district\\_%' LOOP
            EXECUTE format('DROP POLICY %I ON %I', p.policyname, p.tablename);
          END LOOP;
        END $$""")
    op.execute("DROP FUNCTION IF EXISTS answer_next_seq(integer, text)")
    op.drop_index('ix_construction_project_live_district', table_name='construction_project',
                  postgresql_where=sa.text('deleted_at IS NULL'))
    op.execute("DROP POLICY IF EXISTS gisapp_district ON spot_check_plan")
    op.execute("ALTER TABLE spot_check_plan NO FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE spot_check_plan DISABLE ROW LEVEL SECURITY")
    # Fails (unique violation) while two districts hold a plan of the same stage.
    op.drop_index('uq_spot_check_plan_year_stage_district', table_name='spot_check_plan')
    op.create_index('uq_spot_check_plan_year_stage', 'spot_check_plan', ['year', 'stage'], unique=True)
    op.drop_column('spot_check_plan', 'district')
    old = _migration_0013()
    for child in FOLLOWS:
        _policy(child, old.CHILD_TABLES[child])
    for parent in PARENTS:
        op.execute(f"DROP TRIGGER IF EXISTS gisapp_cascade_district ON {parent}")
        op.execute(f"DROP FUNCTION IF EXISTS gisapp_ref.cascade_district_{parent}()")
    for child in reversed(list(FOLLOWS)):
        op.execute(f"DROP TRIGGER IF EXISTS gisapp_follow_district ON {child}")
        op.execute(f"DROP FUNCTION IF EXISTS gisapp_ref.follow_district_{child}()")
        op.drop_index(f'ix_{child}_district', table_name=child)
        op.drop_column(child, 'district')
