"""hardening: login failures, sites held for review, two-admin confirmation of privileged changes

``login_failure`` counts failed logins per account and per client address (throttling);
``project_review`` holds unusually large sites out of screening until the gas office
releases them; ``user_change_request`` keeps a change to a gas office or admin account
proposed by one admin until another confirms it.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0008'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_failure',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failure'))
    )
    op.create_index('ix_login_failure_username_at', 'login_failure', ['username', 'at'], unique=False)
    op.create_index('ix_login_failure_address_at', 'login_failure', ['address', 'at'], unique=False)
    op.create_table('project_review',
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=16), server_default='pending', nullable=False),
    sa.Column('area_m2', sa.Float(), nullable=False),
    sa.Column('extent_m', sa.Float(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('requested_by', sa.String(length=64), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.CheckConstraint("state IN ('pending', 'released', 'rejected')", name=op.f('ck_project_review_state')),
    sa.ForeignKeyConstraint(['project_id'], ['construction_project.id'], name=op.f('fk_project_review_project_id_construction_project')),
    sa.PrimaryKeyConstraint('project_id', name=op.f('pk_project_review'))
    )
    op.create_table('user_change_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('target_user_id', sa.Integer(), nullable=True),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), server_default='pending', nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("action IN ('create', 'update', 'password')", name=op.f('ck_user_change_request_action')),
    sa.CheckConstraint("state IN ('pending', 'applied', 'cancelled')", name=op.f('ck_user_change_request_state')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['app_user.id'], name=op.f('fk_user_change_request_decided_by_id_app_user')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['app_user.id'], name=op.f('fk_user_change_request_requested_by_id_app_user')),
    sa.ForeignKeyConstraint(['target_user_id'], ['app_user.id'], name=op.f('fk_user_change_request_target_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_change_request'))
    )
    op.create_index('ix_user_change_request_target_user_id', 'user_change_request', ['target_user_id'], unique=False)
    op.create_index('ix_user_change_request_requested_by_id', 'user_change_request', ['requested_by_id'], unique=False)
    op.create_index('ix_user_change_request_decided_by_id', 'user_change_request', ['decided_by_id'], unique=False)


def downgrade() -> None:
    op.drop_table('user_change_request')
    op.drop_table('project_review')
    op.drop_table('login_failure')
