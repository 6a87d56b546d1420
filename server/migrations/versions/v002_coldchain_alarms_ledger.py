"""cold chain, alarms and the fee ledger

Revision ID: v002
Revises: v001
Create Date: 2026-11-29 01:57:39.249854
"""
from alembic import op
import sqlalchemy as sa


revision = 'v002'
down_revision = 'v001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('temperature_readings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('compartment_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('celsius', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['compartment_id'], ['compartments.id'], name=op.f('fk_temperature_readings_compartment_id_compartments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_temperature_readings'))
    )
    with op.batch_alter_table('temperature_readings', schema=None) as batch_op:
        batch_op.create_index('ix_temperature_readings_compartment_at', ['compartment_id', 'at'], unique=False)

    op.create_table('alarms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('locker_id', sa.Integer(), nullable=True),
    sa.Column('compartment_id', sa.Integer(), nullable=True),
    sa.Column('parcel_id', sa.Integer(), nullable=True),
    sa.Column('raised_at', sa.DateTime(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('cleared_at', sa.DateTime(), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=60), nullable=True),
    sa.ForeignKeyConstraint(['compartment_id'], ['compartments.id'], name=op.f('fk_alarms_compartment_id_compartments')),
    sa.ForeignKeyConstraint(['locker_id'], ['lockers.id'], name=op.f('fk_alarms_locker_id_lockers')),
    sa.ForeignKeyConstraint(['parcel_id'], ['parcels.id'], name=op.f('fk_alarms_parcel_id_parcels')),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_alarms_station_id_stations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alarms'))
    )
    with op.batch_alter_table('alarms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alarms_station_id'), ['station_id'], unique=False)

    op.create_table('ledger_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('carrier_id', sa.Integer(), nullable=False),
    sa.Column('parcel_id', sa.Integer(), nullable=False),
    sa.Column('compartment_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('payer', sa.String(length=10), nullable=False),
    sa.Column('compartment_hours', sa.Float(), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.CheckConstraint("kind IN ('deposit', 'storage', 'collection', 'recipient_fee')", name=op.f('ck_ledger_lines_kind')),
    sa.CheckConstraint("payer IN ('carrier', 'recipient')", name=op.f('ck_ledger_lines_payer')),
    sa.CheckConstraint('amount_cents >= 0 AND compartment_hours >= 0', name=op.f('ck_ledger_lines_non_negative')),
    sa.ForeignKeyConstraint(['carrier_id'], ['carriers.id'], name=op.f('fk_ledger_lines_carrier_id_carriers')),
    sa.ForeignKeyConstraint(['compartment_id'], ['compartments.id'], name=op.f('fk_ledger_lines_compartment_id_compartments')),
    sa.ForeignKeyConstraint(['parcel_id'], ['parcels.id'], name=op.f('fk_ledger_lines_parcel_id_parcels')),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_ledger_lines_station_id_stations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_lines')),
    sa.UniqueConstraint('parcel_id', 'kind', name='uq_ledger_lines_parcel_kind')
    )
    with op.batch_alter_table('ledger_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_lines_station_id'), ['station_id'], unique=False)


def downgrade():
    with op.batch_alter_table('ledger_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_lines_station_id'))

    op.drop_table('ledger_lines')
    with op.batch_alter_table('alarms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alarms_station_id'))

    op.drop_table('alarms')
    with op.batch_alter_table('temperature_readings', schema=None) as batch_op:
        batch_op.drop_index('ix_temperature_readings_compartment_at')

    op.drop_table('temperature_readings')
