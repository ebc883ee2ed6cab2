"""campaign: inspections, hazards with rectification, evidence files, spot-check plans

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('spot_check_plan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('stage', sa.Integer(), nullable=False),
    sa.Column('seed', sa.BigInteger(), nullable=False),
    sa.Column('candidates', sa.Integer(), nullable=False),
    sa.Column('quota', sa.Integer(), nullable=False),
    sa.Column('warnings', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.CheckConstraint('stage IN (1, 2, 3)', name=op.f('ck_spot_check_plan_stage')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spot_check_plan'))
    )
    op.create_index('uq_spot_check_plan_year_stage', 'spot_check_plan', ['year', 'stage'], unique=True)
    op.create_table('inspection',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('round_or_stage', sa.Integer(), nullable=True),
    sa.Column('inspected_on', sa.Date(), nullable=False),
    sa.Column('organisation', sa.Text(), nullable=True),
    sa.Column('findings', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.CheckConstraint("(kind = 'self' AND round_or_stage IN (1, 2)) OR (kind = 'spot' AND round_or_stage IN (1, 2, 3)) OR (kind = 'third_party' AND round_or_stage IS NULL)", name=op.f('ck_inspection_round_or_stage')),
    sa.CheckConstraint("kind IN ('self', 'third_party', 'spot')", name=op.f('ck_inspection_kind')),
    sa.ForeignKeyConstraint(['project_id'], ['construction_project.id'], name=op.f('fk_inspection_project_id_construction_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection'))
    )
    op.create_index('ix_inspection_project_id', 'inspection', ['project_id'], unique=False)
    op.create_table('spot_check_pick',
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('risk_score', sa.Float(), nullable=False),
    sa.Column('forced', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['spot_check_plan.id'], name=op.f('fk_spot_check_pick_plan_id_spot_check_plan')),
    sa.ForeignKeyConstraint(['project_id'], ['construction_project.id'], name=op.f('fk_spot_check_pick_project_id_construction_project')),
    sa.PrimaryKeyConstraint('plan_id', 'project_id', name=op.f('pk_spot_check_pick'))
    )
    op.create_table('hazard',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('inspection_id', sa.BigInteger(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('major', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('rectification_state', sa.String(length=16), server_default='open', nullable=False),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('rectified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verified_by', sa.String(length=64), nullable=True),
    sa.CheckConstraint("rectification_state IN ('open', 'rectified', 'verified')", name=op.f('ck_hazard_rectification_state')),
    sa.ForeignKeyConstraint(['inspection_id'], ['inspection.id'], name=op.f('fk_hazard_inspection_id_inspection')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hazard'))
    )
    op.create_index('ix_hazard_inspection_id', 'hazard', ['inspection_id'], unique=False)
    op.create_table('evidence_file',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('inspection_id', sa.BigInteger(), nullable=True),
    sa.Column('hazard_id', sa.BigInteger(), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('uploaded_by', sa.String(length=64), nullable=True),
    sa.CheckConstraint('inspection_id IS NOT NULL OR hazard_id IS NOT NULL', name=op.f('ck_evidence_file_owner')),
    sa.CheckConstraint('size_bytes > 0 AND size_bytes <= 20000000', name=op.f('ck_evidence_file_size_bytes')),
    sa.ForeignKeyConstraint(['hazard_id'], ['hazard.id'], name=op.f('fk_evidence_file_hazard_id_hazard')),
    sa.ForeignKeyConstraint(['inspection_id'], ['inspection.id'], name=op.f('fk_evidence_file_inspection_id_inspection')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence_file'))
    )


def downgrade() -> None:
    op.drop_table('evidence_file')
    op.drop_index('ix_hazard_inspection_id', table_name='hazard')
    op.drop_table('hazard')
    op.drop_table('spot_check_pick')
    op.drop_index('ix_inspection_project_id', table_name='inspection')
    op.drop_table('inspection')
    op.drop_index('uq_spot_check_plan_year_stage', table_name='spot_check_plan')
    op.drop_table('spot_check_plan')
