"""maps: the projects with an open conflict or a new alert, in the permits map's order

The permits map of a whole jurisdiction shows the worst 5,000 sites first (new alert,
then the worst permit state, then id). At Shanghai size (100,000 sites) sorting every
site's stored state for that took 0.13 s of a zoom-9 view; this partial index holds the
sites that can come first, in that order, so a wide view reads 5,000 of its entries
(``maps.layers_data``). Its predicate is the query's own (the planner matches it).

Revision ID: 0025
Revises: 0022
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = '0025'
down_revision = '0022'
branch_labels = None
depends_on = None

HEAD = "alerts_new > 0 OR permit_rank IS NOT NULL"


def upgrade() -> None:
    op.create_index('ix_project_map_state_permit_order', 'project_map_state',
                    [sa.text('(alerts_new = 0)'), 'permit_rank', 'project_id'], unique=False,
                    postgresql_where=sa.text(HEAD))


def downgrade() -> None:
    op.drop_index('ix_project_map_state_permit_order', table_name='project_map_state')
