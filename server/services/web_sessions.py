"""Password sign-in for the web pages (a browser session, not an API token).

Separate from accounts.login, which issues a bearer token for the JSON API: a browser keeps a signed
session cookie instead, so no token row is created per page sign-in. The fingerprint ties a session
to the account's current password and active flag: changing either ends every session.
"""
import hashlib

from server.models import User
from server.services import accounts

WEB_ROLES = ("operator", "maintainer", "courier")


def fingerprint(user):
    return hashlib.sha256(("%s|%s|%s" % (user.password_hash, user.active, user.role)).encode()).hexdigest()[:32]


def verify_password(db, login_name, password, roles=WEB_ROLES, source="unknown", now=None):
    """The user's identity if the login and password match an active user of one of `roles`, else None.
    Throttled like every password sign-in (accounts.password_sign_in): may raise Throttled."""
    def identity(_s, user):
        return {"role": user.role, "uid": user.id, "fp": fingerprint(user), "station_id": user.station_id,
                "carrier_id": user.carrier_id, "name": user.name}
    return accounts.password_sign_in(db, login_name, password, source, roles=roles, now=now, then=identity)


def session_still_valid(db, uid, role, fp):
    with db.reading() as s:
        user = s.get(User, uid)
        return user is not None and user.active and user.role == role and fingerprint(user) == fp
