"""maps: a spatial index of the live major mains (sub-high pressure and above)

Below zoom 14 the map pages draw only sub-high, high and ultra-high pressure pipelines
(vector tiles and bbox GeoJSON). At Shanghai size these are 15,000 of 700,000 segments,
and a low-zoom tile scanned the whole table (0.3 s a tile); this partial GiST index holds
only them. Its predicate is the queries' own (the planner matches it).

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = '0020'
down_revision = '0017'
branch_labels = None
depends_on = None

MAJOR = ("deleted_at IS NULL AND pressure_class IN "
         "('subhigh_b', 'subhigh_a', 'high_b', 'high_a', 'ultra_high')")


def upgrade() -> None:
    op.create_index('ix_gas_pipeline_major_geom', 'gas_pipeline', ['geom'], unique=False,
                    postgresql_using='gist', postgresql_where=sa.text(MAJOR))


def downgrade() -> None:
    op.drop_index('ix_gas_pipeline_major_geom', table_name='gas_pipeline',
                  postgresql_using='gist', postgresql_where=sa.text(MAJOR))
