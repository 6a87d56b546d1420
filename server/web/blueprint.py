"""The web pages' one blueprint and what every page shares: sign-in check, CSRF, security headers,
Beijing-time filter, error pages, template globals. Views register on `bp` from their own modules.

`error_page(exc)` answers an error with a page in the reader's language: for the blueprint's own
requests, and (installed by the app factory, server/app.py) for every path outside the API that no
route matched, where the blueprint's handlers never run."""
import logging

from flask import Blueprint, current_app, g, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from server import clock
from server.secret import load_secret, web_session_key
from server.web import csrf, i18n, session_auth

log = logging.getLogger(__name__)

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/web-static")


@bp.record_once
def _configure(state):
    app = state.app
    if not app.secret_key:
        # Sessions need a stable key: derived from the one server secret, so they outlive a restart.
        app.secret_key = app.config.get("SECRET_KEY") or web_session_key(load_secret())
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    if str(app.config.get("PUBLIC_URL", "")).startswith("https://"):
        app.config.setdefault("SESSION_COOKIE_SECURE", True)   # served over HTTPS: never send it in clear
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config["SESSION_COOKIE_SAMESITE"] = app.config["SESSION_COOKIE_SAMESITE"] or "Lax"


@bp.before_request
def _before():
    i18n.pick_lang()
    g.user = None
    ident = session_auth.session_identity()
    if ident is not None:
        from server.web.identity import still_valid
        if still_valid(ident):
            g.user = ident
        else:
            session_auth.sign_out()
    try:
        csrf.check()
    except csrf.CsrfError as exc:
        log.info("web: refused an unsafe request without a valid CSRF token (%s)", exc.reason)
        return _page(400, "err.csrf_title", "err.csrf")
    return None


@bp.after_request
def _after(response):
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.endpoint != "web.static":     # pages hold personal data; the stylesheet and scripts may be cached
        response.headers.setdefault("Cache-Control", "no-store")
    # Scripts only from our own files; the QR code is an inline data: image; colours use inline styles.
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    return i18n.remember_lang(response)


@bp.app_template_filter("bjt")
def _beijing_time(value, fmt="%Y-%m-%d %H:%M"):
    """Stored times are naive UTC; people in the county read Beijing time (UTC+8, no daylight saving)."""
    if value is None:
        return "—"
    return clock.beijing_text(value, fmt)


# HTTP errors a person meets on a page: (title, message) keys; any other status says err.generic.
_ERROR_KEYS = {404: ("err.not_found_title", "err.not_found"), 413: ("err.title", "err.too_large")}


@bp.errorhandler(Exception)
def error_page(exc):
    """Pages answer errors with a page, not the API's JSON: an HTTP error with its status (and headers
    such as Allow), anything else with a 500 that says nothing was changed."""
    if not isinstance(exc, HTTPException):
        log.exception("web: unhandled error")
        return _page(500, "err.title", "err.internal")
    title_key, message_key = _ERROR_KEYS.get(exc.code, ("err.title", "err.generic"))
    response = _page(exc.code or 500, title_key, message_key)
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _page(status, title_key, message_key):
    """The error page. Outside the blueprint's requests (no route matched) its language choice, template
    globals and headers would not run, so this page does that itself."""
    ours = bp.name in request.blueprints
    if not ours:
        i18n.pick_lang()
    response = make_response(render_template("web/error.html", title_key=title_key, message_key=message_key,
                                             **_template_globals()), status)
    return response if ours else _after(response)


@bp.context_processor
def _template_globals():
    return {
        "t": i18n.translate,
        "lang": i18n.current_lang(),
        "lang_url": i18n.lang_switch_url,
        "csrf_token": csrf.token,
        "user": g.get("user"),
        # How often live pages poll the server (ms); tests shorten it.
        "poll_ms": current_app.config.get("WEB_POLL_MS", 3000),
    }

