"""The fee ledger: what carriers owe a station for compartments, and a recipient only after the free
storage period, under the policy that was stated in their notification."""
import math

from sqlalchemy import select

from server.models import LedgerLine


def hours_between(start, end):
    return max(0.0, (end - start).total_seconds() / 3600.0)


def _line(session, parcel, kind, payer, amount, hours, at, compartment_id):
    session.add(LedgerLine(at=at, station_id=parcel.station_id, carrier_id=parcel.carrier_id, parcel_id=parcel.id,
                           compartment_id=compartment_id, kind=kind, payer=payer,
                           compartment_hours=round(hours, 3), amount_cents=int(amount)))


def on_deposit(session, parcel, station, at):
    _line(session, parcel, "deposit", "carrier", station.deposit_fee_cents, 0.0, at, parcel.active_compartment_id)


def on_release(session, parcel, station, purpose, at, compartment_id):
    """Storage (carrier, compartment-hours) for inbound parcels; collection for sends; and the
    recipient's fee, only past the stated free period and only if a fee was stated."""
    hours = hours_between(parcel.deposited_at, at)
    if parcel.direction == "out":
        _line(session, parcel, "collection", "carrier",
              station.collection_fee_cents + math.ceil(hours) * station.compartment_hour_cents, hours, at,
              compartment_id)
        return
    _line(session, parcel, "storage", "carrier", math.ceil(hours) * station.compartment_hour_cents, hours, at,
          compartment_id)
    policy = parcel.fee_policy
    if purpose in ("pickup", "retrieve") and policy and policy.get("fee_cents_per_day", 0) > 0:
        over = hours - policy["free_hours"]
        if over > 0:
            days = math.ceil(over / 24.0)
            _line(session, parcel, "recipient_fee", "recipient", days * policy["fee_cents_per_day"], over, at,
                  compartment_id)


def ledger(db, station_id, carrier_id=None, since=None, until=None):
    with db.reading() as s:
        q = select(LedgerLine).where(LedgerLine.station_id == station_id)
        if carrier_id is not None:
            q = q.where(LedgerLine.carrier_id == carrier_id)
        if since is not None:
            q = q.where(LedgerLine.at >= since)
        if until is not None:
            q = q.where(LedgerLine.at < until)
        lines = s.scalars(q.order_by(LedgerLine.id)).all()
        totals = {}
        for ln in lines:
            key = (ln.payer, ln.carrier_id)
            t = totals.setdefault(key, {"payer": ln.payer, "carrier_id": ln.carrier_id, "amount_cents": 0,
                                        "compartment_hours": 0.0, "lines": 0})
            t["amount_cents"] += ln.amount_cents
            t["compartment_hours"] = round(t["compartment_hours"] + ln.compartment_hours, 3)
            t["lines"] += 1
        return {"lines": [line_json(ln) for ln in lines],
                "totals": sorted(totals.values(), key=lambda t: (t["payer"], t["carrier_id"]))}


def line_json(ln):
    from server.clock import iso
    return {"id": ln.id, "at": iso(ln.at), "station_id": ln.station_id, "carrier_id": ln.carrier_id,
            "parcel_id": ln.parcel_id, "compartment_id": ln.compartment_id, "kind": ln.kind, "payer": ln.payer,
            "compartment_hours": ln.compartment_hours, "amount_cents": ln.amount_cents}
