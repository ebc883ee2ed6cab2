"""service: users, tokens, audit, permits, alerts, outbox, idempotency

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('app_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('organisation', sa.Text(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("role IN ('gas_office', 'builder', 'inspector', 'admin')", name=op.f('ck_app_user_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user')),
    sa.UniqueConstraint('username', name=op.f('uq_app_user_username'))
    )
    op.create_table('api_token',
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_api_token_user_id_app_user')),
    sa.PrimaryKeyConstraint('token_sha256', name=op.f('pk_api_token'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=True),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_audit_log_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index('ix_audit_log_entity', 'audit_log', ['entity', 'entity_id'], unique=False)
    op.create_table('idempotency_record',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('request_sha256', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_idempotency_record_user_id_app_user')),
    sa.PrimaryKeyConstraint('user_id', 'key', name=op.f('pk_idempotency_record'))
    )
    op.create_table('alert',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('conflict_id', sa.BigInteger(), nullable=False),
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('pipeline_id', sa.BigInteger(), nullable=False),
    sa.Column('zone', sa.String(length=16), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='new', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=64), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('new', 'acknowledged', 'resolved')", name=op.f('ck_alert_status')),
    sa.CheckConstraint("zone IN ('protection', 'control')", name=op.f('ck_alert_zone')),
    sa.ForeignKeyConstraint(['conflict_id'], ['pipeline_conflict.id'], name=op.f('fk_alert_conflict_id_pipeline_conflict')),
    sa.ForeignKeyConstraint(['pipeline_id'], ['gas_pipeline.id'], name=op.f('fk_alert_pipeline_id_gas_pipeline')),
    sa.ForeignKeyConstraint(['project_id'], ['construction_project.id'], name=op.f('fk_alert_project_id_construction_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert')),
    sa.UniqueConstraint('conflict_id', name=op.f('uq_alert_conflict_id'))
    )
    op.create_index('ix_alert_status_created_at', 'alert', ['status', 'created_at'], unique=False)
    op.create_table('permit',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('conflict_id', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='not_started', nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=True),
    sa.Column('approved_until', sa.Date(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=True),
    sa.CheckConstraint("status <> 'approved' OR approved_until IS NOT NULL", name=op.f('ck_permit_approved_until')),
    sa.CheckConstraint("status <> 'not_required' OR coalesce(length(trim(reason)), 0) > 0", name=op.f('ck_permit_reason')),
    sa.CheckConstraint("status IN ('not_started', 'applied', 'approved', 'rejected', 'expired', 'not_required')", name=op.f('ck_permit_status')),
    sa.ForeignKeyConstraint(['conflict_id'], ['pipeline_conflict.id'], name=op.f('fk_permit_conflict_id_pipeline_conflict')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_permit')),
    sa.UniqueConstraint('conflict_id', name=op.f('uq_permit_conflict_id'))
    )
    op.create_table('outbox_message',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('alert_id', sa.BigInteger(), nullable=True),
    sa.Column('target_url', sa.Text(), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alert.id'], name=op.f('fk_outbox_message_alert_id_alert')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_message'))
    )
    op.create_index('ix_outbox_message_pending', 'outbox_message', ['next_attempt_at'], unique=False, postgresql_where=sa.text('delivered_at IS NULL'))
    op.create_table('permit_event',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('permit_id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('approved_until', sa.Date(), nullable=True),
    sa.Column('reference', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['permit_id'], ['permit.id'], name=op.f('fk_permit_event_permit_id_permit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_permit_event'))
    )
    op.create_index('ix_permit_event_permit_id', 'permit_event', ['permit_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_permit_event_permit_id', table_name='permit_event')
    op.drop_table('permit_event')
    op.drop_index('ix_outbox_message_pending', table_name='outbox_message', postgresql_where=sa.text('delivered_at IS NULL'))
    op.drop_table('outbox_message')
    op.drop_table('permit')
    op.drop_index('ix_alert_status_created_at', table_name='alert')
    op.drop_table('alert')
    op.drop_table('idempotency_record')
    op.drop_index('ix_audit_log_entity', table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_table('api_token')
    op.drop_table('app_user')
