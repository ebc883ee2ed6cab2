"""personal access tokens for desktop GIS; local grids fitted on control points

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0010'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'personal_access_token',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('token_sha256', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'],
                                name='fk_personal_access_token_user_id_app_user'),
        sa.PrimaryKeyConstraint('id', name='pk_personal_access_token'),
        sa.UniqueConstraint('token_sha256', name='uq_personal_access_token_token_sha256'),
    )
    op.create_index('ix_personal_access_token_user_id', 'personal_access_token', ['user_id'])
    op.create_table(
        'local_grid',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('method', sa.String(length=16), nullable=False),
        sa.Column('parameters', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('control_points', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('rms_m', sa.Float(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=True),
        sa.CheckConstraint("method IN ('similarity', 'affine')", name='ck_local_grid_method'),
        sa.PrimaryKeyConstraint('id', name='pk_local_grid'),
        sa.UniqueConstraint('name', name='uq_local_grid_name'),
    )


def downgrade() -> None:
    op.drop_table('local_grid')
    op.drop_index('ix_personal_access_token_user_id', table_name='personal_access_token')
    op.drop_table('personal_access_token')
