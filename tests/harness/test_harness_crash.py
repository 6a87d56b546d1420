"""Crash safety, the short run: `cunbox serve` SIGKILLed at random moments while couriers deposit and
villagers pick up over HTTP, restarted at once; then nothing lost, nothing duplicated, and no resend
answered differently from its first copy (harness/crash.py says what is checked). The longer run with
more journeys and kills is in `make bench` (bench_crash)."""
import pytest

from harness import county
from harness.crash import run_crash


def _assert_clean(out):
    assert out["problems"] == [], "\n".join(out["problems"][:20])
    assert out["finished"] == out["journeys"]
    assert out["kills"] >= 3, "the server was not killed during the run: %r" % (out,)
    assert out["wrong_after_resend"] == 0  # F4: a resend carries its attempt's idempotency key


def test_server_killed_during_deposits_and_pickups_sqlite():
    _assert_clean(run_crash("sqlite", journeys=8, clients=4, kill_every=(0.3, 1.0), seed=11, kills=3,
                            log=lambda msg: None))


@pytest.mark.postgres
def test_server_killed_during_deposits_and_pickups_postgres():
    if not county.PG_URL:
        pytest.skip("PostgreSQL tests need CUNBOX_TEST_POSTGRES_URL (.ci/run sets it)")
    _assert_clean(run_crash("postgresql", journeys=8, clients=4, kill_every=(0.3, 1.0), seed=12, kills=3,
                            log=lambda msg: None))


def test_link_worker_killed_during_deposits_and_pickups():
    """The link process SIGKILLed at random moments (harness/link_crash.py): every journey finishes, the
    queue drains, no event is lost or stored twice, no lock pulses twice."""
    from harness.link_crash import run_link_crash
    out = run_link_crash(journeys=8, clients=3, alive=(1.5, 4.0), seed=5, log=lambda msg: None, kills=3)
    assert out["errors"] == [], out["errors"][:10]
    assert out["finished"] == out["journeys"] and out["quiet"]
    assert out["duplicate_events"] == 0 and out["lost_events"] == 0 and out["double_opens"] == 0
    assert out["kills"] >= 3, out


def test_station_sync_killed_mid_run_then_rerun_equals_one_clean_run():
    """`cunbox station sync` SIGKILLed mid-run three times, then run to the end (harness/sync_crash.py)."""
    from harness.sync_crash import run_sync_crash
    out = run_sync_crash(people=300, page_size=20, kills=3, seed=9, log=lambda msg: None)
    assert out["kills"] >= 2, out
    assert out["final_exit"] == 0 and out["clean_ok"], out["final_output"]
    assert out["accounts"] == out["people"] and out["equal_to_clean_run"]
