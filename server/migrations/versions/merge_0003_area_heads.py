"""join the locker link (link_0001) to merge0001 (station sync + firmware rollouts): one head again

Revision ID: merge_0003
Revises: merge0001, link_0001
Create Date: 2026-11-29 02:25:00
"""
revision = 'merge_0003'
down_revision = ('merge0001', 'link_0001')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
