"""Reading parcels and door commands, scoped to who asks."""
from sqlalchemy import or_, select

from server.clock import iso
from server.errors import Conflict, NotFound
from server.models import LockerCommand, Parcel, ParcelEvent
from server.services import doors
from server.services.principals import check_parcel, check_station
from server.services.serialize import parcel_json


def get_parcel(db, principal, parcel_id):
    with db.reading() as s:
        parcel = s.get(Parcel, parcel_id)
        if parcel is None:
            raise NotFound("no parcel %s" % parcel_id)
        check_parcel(principal, parcel)
        events = s.scalars(select(ParcelEvent).where(ParcelEvent.parcel_id == parcel.id)
                           .order_by(ParcelEvent.id)).all()
        out = parcel_json(parcel)
        out["events"] = [{"at": iso(e.at), "from_state": e.from_state, "to_state": e.to_state,
                          "action": e.action, "actor": e.actor} for e in events]
        return out


def locked_parcel(s, principal, parcel_id, states):
    """The parcel, row-locked for the caller's transaction, if the caller may reach it (else NotFound)
    and it is in one of `states` (else Conflict wrong_state)."""
    parcel = s.scalar(select(Parcel).where(Parcel.id == parcel_id).with_for_update(key_share=True))
    if parcel is None:
        raise NotFound("no parcel %s" % parcel_id)
    check_parcel(principal, parcel)
    if parcel.state not in states:
        raise Conflict("parcel %s is %s; this needs it %s" % (parcel_id, parcel.state, " or ".join(states)),
                       code="wrong_state", state=parcel.state)
    return parcel


def station_parcels(db, principal, station_id, state=None, search=None, limit=200):
    check_station(principal, station_id)
    with db.reading() as s:
        q = select(Parcel).where(Parcel.station_id == station_id)
        if state:
            q = q.where(Parcel.state == state)
        if search:
            q = q.where(or_(Parcel.phone == search, Parcel.tracking_number == search))
        return [parcel_json(p) for p in s.scalars(q.order_by(Parcel.id.desc()).limit(limit))]


def get_command(db, principal, command_id):
    """A door command's status, for the handheld to poll; visible to whoever may see its parcel."""
    with db.reading() as s:
        cmd = s.get(LockerCommand, command_id)
        if cmd is None:
            raise NotFound("no command %s" % command_id)
        if principal.role != "maintainer":
            parcel = s.get(Parcel, cmd.parcel_id) if cmd.parcel_id else None
            if parcel is None:
                raise NotFound("no command %s" % command_id)
            try:
                check_parcel(principal, parcel)
            except NotFound:
                raise NotFound("no command %s" % command_id) from None
        return doors.command_json(cmd)
