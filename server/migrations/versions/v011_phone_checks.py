"""phone_checks: a villager's request waiting for the one-time number sent to the phone;
notifications.parcel_id may be empty (the one-time number's SMS belongs to no parcel yet)

Revision ID: v011
Revises: v010
Create Date: 2026-12-03 13:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = 'v011'
down_revision = 'v010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('phone_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('salt', sa.LargeBinary(length=8), nullable=False),
    sa.Column('code_hash', sa.LargeBinary(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('done_at', sa.DateTime(), nullable=True),
    sa.Column('parcel_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("purpose IN ('send')", name=op.f('ck_phone_checks_purpose')),
    sa.ForeignKeyConstraint(['parcel_id'], ['parcels.id'], name=op.f('fk_phone_checks_parcel_id_parcels')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_phone_checks')),
    sa.UniqueConstraint('token', name=op.f('uq_phone_checks_token'))
    )
    op.create_index('ix_phone_checks_phone_created_at', 'phone_checks', ['phone', 'created_at'], unique=False)
    with op.batch_alter_table('notifications') as batch:
        batch.alter_column('parcel_id', existing_type=sa.Integer(), nullable=True)


def downgrade():
    op.execute("DELETE FROM notifications WHERE parcel_id IS NULL")
    with op.batch_alter_table('notifications') as batch:
        batch.alter_column('parcel_id', existing_type=sa.Integer(), nullable=False)
    op.drop_index('ix_phone_checks_phone_created_at', table_name='phone_checks')
    op.drop_table('phone_checks')
