"""Users, passwords (werkzeug.security), password sign-in (throttled) for API tokens (only their sha256 is
stored) and web sessions, villagers."""
import hashlib
import re
import secrets

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from server.clock import utcnow
from server.errors import BadRequest, Unauthorized
from server.models import ROLES, Account, ApiToken, User
from server.services import throttle
from server.services.principals import Principal

TOKEN_PREFIX = "cbx_"


def token_hash(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token():
    return TOKEN_PREFIX + secrets.token_urlsafe(24)


def normalise_phone(phone):
    """Mainland mobile numbers with or without +86 / 0086, spaces, dashes -> 11 digits."""
    digits = re.sub(r"[\s\-()]", "", str(phone or ""))
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not re.fullmatch(r"1[3-9]\d{9}", digits):
        raise BadRequest("'%s' is not a mainland mobile number (11 digits starting 13-19)" % phone,
                         code="bad_phone", field="phone")
    return digits


def create_user(session, role, login, password, name, carrier_id=None, station_id=None, method="scrypt"):
    user = User(role=role, login=login, name=name, password_hash=generate_password_hash(password, method=method),
                carrier_id=carrier_id, station_id=station_id)
    session.add(user)
    session.flush()
    return user


def issue_token(session, user=None, locker=None, label=""):
    """Create a bearer token for a user or a locker credential; the clear token is returned once."""
    token = new_token()
    session.add(ApiToken(token_hash=token_hash(token), user_id=user.id if user else None,
                         locker_id=locker.id if locker else None, label=label))
    session.flush()
    return token


def principal_for_user(user):
    return Principal(user.role, user_id=user.id, carrier_id=user.carrier_id, station_id=user.station_id)


def authenticate_token(db, token):
    """Bearer token -> Principal, or Unauthorized."""
    if not token:
        raise Unauthorized("send 'Authorization: Bearer <token>'; sign in at /api/v1/auth/login",
                           code="no_credentials")
    with db.reading() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
        if row is None or row.revoked_at is not None:
            raise Unauthorized("unknown or revoked token", code="bad_token")
        if row.locker_id is not None:
            return Principal("locker", locker_id=row.locker_id)
        user = s.get(User, row.user_id)
        if not user.active:
            raise Unauthorized("account disabled", code="bad_token")
        return principal_for_user(user)


class _BadSignIn(Exception):
    pass


# Checked when the login does not exist, so that timing does not tell which logins exist.
_DUMMY_HASH = "scrypt:32768:8:1$x$" + "0" * 128


def password_sign_in(db, login_name, password, source, roles=ROLES, now=None, then=None):
    """The common path of every password sign-in (API token, web session), throttled per login name
    and per source (services/throttle.py).

    Returns then(session, user) for an active user of one of `roles` whose password matches; a wrong
    login, password or role is counted (committed) and gives None; a locked-out login or source
    raises Throttled before the password is looked at. Nothing else in the database changes.
    """
    key = (login_name or "").strip()[:80]

    def fn(s):
        at = now or utcnow()
        throttle.check_sign_in(s, key, source, at)
        user = s.scalar(select(User).where(User.login == key))
        if user is None or not user.active or user.role not in roles:
            check_password_hash(_DUMMY_HASH, password or "")
            ok = False
        else:
            ok = check_password_hash(user.password_hash, password or "")
        if not ok:
            throttle.record_sign_in_failure(s, key, source, at)
            return _BadSignIn()
        throttle.forget_sign_in_failures(s, key)
        return then(s, user) if then else user

    out = db.run(fn)
    return None if isinstance(out, _BadSignIn) else out


def login(db, login_name, password, source="unknown", now=None):
    """Password sign-in -> a fresh bearer token for the API."""
    def token_for(s, user):
        token = issue_token(s, user=user, label="login")
        return {"token": token, "role": user.role, "user_id": user.id, "carrier_id": user.carrier_id,
                "station_id": user.station_id, "name": user.name}
    out = password_sign_in(db, login_name, password, source, now=now, then=token_for)
    if out is None:
        raise Unauthorized("wrong login or password", code="bad_login")
    return out


# ---- web page sessions ---------------------------------------------------------------------------
# A browser keeps a signed session cookie instead of a bearer token, so a page sign-in creates no token
# row. The fingerprint ties a session to the account's current password, active flag and role:
# changing any of them ends every session (server/web/identity.py re-checks it on every request).

WEB_ROLES = ("operator", "maintainer", "courier")


def fingerprint(user):
    return hashlib.sha256(("%s|%s|%s" % (user.password_hash, user.active, user.role)).encode()).hexdigest()[:32]


def verify_password(db, login_name, password, roles=WEB_ROLES, source="unknown", now=None):
    """The identity for a web session if the login and password match an active user of one of `roles`,
    else None. Throttled like every password sign-in (password_sign_in): may raise Throttled."""
    def identity(_s, user):
        return {"role": user.role, "uid": user.id, "fp": fingerprint(user), "station_id": user.station_id,
                "carrier_id": user.carrier_id, "name": user.name}
    return password_sign_in(db, login_name, password, source, roles=roles, now=now, then=identity)


def session_still_valid(db, uid, role, fp):
    with db.reading() as s:
        user = s.get(User, uid)
        return user is not None and user.active and user.role == role and fingerprint(user) == fp


def consenting_account(session, station_id, phone):
    """The station's account for this phone that has agreed to locker delivery, or (None, reason).

    A phone on two live accounts of the station is nobody's until the keeper settles it in the resident
    book: taking either account would use one villager's consent and send another's notice."""
    rows = session.scalars(select(Account).where(Account.station_id == station_id, Account.phone == phone,
                                                 Account.deleted_at.is_(None))).all()
    if not rows:
        return None, "no_account"
    if len(rows) > 1:
        return None, "shared_phone"
    for row in rows:
        if row.consent_locker:
            return row, None
    return None, "no_consent"


def set_consent(session, account, consent, source, now=None):
    account.consent_locker = bool(consent)
    account.consent_at = now or utcnow()
    account.consent_source = source
