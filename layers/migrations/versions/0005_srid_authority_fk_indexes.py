"""metric SRID without an authority; indexes on foreign-key columns

PostGIS asks PROJ for ``auth_name:auth_srid`` before it reads ``srtext``. PROJ does not
know authority GISAPP, so every new backend logged ``proj_create: crs not found`` and
spent ~7 ms more on its first ST_Transform to 990001. Without an authority PostGIS goes
straight to the same ``srtext``: identical coordinates, no failed lookup.

Without an index on the referencing column, every delete of a referenced row scans the
whole child table (a partial index does not count: its rows are not all the table's).
``audit_log.user_id`` stays unindexed on purpose: app_user rows are deactivated, never
deleted, nothing reads audit_log by user, and every write through the service inserts
an audit row.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# Frozen here: a migration must not change when the code does.
METRIC_SRID = 990001

# (table, column): index ix_<table>_<column>
FK_INDEXES = [
    ('alert', 'project_id'),
    ('alert', 'pipeline_id'),
    ('outbox_message', 'alert_id'),
    ('pipeline_conflict', 'project_id'),  # uq_pipeline_conflict_open_pair is partial
    ('spot_check_pick', 'project_id'),
    ('api_token', 'user_id'),
    ('evidence_file', 'inspection_id'),
    ('evidence_file', 'hazard_id'),
    ('construction_project', 'import_batch_id'),
    ('gas_pipeline', 'import_batch_id'),
]


def upgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE spatial_ref_sys SET auth_name = NULL, auth_srid = NULL WHERE srid = :srid"
        ).bindparams(srid=METRIC_SRID)
    )
    for table, column in FK_INDEXES:
        op.create_index(f'ix_{table}_{column}', table, [column], unique=False)


def downgrade() -> None:
    for table, column in reversed(FK_INDEXES):
        op.drop_index(f'ix_{table}_{column}', table_name=table)
    op.execute(
        sa.text(
            "UPDATE spatial_ref_sys SET auth_name = 'GISAPP', auth_srid = :srid WHERE srid = :srid"
        ).bindparams(srid=METRIC_SRID)
    )
