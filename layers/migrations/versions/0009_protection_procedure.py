"""protection procedure: answer letters, owner reviews, documents, supervision, start notices,
damage reports, violations, notifications, organisations, calendar days; role utility;
outbox channels and dedup keys; permit_event steps

``answer_next_seq(year)`` hands out the per-year answer number from a sequence of that
year (``answer_seq_<year>``), created on first use: a sequence takes no row lock, so
concurrent registrations never queue on a counter row (numbers of rolled-back
registrations are skipped, as with any sequence).

Revision ID: 0009
Revises: 0011
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
import geoalchemy2

revision = '0009'
down_revision = '0011'
branch_labels = None
depends_on = None

ANSWER_SEQ = """
CREATE OR REPLACE FUNCTION answer_next_seq(y integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  seq text := 'answer_seq_' || y;
BEGIN
  IF y < 2000 OR y > 2999 THEN
    RAISE EXCEPTION 'answer year out of range: %', y;
  END IF;
  IF to_regclass(seq) IS NULL THEN
    BEGIN
      EXECUTE format('CREATE SEQUENCE %I', seq);
    EXCEPTION WHEN unique_violation OR duplicate_table THEN
      NULL;  -- a concurrent first issue of the year created it
    END;
  END IF;
  RETURN nextval(seq);
END $$;
"""


def _ts(name, **kw):
    return sa.Column(name, sa.DateTime(timezone=True), **kw)


def upgrade() -> None:
    op.add_column('app_user', sa.Column('email', sa.String(length=254), nullable=True))
    op.drop_constraint(op.f('ck_app_user_role'), 'app_user', type_='check')
    op.create_check_constraint(
        op.f('ck_app_user_role'), 'app_user',
        "role IN ('gas_office', 'builder', 'inspector', 'admin', 'utility')")
    op.add_column('permit_event', sa.Column('event', sa.String(length=32), nullable=True))
    op.add_column('outbox_message', sa.Column('channel', sa.String(length=16),
                                              server_default='webhook', nullable=False))
    op.add_column('outbox_message', sa.Column('dedup_key', sa.String(length=200), nullable=True))
    op.create_index('uq_outbox_message_dedup', 'outbox_message',
                    ['channel', 'target_url', 'dedup_key'], unique=True,
                    postgresql_where=sa.text('dedup_key IS NOT NULL'))

    op.create_table('organisation',
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('contact_person', sa.Text(), nullable=True),
    sa.Column('phone', sa.String(length=64), nullable=True),
    sa.Column('emergency_phone', sa.String(length=64), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('wecom_webhook_url', sa.Text(), nullable=True),
    sa.Column('dingtalk_webhook_url', sa.Text(), nullable=True),
    sa.Column('dingtalk_secret', sa.String(length=128), nullable=True),
    _ts('updated_at', server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('builder', 'utility')", name=op.f('ck_organisation_kind')),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_organisation'))
    )
    op.create_table('calendar_day',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('workday', sa.Boolean(), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_calendar_day'))
    )
    op.create_table('answer_letter',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    _ts('issued_at', server_default=sa.text('now()'), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=False),
    sa.Column('rule_set', sa.String(length=80), nullable=False),
    sa.Column('verification_code', sa.String(length=16), nullable=False),
    sa.Column('issued_by', sa.String(length=64), nullable=True),
    _ts('superseded_at', nullable=True),
    sa.Column('superseded_by', sa.BigInteger(), nullable=True),
    _ts('expiry_notified_at', nullable=True),
    sa.Column('snapshot', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.CheckConstraint("reason IN ('registration', 'change', 'renewal')", name=op.f('ck_answer_letter_reason')),
    sa.ForeignKeyConstraint(['project_id'], ['construction_project.id'], name=op.f('fk_answer_letter_project_id_construction_project')),
    sa.ForeignKeyConstraint(['superseded_by'], ['answer_letter.id'], name=op.f('fk_answer_letter_superseded_by_answer_letter')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_answer_letter')),
    sa.UniqueConstraint('number', name=op.f('uq_answer_letter_number'))
    )
    op.create_index('ix_answer_letter_project_id', 'answer_letter', ['project_id'])
    op.create_index('ix_answer_letter_superseded_by', 'answer_letter', ['superseded_by'])
    op.create_index('uq_answer_letter_current', 'answer_letter', ['project_id'], unique=True,
                    postgresql_where=sa.text('superseded_at IS NULL'))
    op.create_table('owner_review',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('conflict_id', sa.BigInteger(), nullable=False),
    sa.Column('owner', sa.Text(), nullable=True),
    _ts('created_at', server_default=sa.text('now()'), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('decision', sa.String(length=40), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    _ts('replied_at', nullable=True),
    sa.Column('replied_by', sa.String(length=64), nullable=True),
    sa.Column('plan_decision', sa.String(length=24), nullable=True),
    _ts('plan_decided_at', nullable=True),
    sa.CheckConstraint("decision IS NULL OR decision IN ('no_objection', 'protection_plan_required', 'on_site_supervision_required', 'relocation_required')", name=op.f('ck_owner_review_decision')),
    sa.CheckConstraint("plan_decision IS NULL OR plan_decision IN ('agreed', 'changes_requested')", name=op.f('ck_owner_review_plan_decision')),
    sa.ForeignKeyConstraint(['conflict_id'], ['pipeline_conflict.id'], name=op.f('fk_owner_review_conflict_id_pipeline_conflict')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_owner_review')),
    sa.UniqueConstraint('conflict_id', name=op.f('uq_owner_review_conflict_id'))
    )
    op.create_index('ix_owner_review_owner_due_on', 'owner_review', ['owner', 'due_on'])
    op.create_table('supervision_visit',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('conflict_id', sa.BigInteger(), nullable=False),
    sa.Column('scheduled_on', sa.Date(), nullable=False),
    sa.Column('person', sa.Text(), nullable=False),
    _ts('created_at', server_default=sa.text('now()'), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    _ts('arrived_at', nullable=True),
    _ts('left_at', nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('recorded_by', sa.String(length=64), nullable=True),
    sa.CheckConstraint('left_at IS NULL OR arrived_at IS NULL OR left_at >= arrived_at', name=op.f('ck_supervision_visit_times')),
    sa.ForeignKeyConstraint(['conflict_id'], ['pipeline_conflict.id'], name=op.f('fk_supervision_visit_conflict_id_pipeline_conflict')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_visit'))
    )
    op.create_index('ix_supervision_visit_conflict_id', 'supervision_visit', ['conflict_id'])
    op.create_table('start_notice',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('planned_start', sa.Date(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    _ts('submitted_at', server_default=sa.text('now()'), nullable=False),
    sa.Column('submitted_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['construction_project.id'], name=op.f('fk_start_notice_project_id_construction_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_start_notice'))
    )
    op.create_index('ix_start_notice_project_id', 'start_notice', ['project_id'])
    op.create_table('damage_report',
    sa.Column('id', sa.BigInteger(), nullable=False),
    _ts('reported_at', server_default=sa.text('now()'), nullable=False),
    sa.Column('reported_by', sa.String(length=64), nullable=True),
    _ts('occurred_at', nullable=False),
    sa.Column('location', geoalchemy2.types.Geometry(geometry_type='POINT', srid=4490, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('pipeline_id', sa.BigInteger(), nullable=True),
    sa.Column('project_id', sa.BigInteger(), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('had_valid_answer', sa.Boolean(), nullable=True),
    sa.Column('had_approved_permit', sa.Boolean(), nullable=True),
    _ts('acknowledged_at', nullable=True),
    sa.Column('acknowledged_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['pipeline_id'], ['gas_pipeline.id'], name=op.f('fk_damage_report_pipeline_id_gas_pipeline')),
    sa.ForeignKeyConstraint(['project_id'], ['construction_project.id'], name=op.f('fk_damage_report_project_id_construction_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_damage_report'))
    )
    op.create_index('ix_damage_report_pipeline_id', 'damage_report', ['pipeline_id'])
    op.create_index('ix_damage_report_project_id', 'damage_report', ['project_id'])
    op.create_table('violation',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    _ts('created_at', server_default=sa.text('now()'), nullable=False),
    _ts('acknowledged_at', nullable=True),
    sa.Column('acknowledged_by', sa.String(length=64), nullable=True),
    sa.CheckConstraint("kind IN ('no_permit', 'answer_expired', 'no_answer')", name=op.f('ck_violation_kind')),
    sa.ForeignKeyConstraint(['project_id'], ['construction_project.id'], name=op.f('fk_violation_project_id_construction_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_violation'))
    )
    op.create_index('ix_violation_project_id', 'violation', ['project_id'])
    op.create_table('procedure_document',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('owner_review_id', sa.BigInteger(), nullable=True),
    sa.Column('permit_id', sa.BigInteger(), nullable=True),
    sa.Column('visit_id', sa.BigInteger(), nullable=True),
    sa.Column('damage_report_id', sa.BigInteger(), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    _ts('uploaded_at', server_default=sa.text('now()'), nullable=False),
    sa.Column('uploaded_by', sa.String(length=64), nullable=True),
    sa.CheckConstraint("kind IN ('owner_reply', 'protection_plan', 'visit_photo', 'damage_photo')", name=op.f('ck_procedure_document_kind')),
    sa.CheckConstraint('size_bytes > 0 AND size_bytes <= 20000000', name=op.f('ck_procedure_document_size_bytes')),
    sa.CheckConstraint('num_nonnulls(owner_review_id, permit_id, visit_id, damage_report_id) = 1', name=op.f('ck_procedure_document_owner')),
    sa.ForeignKeyConstraint(['owner_review_id'], ['owner_review.id'], name=op.f('fk_procedure_document_owner_review_id_owner_review')),
    sa.ForeignKeyConstraint(['permit_id'], ['permit.id'], name=op.f('fk_procedure_document_permit_id_permit')),
    sa.ForeignKeyConstraint(['visit_id'], ['supervision_visit.id'], name=op.f('fk_procedure_document_visit_id_supervision_visit')),
    sa.ForeignKeyConstraint(['damage_report_id'], ['damage_report.id'], name=op.f('fk_procedure_document_damage_report_id_damage_report')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_procedure_document'))
    )
    for col in ('owner_review_id', 'permit_id', 'visit_id', 'damage_report_id'):
        op.create_index(f'ix_procedure_document_{col}', 'procedure_document', [col])
    op.create_table('notification',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('dedup_key', sa.String(length=160), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=True),
    sa.Column('entity_id', sa.BigInteger(), nullable=True),
    sa.Column('project_id', sa.BigInteger(), nullable=True),
    _ts('created_at', server_default=sa.text('now()'), nullable=False),
    _ts('read_at', nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_notification_user_id_app_user')),
    sa.ForeignKeyConstraint(['project_id'], ['construction_project.id'], name=op.f('fk_notification_project_id_construction_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification'))
    )
    op.create_index('uq_notification_user_id_dedup_key', 'notification', ['user_id', 'dedup_key'], unique=True)
    op.create_index('ix_notification_unread', 'notification', ['user_id', 'id'],
                    postgresql_where=sa.text('read_at IS NULL'))
    op.create_index('ix_notification_project_id', 'notification', ['project_id'])
    op.execute(ANSWER_SEQ)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS answer_next_seq(integer)")
    for table in ('notification', 'procedure_document', 'violation', 'damage_report',
                  'start_notice', 'supervision_visit', 'owner_review', 'answer_letter',
                  'calendar_day', 'organisation'):
        op.drop_table(table)
    op.drop_index('uq_outbox_message_dedup', table_name='outbox_message')
    op.drop_column('outbox_message', 'dedup_key')
    op.drop_column('outbox_message', 'channel')
    op.drop_column('permit_event', 'event')
    op.execute("DELETE FROM user_change_request WHERE target_user_id IN "
               "(SELECT id FROM app_user WHERE role = 'utility')")
    op.execute("DELETE FROM personal_access_token WHERE user_id IN "
               "(SELECT id FROM app_user WHERE role = 'utility')")
    op.execute("DELETE FROM app_user WHERE role = 'utility'")
    op.drop_constraint(op.f('ck_app_user_role'), 'app_user', type_='check')
    op.create_check_constraint(op.f('ck_app_user_role'), 'app_user',
                               "role IN ('gas_office', 'builder', 'inspector', 'admin')")
    op.drop_column('app_user', 'email')
