"""pipeline_conflict: screening results of the PostGIS engine

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pipeline_conflict',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('pipeline_id', sa.BigInteger(), nullable=False),
    sa.Column('rule_set', sa.String(length=80), nullable=False),
    sa.Column('zone', sa.String(length=16), nullable=False),
    sa.Column('distance_m', sa.Float(), nullable=False),
    sa.Column('centreline_distance_m', sa.Float(), nullable=False),
    sa.Column('pressure_class', sa.String(length=16), nullable=False),
    sa.Column('outer_diameter_mm', sa.Float(), nullable=False),
    sa.Column('protection_range_m', sa.Float(), nullable=False),
    sa.Column('control_range_m', sa.Float(), nullable=False),
    sa.Column('required_action', sa.Text(), nullable=False),
    sa.Column('first_detected_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_screened_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('nearest_line', Geometry(geometry_type='LINESTRING', srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.CheckConstraint("zone IN ('protection', 'control')", name=op.f('ck_pipeline_conflict_zone')),
    sa.CheckConstraint('distance_m >= 0', name=op.f('ck_pipeline_conflict_distance_m')),
    sa.ForeignKeyConstraint(['pipeline_id'], ['gas_pipeline.id'], name=op.f('fk_pipeline_conflict_pipeline_id_gas_pipeline')),
    sa.ForeignKeyConstraint(['project_id'], ['construction_project.id'], name=op.f('fk_pipeline_conflict_project_id_construction_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pipeline_conflict'))
    )
    op.create_index('ix_pipeline_conflict_pipeline_id', 'pipeline_conflict', ['pipeline_id'], unique=False)
    op.create_index('uq_pipeline_conflict_open_pair', 'pipeline_conflict', ['project_id', 'pipeline_id', 'rule_set'], unique=True, postgresql_where=sa.text('closed_at IS NULL'))


def downgrade() -> None:
    op.drop_index('uq_pipeline_conflict_open_pair', table_name='pipeline_conflict', postgresql_where=sa.text('closed_at IS NULL'))
    op.drop_index('ix_pipeline_conflict_pipeline_id', table_name='pipeline_conflict')
    op.drop_table('pipeline_conflict')
