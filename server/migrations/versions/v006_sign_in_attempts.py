"""failed sign-in attempts, for the growing sign-in lock-out

Revision ID: v006
Revises: v005
Create Date: 2026-11-29 03:10:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = 'v006'
down_revision = 'v005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sign_in_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('login', sa.String(length=80), nullable=False),
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_attempts'))
    )
    op.create_index('ix_sign_in_attempts_login_at', 'sign_in_attempts', ['login', 'at'], unique=False)
    op.create_index('ix_sign_in_attempts_source_at', 'sign_in_attempts', ['source', 'at'], unique=False)


def downgrade():
    op.drop_index('ix_sign_in_attempts_source_at', table_name='sign_in_attempts')
    op.drop_index('ix_sign_in_attempts_login_at', table_name='sign_in_attempts')
    op.drop_table('sign_in_attempts')
