"""Fixtures of the station sync tests: a station's system (the simulator) and a PostgreSQL database."""
import pytest
from support.sync_world import migrated_database

from server.station_sync.simulator import StationSimulator


@pytest.fixture
def sim():
    s = StationSimulator()
    s.start()
    yield s
    s.stop()


@pytest.fixture
def pg_sync_db(private_pg_url):
    """A private, migrated database on the PostgreSQL server (dropped afterwards)."""
    db = migrated_database(private_pg_url)
    yield db
    db.dispose()
