"""locker_commands may carry 'config' (CONFIG_SET through the durable queue)

Revision ID: v007
Revises: v006
Create Date: 2026-11-29 03:40:00.000000
"""
from alembic import op


revision = 'v007'
down_revision = 'v006'
branch_labels = None
depends_on = None

OLD = ('open', 'install_code', 'clear_code')
NEW = OLD + ('config',)


def _kinds(kinds):
    return "kind IN (%s)" % ", ".join("'%s'" % k for k in kinds)


def _swap(kinds):
    # batch mode: SQLite cannot alter a CHECK constraint in place, so the table is copied
    with op.batch_alter_table('locker_commands', recreate='auto') as batch:
        batch.drop_constraint(op.f('ck_locker_commands_kind'), type_='check')
        batch.create_check_constraint(op.f('ck_locker_commands_kind'), _kinds(kinds))


def upgrade():
    _swap(NEW)


def downgrade():
    # config commands cannot be kept under the old constraint; rather than delete history, refuse
    n = op.get_bind().exec_driver_sql("SELECT COUNT(*) FROM locker_commands WHERE kind = 'config'").scalar()
    if n:
        raise RuntimeError("cannot downgrade below v007: %d config command(s) in locker_commands" % n)
    _swap(OLD)
