"""spot-check plans keep the campaign settings they were drawn with

A stage drawn with a custom settings file (other windows, another quota) is judged by
the API, the maps and the report against those settings, not the defaults. Plans drawn
before this revision have none (NULL): they are judged by the configured settings.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('spot_check_plan',
                  sa.Column('settings', postgresql.JSONB(astext_type=sa.Text()), nullable=True))


def downgrade() -> None:
    op.drop_column('spot_check_plan', 'settings')
