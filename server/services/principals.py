"""Who is asking, and what they may reach. Every service takes a Principal for scope checks."""
from server.errors import Forbidden, NotFound


class Principal:
    """role: courier / operator / maintainer / locker / villager / system."""

    def __init__(self, role, user_id=None, carrier_id=None, station_id=None, locker_id=None, label=None):
        self.role = role
        self.user_id = user_id
        self.carrier_id = carrier_id
        self.station_id = station_id
        self.locker_id = locker_id
        self.label = label

    @property
    def actor(self):
        """The name written on the audit trail."""
        if self.label:
            return self.label
        ident = self.user_id if self.user_id is not None else self.locker_id
        return "%s:%s" % (self.role, ident)

    def __repr__(self):
        return "<Principal %s>" % self.actor


SYSTEM = Principal("system", label="system")


def require_role(principal, *roles):
    if principal.role not in roles:
        raise Forbidden("this action needs the role %s; you are signed in as %s" % (" or ".join(roles),
                                                                                     principal.role),
                        code="wrong_role")


def check_parcel(principal, parcel):
    """Raise NotFound (not Forbidden: do not even confirm it exists) when the parcel is out of scope."""
    ok = (principal.role == "system"
          or (principal.role == "courier" and parcel.carrier_id == principal.carrier_id)
          or (principal.role == "operator" and parcel.station_id == principal.station_id)
          or (principal.role == "locker" and parcel.locker_id == principal.locker_id))
    if not ok:
        raise NotFound("no parcel %s" % parcel.id)


def check_station(principal, station_id):
    if principal.role == "system" or principal.role == "maintainer":
        return
    if principal.role == "operator" and principal.station_id == station_id:
        return
    raise NotFound("no station %s" % station_id)


def check_locker(principal, locker):
    if principal.role in ("system", "maintainer", "courier"):
        return
    if principal.role == "operator" and principal.station_id == locker.station_id:
        return
    if principal.role == "locker" and principal.locker_id == locker.id:
        return
    raise NotFound("no locker %s" % locker.id)
