"""hardening: project codes unique per organisation (a namespace), not across the district

A builder whose code was refused learnt that another organisation used it. The live
code is now unique within its organisation (projects of no organisation share one
namespace), so the same code may exist in two organisations.

Revision ID: 0017
Revises: 0013
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = '0017'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('uq_construction_project_live_org_code', 'construction_project',
                    [sa.text("coalesce(organisation, '')"), 'registration_code'], unique=True,
                    postgresql_where=sa.text('deleted_at IS NULL'))
    op.drop_index('uq_construction_project_live_registration_code', table_name='construction_project',
                  postgresql_where=sa.text('deleted_at IS NULL'))


def downgrade() -> None:
    # Fails (unique violation) while a code is live in two organisations: they must be
    # renamed first, since the old schema cannot hold them.
    op.create_index('uq_construction_project_live_registration_code', 'construction_project',
                    ['registration_code'], unique=True, postgresql_where=sa.text('deleted_at IS NULL'))
    op.drop_index('uq_construction_project_live_org_code', table_name='construction_project',
                  postgresql_where=sa.text('deleted_at IS NULL'))
