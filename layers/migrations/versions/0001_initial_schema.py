"""initial schema: district metric CRS, townships, pipelines, projects, import batches

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa
import geoalchemy2
from geoalchemy2 import Geometry

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


# The district's metric CRS (see spatial_rules/crs.py). Frozen here: a migration must
# not change when the code does.
METRIC_SRID = 990001
METRIC_PROJ4 = (
    "+proj=tmerc +lat_0=0 +lon_0=121.7 +k=1 +x_0=500000 +y_0=0 "
    "+ellps=GRS80 +towgs84=0,0,0,0,0,0,0 +units=m +no_defs"
)
METRIC_WKT = (
    'PROJCS["CGCS2000 / Chongming TM 121.7E",GEOGCS["China Geodetic Coordinate System 2000",'
    'DATUM["China_2000",SPHEROID["CGCS2000",6378137,298.257222101]],PRIMEM["Greenwich",0],'
    'UNIT["degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],'
    'PARAMETER["latitude_of_origin",0],PARAMETER["central_meridian",121.7],'
    'PARAMETER["scale_factor",1],PARAMETER["false_easting",500000],'
    'PARAMETER["false_northing",0],UNIT["metre",1]]'
)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute(
        sa.text(
            "INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, srtext, proj4text) "
            "VALUES (:srid, 'GISAPP', :srid, :wkt, :proj4) "
            "ON CONFLICT (srid) DO UPDATE SET auth_name = EXCLUDED.auth_name, "
            "auth_srid = EXCLUDED.auth_srid, srtext = EXCLUDED.srtext, "
            "proj4text = EXCLUDED.proj4text"
        ).bindparams(srid=METRIC_SRID, wkt=METRIC_WKT, proj4=METRIC_PROJ4)
    )
    op.create_table('import_batch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('layer', sa.String(length=32), nullable=False),
    sa.Column('source_name', sa.Text(), nullable=False),
    sa.Column('source_sha256', sa.String(length=64), nullable=False),
    sa.Column('source_crs', sa.String(length=64), nullable=False),
    sa.Column('feature_count', sa.Integer(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=128), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("layer IN ('pipelines', 'projects')", name=op.f('ck_import_batch_layer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_batch'))
    )
    op.create_geospatial_table('township',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('synthetic', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_township')),
    sa.UniqueConstraint('code', name=op.f('uq_township_code')),
    sa.UniqueConstraint('name', name=op.f('uq_township_name'))
    )
    op.create_geospatial_index('idx_township_geom', 'township', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_geospatial_table('construction_project',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('registration_code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('builder', sa.Text(), nullable=True),
    sa.Column('contractor', sa.Text(), nullable=True),
    sa.Column('supervisor', sa.Text(), nullable=True),
    sa.Column('organisation', sa.Text(), nullable=True),
    sa.Column('township', sa.String(length=64), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('planned_completion_date', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('hazardous', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('insured', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('under_supervision', sa.Boolean(), nullable=True),
    sa.Column('supervised_since', sa.Date(), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('import_batch_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('geom_m', Geometry(geometry_type='MULTIPOLYGON', srid=990001, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), sa.Computed('ST_Transform(geom, 990001)', persisted=True), nullable=True),
    sa.CheckConstraint("kind IN ('housing', 'municipal', 'gas_engineering')", name=op.f('ck_construction_project_kind')),
    sa.CheckConstraint("status IN ('planned', 'under_construction', 'suspended', 'completed')", name=op.f('ck_construction_project_status')),
    sa.CheckConstraint('planned_completion_date IS NULL OR start_date IS NULL OR planned_completion_date >= start_date', name=op.f('ck_construction_project_dates')),
    sa.ForeignKeyConstraint(['import_batch_id'], ['import_batch.id'], name=op.f('fk_construction_project_import_batch_id_import_batch')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_construction_project'))
    )
    op.create_geospatial_index('idx_construction_project_geom', 'construction_project', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_geospatial_index('ix_construction_project_geom_m', 'construction_project', ['geom_m'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index('ix_construction_project_township', 'construction_project', ['township'], unique=False)
    op.create_index('uq_construction_project_live_registration_code', 'construction_project', ['registration_code'], unique=True, postgresql_where=sa.text('deleted_at IS NULL'))
    op.create_geospatial_table('gas_pipeline',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('external_code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('owner', sa.Text(), nullable=True),
    sa.Column('pressure_class', sa.String(length=16), nullable=False),
    sa.Column('design_pressure_mpa', sa.Float(), nullable=True),
    sa.Column('outer_diameter_mm', sa.Float(), nullable=False),
    sa.Column('material', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), server_default='in_service', nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('import_batch_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTILINESTRING', srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('geom_m', Geometry(geometry_type='MULTILINESTRING', srid=990001, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), sa.Computed('ST_Transform(geom, 990001)', persisted=True), nullable=True),
    sa.CheckConstraint("pressure_class IN ('low', 'medium_b', 'medium_a', 'subhigh_b', 'subhigh_a', 'high_b', 'high_a', 'ultra_high')", name=op.f('ck_gas_pipeline_pressure_class')),
    sa.CheckConstraint("status IN ('in_service', 'planned', 'abandoned')", name=op.f('ck_gas_pipeline_status')),
    sa.CheckConstraint('design_pressure_mpa IS NULL OR (design_pressure_mpa >= 0 AND design_pressure_mpa <= 10)', name=op.f('ck_gas_pipeline_design_pressure_mpa')),
    sa.CheckConstraint('outer_diameter_mm > 0 AND outer_diameter_mm < 3000', name=op.f('ck_gas_pipeline_outer_diameter_mm')),
    sa.ForeignKeyConstraint(['import_batch_id'], ['import_batch.id'], name=op.f('fk_gas_pipeline_import_batch_id_import_batch')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gas_pipeline'))
    )
    op.create_geospatial_index('idx_gas_pipeline_geom', 'gas_pipeline', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_geospatial_index('ix_gas_pipeline_geom_m', 'gas_pipeline', ['geom_m'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index('uq_gas_pipeline_live_external_code', 'gas_pipeline', ['external_code'], unique=True, postgresql_where=sa.text('deleted_at IS NULL'))


def downgrade() -> None:
    op.drop_index('uq_gas_pipeline_live_external_code', table_name='gas_pipeline', postgresql_where=sa.text('deleted_at IS NULL'))
    op.drop_geospatial_index('ix_gas_pipeline_geom_m', table_name='gas_pipeline', postgresql_using='gist', column_name='geom_m')
    op.drop_geospatial_index('idx_gas_pipeline_geom', table_name='gas_pipeline', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('gas_pipeline')
    op.drop_index('uq_construction_project_live_registration_code', table_name='construction_project', postgresql_where=sa.text('deleted_at IS NULL'))
    op.drop_index('ix_construction_project_township', table_name='construction_project')
    op.drop_geospatial_index('ix_construction_project_geom_m', table_name='construction_project', postgresql_using='gist', column_name='geom_m')
    op.drop_geospatial_index('idx_construction_project_geom', table_name='construction_project', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('construction_project')
    op.drop_geospatial_index('idx_township_geom', table_name='township', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('township')
    op.drop_table('import_batch')
    op.execute(f"DELETE FROM spatial_ref_sys WHERE srid = {METRIC_SRID}")
