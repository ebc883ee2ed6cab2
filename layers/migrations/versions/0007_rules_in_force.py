"""rules in force: project activities, conflict activities and version found under, change alerts, switches

Projects declare planned activities (sorted codes, comma-joined; NULL = none declared).
A conflict keeps the activities prohibited / needing a protection plan and the rule set
version it was first found under. Alerts gain a kind: exactly one 'new' alert per
conflict (the unique constraint becomes a partial unique index), and any number of
'changed' alerts when a rule change moves a standing conflict. ``rule_set_switch``
records every switch of the stored data between versions.

Revision ID: 0007
Revises: 0009
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0007'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One open conflict per pair from now on, whatever version found it: a rule change
    # carries a standing conflict over instead of opening a second one. Pairs left open
    # under two versions by earlier screens keep their most recently screened row.
    op.execute(
        "UPDATE pipeline_conflict c SET closed_at = now() WHERE c.closed_at IS NULL AND EXISTS ("
        "SELECT 1 FROM pipeline_conflict d WHERE d.closed_at IS NULL AND d.project_id = c.project_id "
        "AND d.pipeline_id = c.pipeline_id AND (d.last_screened_at, d.id) > (c.last_screened_at, c.id))"
    )
    op.drop_index('uq_pipeline_conflict_open_pair', table_name='pipeline_conflict')
    op.create_index('uq_pipeline_conflict_open_pair', 'pipeline_conflict', ['project_id', 'pipeline_id'],
                    unique=True, postgresql_where=sa.text('closed_at IS NULL'))
    op.add_column('construction_project', sa.Column('activities', sa.Text(), nullable=True))
    for name in ('prohibited_activities', 'plan_required_activities'):
        op.add_column('pipeline_conflict', sa.Column(
            name, postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False))
    op.add_column('pipeline_conflict', sa.Column('found_under', sa.String(length=80), nullable=True))
    op.execute("UPDATE pipeline_conflict SET found_under = rule_set")
    op.add_column('alert', sa.Column('kind', sa.String(length=16), server_default='new', nullable=False))
    op.create_check_constraint(op.f('ck_alert_kind'), 'alert', "kind IN ('new', 'changed')")
    op.drop_constraint(op.f('uq_alert_conflict_id'), 'alert', type_='unique')
    op.create_index('uq_alert_new_conflict_id', 'alert', ['conflict_id'], unique=True,
                    postgresql_where=sa.text("kind = 'new'"))
    op.create_index('ix_alert_conflict_id', 'alert', ['conflict_id'], unique=False)
    op.create_table(
        'rule_set_switch',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('from_rule_set', sa.String(length=80), nullable=True),
        sa.Column('to_rule_set', sa.String(length=80), nullable=False),
        sa.Column('trigger', sa.String(length=16), nullable=False),
        sa.Column('switched_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('new_conflicts', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('changed_conflicts', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('closed_conflicts', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.CheckConstraint("trigger IN ('auto', 'command')", name=op.f('ck_rule_set_switch_trigger')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rule_set_switch')),
    )
    op.create_index('ix_rule_set_switch_switched_at', 'rule_set_switch', ['switched_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_rule_set_switch_switched_at', table_name='rule_set_switch')
    op.drop_table('rule_set_switch')
    op.drop_index('ix_alert_conflict_id', table_name='alert')
    op.drop_index('uq_alert_new_conflict_id', table_name='alert')
    op.execute("DELETE FROM outbox_message WHERE alert_id IN (SELECT id FROM alert WHERE kind <> 'new')")
    op.execute("DELETE FROM alert WHERE kind <> 'new'")
    op.create_unique_constraint(op.f('uq_alert_conflict_id'), 'alert', ['conflict_id'])
    op.drop_constraint(op.f('ck_alert_kind'), 'alert', type_='check')
    op.drop_column('alert', 'kind')
    op.drop_column('pipeline_conflict', 'found_under')
    op.drop_column('pipeline_conflict', 'plan_required_activities')
    op.drop_column('pipeline_conflict', 'prohibited_activities')
    op.drop_column('construction_project', 'activities')
    op.drop_index('uq_pipeline_conflict_open_pair', table_name='pipeline_conflict')
    op.create_index('uq_pipeline_conflict_open_pair', 'pipeline_conflict',
                    ['project_id', 'pipeline_id', 'rule_set'], unique=True,
                    postgresql_where=sa.text('closed_at IS NULL'))
