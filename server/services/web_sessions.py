"""Password sign-in for the web pages (a browser session, not an API token).

Separate from accounts.login, which issues a bearer token for the JSON API: a browser keeps a signed
session cookie instead, so no token row is created per page sign-in. The fingerprint ties a session
to the account's current password and active flag: changing either ends every session.
"""
import hashlib

from sqlalchemy import select
from werkzeug.security import check_password_hash

from server.models import User

WEB_ROLES = ("operator", "maintainer", "courier")


def fingerprint(user):
    return hashlib.sha256(("%s|%s|%s" % (user.password_hash, user.active, user.role)).encode()).hexdigest()[:32]


def verify_password(db, login_name, password, roles=WEB_ROLES):
    """The user's identity if the login and password match an active user of one of `roles`, else None."""
    with db.reading() as s:
        user = s.scalar(select(User).where(User.login == (login_name or "").strip()))
        if user is None or not user.active or user.role not in roles:
            # Same work either way, so timing does not tell which logins exist.
            check_password_hash("scrypt:32768:8:1$x$" + "0" * 128, password or "")
            return None
        if not check_password_hash(user.password_hash, password or ""):
            return None
        return {"role": user.role, "uid": user.id, "fp": fingerprint(user), "station_id": user.station_id,
                "carrier_id": user.carrier_id, "name": user.name}


def session_still_valid(db, uid, role, fp):
    with db.reading() as s:
        user = s.get(User, uid)
        return user is not None and user.active and user.role == role and fingerprint(user) == fp
