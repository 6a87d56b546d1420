"""Alembic migration scripts (run through server/migrate.py)."""
