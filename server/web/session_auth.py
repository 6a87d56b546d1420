"""Browser sessions for the web pages.

The session lives in Flask's signed cookie (HttpOnly, SameSite=Lax). Signing in clears whatever the
browser carried before (no session fixation) and starts a fresh CSRF token. A session stops working
after IDLE_SECONDS without a request or MAX_SECONDS after sign-in, whichever comes first, and when
the account's credential fingerprint changes (password reset or account disabled), because the
fingerprint is checked against the database on every request by `load_user`.
"""
import functools
import time

from flask import g, redirect, render_template, request, session, url_for

from server.web import csrf

IDLE_SECONDS = 8 * 3600
MAX_SECONDS = 24 * 3600
ROLES = ("operator", "maintainer", "courier")


def sign_in(role, uid, fp, station_id=None, carrier_id=None, name=""):
    lang = session.get("lang")
    session.clear()
    now = int(time.time())
    session.update({"role": role, "uid": uid, "fp": fp, "station_id": station_id,
                    "carrier_id": carrier_id, "name": name, "since": now, "seen": now})
    if lang:
        session["lang"] = lang
    session.permanent = False
    csrf.rotate()


def sign_out():
    session.clear()
    csrf.rotate()


def session_identity():
    """The signed-in identity as stored in the cookie, or None when absent or expired."""
    role = session.get("role")
    if role not in ROLES:
        return None
    now = int(time.time())
    if now - session.get("seen", 0) > IDLE_SECONDS or now - session.get("since", 0) > MAX_SECONDS:
        sign_out()
        return None
    if now - session.get("seen", 0) > 60:     # refresh the idle clock, but not on every request
        session["seen"] = now
    return {k: session.get(k) for k in ("role", "uid", "fp", "station_id", "carrier_id", "name")}


def require(role, login_endpoint):
    """View decorator: only a live session of `role` gets in; a visitor not signed in goes to the
    sign-in page, a signed-in user of another role gets a 403 page saying whom the page is for.

    `g.user` is the identity after the check; the identity was re-validated against the database
    by the blueprint's loader (see server.web.identity)."""
    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            user = getattr(g, "user", None)
            if user is None:
                return redirect(url_for(login_endpoint, next=request.full_path.rstrip("?")))
            if user["role"] != role:     # signed in, but not for this page: say so, do not just sign in again
                return render_template("web/forbidden.html", title_key="err.forbidden_title", needed=role), 403
            return view(*args, **kwargs)
        return inner
    return wrap


def safe_next(target, default):
    """Only same-site relative paths may be redirect targets after sign-in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default
