"""Outbound: parcel status, the fee ledger and locker-side consent changes reach the station system."""
import pytest
from sqlalchemy import select
from support.server_world import build_world
from support.sync_world import YES, accounts_of, configure, person, snapshot, sqlite_db

from server.errors import Refused
from server.models import Account
from server.models.station_sync import StationOutbound
from server.services import deposits, door_reports
from server.services.accounts import set_consent
from server.station_sync import runner


def test_parcel_status_fees_and_consent_pushed_once(tmp_path, sim):
    db = sqlite_db(tmp_path)
    w = build_world(db)
    sid = w.station_id
    # Chen Mei exists in cunbox already; the station knows her as A1: the first sync adopts her.
    db.run(lambda s: setattr(s.get(Account, w.consenting), "station_account_id", "A1"))
    sim.add_station(str(sid), "tok")
    sim.upsert(str(sid), "A1", **person(1, name="Chen Mei", phones=["13800000001"], consent=YES))
    sim.upsert(str(sid), "A2", **person(2, phones=["13900000002"], consent=YES))
    configure(db, sid, sim, "tok")
    r = runner.sync_station(db, sid)
    assert r.ok and r.counts["created"] == 1 and r.counts["updated"] + r.counts["unchanged"] == 1, r.text()
    assert accounts_of(db, sid)["A1"].id == w.consenting          # adopted, not duplicated

    res = deposits.start_deposit(db, w.courier, w.locker_id, "TN-0001", "13800000001", "S")
    door_reports.door_event(db, res["compartment"]["id"], "closed", occupied=True)
    r = runner.sync_station(db, sid)
    assert r.ok, r.text()
    received = list(sim.stations[str(sid)].updates.values())
    status = [u for u in received if u["kind"] == "parcel_status"]
    fees = [u for u in received if u["kind"] == "fee"]
    assert [(u["account_id"], u["tracking_number"], u["status"], u["carrier"]) for u in status] == [
        ("A1", "TN-0001", "in_locker", "post")]
    assert len(fees) == 1 and fees[0]["fee_kind"] == "deposit" and fees[0]["payer"] == "carrier"

    # Consent withdrawn at the locker side: pushed to the station, which then serves it back.
    def withdraw(s):
        a = s.scalar(select(Account).where(Account.station_id == sid, Account.station_account_id == "A2"))
        set_consent(s, a, False, "locker")
    db.run(withdraw)
    sim.faults = {"mode": "http_500"}          # the station system is down for the push
    r = runner.sync_station(db, sid)
    assert r.status == "failed" and r.counts["queued"] == 1 and r.counts["pushed"] == 0
    with db.reading() as s:
        queued = s.scalars(select(StationOutbound.state).where(StationOutbound.kind == "account_field")).one()
        assert queued == "pending"
    r = runner.sync_station(db, sid)
    assert r.ok and r.counts["pushed"] == 1, r.text()
    a2 = sim.stations[str(sid)].accounts["A2"]
    assert a2.values["consent"]["given"] is False and a2.values["consent"]["source"] == "locker"
    # The station's record now carries the withdrawal: the pull confirms our edit, nothing pending.
    assert snapshot(db, sid)["A2"]["pending"] == {}
    assert accounts_of(db, sid)["A2"].consent_locker is False
    # Nothing is pushed twice.
    log = sim.stations[str(sid)].update_log
    r = runner.sync_station(db, sid)
    assert r.counts["queued"] == 0 and r.counts["pushed"] == 0 and sim.stations[str(sid)].update_log == log


    # The station deletes A1, who has a parcel: the account stays (deleted), and so does its parcel history.
    from server.models import Parcel, ParcelEvent
    sim.delete(str(sid), "A1")
    r = runner.sync_station(db, sid)
    assert r.ok and r.counts["deleted"] == 1, r.text()
    with db.reading() as s:
        parcel = s.scalar(select(Parcel).where(Parcel.tracking_number == "TN-0001"))
        assert parcel.account_id == w.consenting and parcel.state == "in_locker"
        assert s.get(Account, w.consenting).deleted_at is not None
        assert len(s.scalars(select(ParcelEvent).where(ParcelEvent.parcel_id == parcel.id)).all()) >= 2
    with pytest.raises(Refused) as refused:     # no consenting account for this phone any more
        deposits.start_deposit(db, w.courier, w.locker_id, "TN-0002", "13800000001", "S")
    assert refused.value.code == "no_account"
