"""The web pages' one blueprint and what every page shares: sign-in check, CSRF, security headers,
Beijing-time filter, error pages, template globals. Views register on `bp` from their own modules."""
import logging

from flask import Blueprint, current_app, g, render_template, request
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
        return render_template("web/error.html", title_key="err.csrf_title", message_key="err.csrf"), 400
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


@bp.errorhandler(HTTPException)
def _http_error(exc):
    """Pages answer errors with a page, not the API's JSON."""
    key = "err.not_found" if exc.code == 404 else "err.generic"
    return render_template("web/error.html", title_key="err.title", message_key=key), exc.code or 500


@bp.errorhandler(Exception)
def _unexpected(exc):
    log.exception("web: unhandled error")
    return render_template("web/error.html", title_key="err.title", message_key="err.internal"), 500


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

