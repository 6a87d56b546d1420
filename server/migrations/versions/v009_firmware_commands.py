"""locker_commands may carry 'firmware' (an update executed by the link's bus master); each rollout
board names the command that updates it (fw_rollout_boards.command_id)

Revision ID: v009
Revises: v008
Create Date: 2026-11-30 09:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = 'v009'
down_revision = 'v008'
branch_labels = None
depends_on = None

OLD = ('open', 'install_code', 'clear_code', 'config')
NEW = OLD + ('firmware',)


def _kinds(kinds):
    return "kind IN (%s)" % ", ".join("'%s'" % k for k in kinds)


def _swap(kinds):
    # batch mode: SQLite cannot alter a CHECK constraint in place, so the table is copied
    with op.batch_alter_table('locker_commands', recreate='auto') as batch:
        batch.drop_constraint(op.f('ck_locker_commands_kind'), type_='check')
        batch.create_check_constraint(op.f('ck_locker_commands_kind'), _kinds(kinds))


def upgrade():
    _swap(NEW)
    with op.batch_alter_table('fw_rollout_boards') as batch:
        batch.add_column(sa.Column('command_id', sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f('fk_fw_rollout_boards_command_id_locker_commands'), 'locker_commands',
                                 ['command_id'], ['id'])


def downgrade():
    # firmware commands cannot be kept under the old constraint; rather than delete history, refuse
    n = op.get_bind().exec_driver_sql("SELECT COUNT(*) FROM locker_commands WHERE kind = 'firmware'").scalar()
    if n:
        raise RuntimeError("cannot downgrade below v009: %d firmware command(s) in locker_commands" % n)
    with op.batch_alter_table('fw_rollout_boards') as batch:
        batch.drop_constraint(op.f('fk_fw_rollout_boards_command_id_locker_commands'), type_='foreignkey')
        batch.drop_column('command_id')
    _swap(OLD)
