"""workbench: the five key items of an inspection, each compliant or not

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inspection_key_item',
    sa.Column('inspection_id', sa.BigInteger(), nullable=False),
    sa.Column('item', sa.String(length=40), nullable=False),
    sa.Column('compliant', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['inspection_id'], ['inspection.id'],
                            name=op.f('fk_inspection_key_item_inspection_id_inspection')),
    sa.PrimaryKeyConstraint('inspection_id', 'item', name=op.f('pk_inspection_key_item'))
    )


def downgrade() -> None:
    op.drop_table('inspection_key_item')
