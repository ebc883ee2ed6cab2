"""personal access tokens: when each was last used

A user revoking the tokens of old laptops needs to see which token is still in use.
The token check writes ``last_used_at`` at most once a minute per token (a busy
desktop client does not write on every request).

Revision ID: 0019
Revises: 0020
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = '0019'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('personal_access_token',
                  sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('personal_access_token', 'last_used_at')
