"""Re-check a session's identity against the database on every request (disabled or re-keyed users)."""
from server.services.web_sessions import session_still_valid
from server.web.deps import db


def still_valid(ident):
    return session_still_valid(db(), ident["uid"], ident["role"], ident["fp"])
