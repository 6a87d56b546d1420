"""station sync: sources and cursors, account sync state, conflicts, run log, outbound queue

Revision ID: v004
Revises: v003
Create Date: 2026-11-29 01:58:49.921418
"""
from alembic import op
import sqlalchemy as sa


revision = 'v004'
down_revision = 'v003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('station_outbound',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_station_outbound_station_id_stations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_station_outbound')),
    sa.UniqueConstraint('key', name=op.f('uq_station_outbound_key'))
    )
    with op.batch_alter_table('station_outbound', schema=None) as batch_op:
        batch_op.create_index('ix_station_outbound_station_state', ['station_id', 'state'], unique=False)

    op.create_table('station_sync_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('report', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_station_sync_runs_station_id_stations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_station_sync_runs'))
    )
    with op.batch_alter_table('station_sync_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_station_sync_runs_station_id'), ['station_id'], unique=False)

    op.create_table('station_sync_sources',
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('base_url', sa.String(length=300), nullable=True),
    sa.Column('remote_id', sa.String(length=64), nullable=False),
    sa.Column('credential', sa.String(length=200), nullable=True),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('page_size', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('cursor', sa.Text(), nullable=True),
    sa.Column('outbound_event_id', sa.Integer(), nullable=False),
    sa.Column('outbound_ledger_id', sa.Integer(), nullable=False),
    sa.Column('lease_until', sa.DateTime(), nullable=True),
    sa.Column('lease_owner', sa.String(length=60), nullable=True),
    sa.Column('last_run_at', sa.DateTime(), nullable=True),
    sa.Column('last_ok_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_station_sync_sources_station_id_stations')),
    sa.PrimaryKeyConstraint('station_id', name=op.f('pk_station_sync_sources'))
    )
    op.create_table('station_account_states',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('station_account_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('station_updated_at', sa.DateTime(), nullable=True),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('base', sa.JSON(), nullable=False),
    sa.Column('pending', sa.JSON(), nullable=False),
    sa.Column('seen_name', sa.String(length=120), nullable=True),
    sa.Column('seen_phone', sa.String(length=20), nullable=True),
    sa.Column('seen_consent', sa.Boolean(), nullable=True),
    sa.Column('seen_consent_at', sa.DateTime(), nullable=True),
    sa.Column('seen_consent_source', sa.String(length=40), nullable=True),
    sa.Column('seen_height', sa.String(length=8), nullable=True),
    sa.Column('seen_deleted_at', sa.DateTime(), nullable=True),
    sa.Column('has_pending', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_station_account_states_account_id_accounts')),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_station_account_states_station_id_stations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_station_account_states')),
    sa.UniqueConstraint('account_id', name=op.f('uq_station_account_states_account_id')),
    sa.UniqueConstraint('station_id', 'station_account_id', name='uq_station_account_states_key')
    )
    with op.batch_alter_table('station_account_states', schema=None) as batch_op:
        batch_op.create_index('ix_station_account_states_pending', ['station_id', 'has_pending'], unique=False)

    op.create_table('station_sync_conflicts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('station_account_id', sa.String(length=64), nullable=False),
    sa.Column('field', sa.String(length=24), nullable=False),
    sa.Column('local_value', sa.JSON(), nullable=True),
    sa.Column('station_value', sa.JSON(), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('detected_at', sa.DateTime(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('resolution', sa.String(length=16), nullable=True),
    sa.Column('resolved_by', sa.String(length=60), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_station_sync_conflicts_account_id_accounts')),
    sa.ForeignKeyConstraint(['run_id'], ['station_sync_runs.id'], name=op.f('fk_station_sync_conflicts_run_id_station_sync_runs')),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_station_sync_conflicts_station_id_stations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_station_sync_conflicts'))
    )
    with op.batch_alter_table('station_sync_conflicts', schema=None) as batch_op:
        batch_op.create_index('ix_station_sync_conflicts_open', ['station_id', 'resolved_at'], unique=False)



def downgrade():
    with op.batch_alter_table('station_sync_conflicts', schema=None) as batch_op:
        batch_op.drop_index('ix_station_sync_conflicts_open')

    op.drop_table('station_sync_conflicts')
    with op.batch_alter_table('station_account_states', schema=None) as batch_op:
        batch_op.drop_index('ix_station_account_states_pending')

    op.drop_table('station_account_states')
    op.drop_table('station_sync_sources')
    with op.batch_alter_table('station_sync_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_station_sync_runs_station_id'))

    op.drop_table('station_sync_runs')
    with op.batch_alter_table('station_outbound', schema=None) as batch_op:
        batch_op.drop_index('ix_station_outbound_station_state')

    op.drop_table('station_outbound')
