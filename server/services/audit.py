"""The audit trail and the parcel state-transition log."""
from server.clock import utcnow
from server.models import AuditEvent, ParcelEvent


def record(session, actor, action, station_id=None, locker_id=None, compartment_id=None, parcel_id=None,
           detail=None, at=None):
    session.add(AuditEvent(actor=actor, action=action, station_id=station_id, locker_id=locker_id,
                           compartment_id=compartment_id, parcel_id=parcel_id, detail=detail, at=at or utcnow()))


def transition(session, parcel, to_state, action, actor, detail=None, at=None):
    session.add(ParcelEvent(parcel_id=parcel.id, from_state=parcel.state, to_state=to_state, action=action,
                            actor=actor, detail=detail, at=at or utcnow()))
    parcel.state = to_state


def created(session, parcel, action, actor, detail=None, at=None):
    session.add(ParcelEvent(parcel_id=parcel.id, from_state=None, to_state=parcel.state, action=action,
                            actor=actor, detail=detail, at=at or utcnow()))
