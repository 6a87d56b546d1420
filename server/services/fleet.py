"""Lockers and compartments as maintainers see them."""
from sqlalchemy import select

from server.errors import Conflict, NotFound
from server.models import Compartment, Locker
from server.services import audit
from server.services.principals import check_locker, require_role
from server.services.serialize import compartment_json


def locker_view(db, principal, locker_id):
    with db.reading() as s:
        locker = s.get(Locker, locker_id)
        if locker is None:
            raise NotFound("no locker %s" % locker_id)
        check_locker(principal, locker)
        comps = s.scalars(select(Compartment).where(Compartment.locker_id == locker.id)
                          .order_by(Compartment.board_id, Compartment.index)).all()
        return {"id": locker.id, "station_id": locker.station_id, "name": locker.name,
                "serial_url": locker.serial_url if principal.role in ("maintainer", "system") else None,
                "boards": [{"id": b.id, "address": b.address, "firmware_version": b.firmware_version}
                           for b in locker.boards],
                "compartments": [compartment_json(c) for c in comps]}


def set_compartment_state(db, principal, compartment_id, state):
    """Maintainers take a compartment out of service (disabled / faulty) or back (free)."""
    require_role(principal, "maintainer")

    def fn(s):
        comp = s.scalar(select(Compartment).where(Compartment.id == compartment_id).with_for_update(key_share=True))
        if comp is None:
            raise NotFound("no compartment %s" % compartment_id)
        if comp.state in ("reserved", "occupied"):
            raise Conflict("compartment %s is %s; empty it first" % (comp.id, comp.state), code="in_use")
        before = comp.state
        comp.state = state
        audit.record(s, principal.actor, "compartment_state", locker_id=comp.locker_id, compartment_id=comp.id,
                     detail={"from": before, "to": state})
        return compartment_json(comp)
    return db.run(fn)
