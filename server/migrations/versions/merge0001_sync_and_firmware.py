"""join the station-sync and firmware-rollout branches (both revise 0002)

Added on the web branch, which merges both areas, so `cunbox db upgrade` (target "head") works
there. The locker link's link_0001 also revises 0002: when it is merged, one more merge revision
(or this one widened to all three) joins it. No schema change.

Revision ID: merge0001
Revises: sync0001, fw0001
"""

revision = 'merge0001'
down_revision = ('sync0001', 'fw0001')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
