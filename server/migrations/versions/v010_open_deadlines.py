"""locker_commands.deadline_at: the moment after which a door open must not run

Revision ID: v010
Revises: v009
Create Date: 2026-12-02 16:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = 'v010'
down_revision = 'v009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('locker_commands') as batch:
        batch.add_column(sa.Column('deadline_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('locker_commands') as batch:
        batch.drop_column('deadline_at')
