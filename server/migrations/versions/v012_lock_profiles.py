"""lock_profiles: each board's commissioned lock profile; locker_commands may carry 'commission'
(a lock-bus probe or a profile sent, executed by the link's bus master)

Revision ID: v012
Revises: v011
Create Date: 2026-12-04 19:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = 'v012'
down_revision = 'v011'
branch_labels = None
depends_on = None

OLD = ('open', 'install_code', 'clear_code', 'config', 'firmware')
NEW = OLD + ('commission',)


def _kinds(kinds):
    return "kind IN (%s)" % ", ".join("'%s'" % k for k in kinds)


def _swap(kinds):
    # batch mode: SQLite cannot alter a CHECK constraint in place, so the table is copied
    with op.batch_alter_table('locker_commands', recreate='auto') as batch:
        batch.drop_constraint(op.f('ck_locker_commands_kind'), type_='check')
        batch.create_check_constraint(op.f('ck_locker_commands_kind'), _kinds(kinds))


def upgrade():
    _swap(NEW)
    op.create_table('lock_profiles',
    sa.Column('board_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=8), nullable=False),
    sa.Column('baud', sa.Integer(), nullable=False),
    sa.Column('boards', sa.String(length=64), nullable=False),
    sa.Column('per_board', sa.Integer(), nullable=False),
    sa.Column('polarity', sa.String(length=20), nullable=True),
    sa.Column('ir', sa.Boolean(), nullable=False),
    sa.Column('window_ms', sa.Integer(), nullable=True),
    sa.Column('found', sa.JSON(), nullable=True),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('refusal', sa.JSON(), nullable=True),
    sa.Column('updated_by', sa.String(length=60), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("type IN ('kerong', '8a', 'modbus', 'gpio')", name=op.f('ck_lock_profiles_type')),
    sa.CheckConstraint("state IN ('found', 'stored', 'sent', 'refused')", name=op.f('ck_lock_profiles_state')),
    sa.ForeignKeyConstraint(['board_id'], ['boards.id'], name=op.f('fk_lock_profiles_board_id_boards')),
    sa.PrimaryKeyConstraint('board_id', name=op.f('pk_lock_profiles'))
    )


def downgrade():
    # commission commands cannot be kept under the old constraint; rather than delete history, refuse
    n = op.get_bind().exec_driver_sql("SELECT COUNT(*) FROM locker_commands WHERE kind = 'commission'").scalar()
    if n:
        raise RuntimeError("cannot downgrade below v012: %d commission command(s) in locker_commands" % n)
    op.drop_table('lock_profiles')
    _swap(OLD)
