"""merge the area heads (firmware releases, locker link, station sync) into one

Revision ID: merge_0003
Revises: fw0001, link_0001, sync0001
Create Date: 2026-11-29 02:25:00
"""
revision = 'merge_0003'
down_revision = ('fw0001', 'link_0001', 'sync0001')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
