"""CSRF protection for the web pages' forms (the JSON API authenticates by token, not cookie).

One random token per browser session, kept in the signed session cookie. Every unsafe request to
the web blueprint must echo it, as the `csrf_token` form field or the `X-CSRF-Token` header (the
live-update script), and comes from this site when the browser says where it came from (Origin).
Signing in replaces the token, so a token seen before login is useless after it.
"""
import hmac
import secrets
from urllib.parse import urlsplit

from flask import request, session

SESSION_KEY = "csrf"
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
UNSAFE = frozenset(("POST", "PUT", "PATCH", "DELETE"))


class CsrfError(Exception):
    """The request did not prove it came from one of our own pages."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def token():
    """The session's CSRF token, made on first use (templates call this for every form)."""
    value = session.get(SESSION_KEY)
    if not value:
        value = session[SESSION_KEY] = secrets.token_urlsafe(32)
    return value


def rotate():
    session[SESSION_KEY] = secrets.token_urlsafe(32)


def check():
    """Raise CsrfError unless this unsafe request carries the session's token."""
    if request.method not in UNSAFE:
        return
    origin = request.headers.get("Origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.host:
        raise CsrfError("cross-origin")
    expected = session.get(SESSION_KEY)
    sent = request.form.get(FIELD) or request.headers.get(HEADER)
    if not expected or not sent:
        raise CsrfError("missing")
    if not hmac.compare_digest(expected.encode(), sent.encode()):
        raise CsrfError("mismatch")
