"""idempotency keys: stored answers to keyed resends from lockers (code check, door event)

Revision ID: v008
Revises: v007
Create Date: 2026-11-29 03:40:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = 'v008'
down_revision = 'v007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('idempotency_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('locker_id', sa.Integer(), nullable=False),
    sa.Column('endpoint', sa.String(length=24), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('response_json', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['locker_id'], ['lockers.id'], name=op.f('fk_idempotency_keys_locker_id_lockers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('locker_id', 'endpoint', 'key', name='uq_idempotency_keys_locker_endpoint_key')
    )
    op.create_index('ix_idempotency_keys_created_at', 'idempotency_keys', ['created_at'], unique=False)


def downgrade():
    op.drop_index('ix_idempotency_keys_created_at', table_name='idempotency_keys')
    op.drop_table('idempotency_keys')
