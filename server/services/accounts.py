"""Users, passwords (werkzeug.security), bearer tokens (only their sha256 is stored), villagers."""
import hashlib
import re
import secrets

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from server.clock import utcnow
from server.errors import BadRequest, Unauthorized
from server.models import Account, ApiToken, User
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


def login(db, login_name, password):
    """Password sign-in -> a fresh bearer token for the API."""
    def fn(s):
        user = s.scalar(select(User).where(User.login == login_name))
        if user is None or not user.active or not check_password_hash(user.password_hash, password):
            raise Unauthorized("wrong login or password", code="bad_login")
        token = issue_token(s, user=user, label="login")
        return {"token": token, "role": user.role, "user_id": user.id, "carrier_id": user.carrier_id,
                "station_id": user.station_id, "name": user.name}
    return db.run(fn)


def consenting_account(session, station_id, phone):
    """The station's account for this phone that has agreed to locker delivery, or (None, reason)."""
    rows = session.scalars(select(Account).where(Account.station_id == station_id, Account.phone == phone,
                                                 Account.deleted_at.is_(None))).all()
    if not rows:
        return None, "no_account"
    for row in rows:
        if row.consent_locker:
            return row, None
    return None, "no_consent"


def set_consent(session, account, consent, source, now=None):
    account.consent_locker = bool(consent)
    account.consent_at = now or utcnow()
    account.consent_source = source
