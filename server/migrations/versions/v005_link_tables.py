"""locker link: board sessions, event store, command attempts, leases

Revision ID: v005
Revises: v004
Create Date: 2026-11-29 02:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'v005'
down_revision = 'v004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('link_boards',
    sa.Column('board_id', sa.Integer(), nullable=False),
    sa.Column('key_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('counter', sa.BigInteger(), nullable=False),
    sa.Column('event_cursor', sa.BigInteger(), nullable=False),
    sa.Column('seq_offset', sa.BigInteger(), nullable=False),
    sa.Column('hw_id', sa.String(length=40), nullable=True),
    sa.Column('fw_version', sa.String(length=40), nullable=True),
    sa.Column('online', sa.Boolean(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=True),
    sa.Column('changed_at', sa.DateTime(), nullable=True),
    sa.Column('boots', sa.Integer(), nullable=False),
    sa.Column('codes_synced_at', sa.DateTime(), nullable=True),
    sa.Column('clock_set_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['board_id'], ['boards.id'], name=op.f('fk_link_boards_board_id_boards')),
    sa.PrimaryKeyConstraint('board_id', name=op.f('pk_link_boards'))
    )
    op.create_table('link_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('board_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.Integer(), nullable=False),
    sa.Column('compartment', sa.Integer(), nullable=False),
    sa.Column('board_time', sa.BigInteger(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('reference', sa.BigInteger(), nullable=True),
    sa.Column('occupied', sa.Boolean(), nullable=True),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('processed_at', sa.DateTime(), nullable=True),
    sa.Column('outcome', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['board_id'], ['boards.id'], name=op.f('fk_link_events_board_id_boards')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_link_events')),
    sa.UniqueConstraint('board_id', 'seq', name='uq_link_events_board_seq')
    )
    with op.batch_alter_table('link_events', schema=None) as batch_op:
        batch_op.create_index('ix_link_events_processed', ['processed_at'], unique=False)
        batch_op.create_index('ix_link_events_reference', ['reference'], unique=False)
    op.create_table('link_attempts',
    sa.Column('command_id', sa.Integer(), nullable=False),
    sa.Column('worker', sa.String(length=80), nullable=False),
    sa.Column('tries', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.Column('outcome', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['command_id'], ['locker_commands.id'], name=op.f('fk_link_attempts_command_id_locker_commands')),
    sa.PrimaryKeyConstraint('command_id', name=op.f('pk_link_attempts'))
    )
    op.create_table('link_leases',
    sa.Column('locker_id', sa.Integer(), nullable=False),
    sa.Column('owner', sa.String(length=80), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('acquired_at', sa.DateTime(), nullable=True),
    sa.Column('online', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['locker_id'], ['lockers.id'], name=op.f('fk_link_leases_locker_id_lockers')),
    sa.PrimaryKeyConstraint('locker_id', name=op.f('pk_link_leases'))
    )


def downgrade():
    op.drop_table('link_leases')
    op.drop_table('link_attempts')
    with op.batch_alter_table('link_events', schema=None) as batch_op:
        batch_op.drop_index('ix_link_events_reference')
        batch_op.drop_index('ix_link_events_processed')
    op.drop_table('link_events')
    op.drop_table('link_boards')
