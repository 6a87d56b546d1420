"""Villager pages: the pickup link from the notification, and booking a send of produce."""
import base64

from flask import render_template, request

from server.errors import ApiError
from server.services import qr
from server.web import bp, queries_villager, web_actions
from server.web.deps import db
from server.web.forms import CODE_RE


def _pickup(token):
    code = (request.args.get("c") or "").strip()
    if code and not CODE_RE.match(code):
        code = ""
    with db().reading() as s:
        return queries_villager.pickup_view(s, token, code), code


@bp.get("/p/<token>")
def villager_pickup(token):
    view, _code = _pickup(token)
    if view is None:
        return render_template("web/error.html", title_key="pickup.unknown_title", message_key="pickup.unknown"), 404
    qr_png = None
    if view["code"] and view["state"] in ("in_locker", "overdue"):
        qr_png = base64.b64encode(qr.png(qr.payload(view["locker_id"], view["code"]))).decode("ascii")
    return render_template("web/villager_pickup.html", title_key="pickup.title", p=view, qr_png=qr_png,
                           token=token, open_available=web_actions.phone_open_available())


@bp.post("/p/<token>/open")
def villager_pickup_open(token):
    view, code = _pickup(token)
    if view is None:
        return render_template("web/error.html", title_key="pickup.unknown_title", message_key="pickup.unknown"), 404
    error = None
    if not view["code"]:
        error = "pickup.code_invalid"
    else:
        try:
            web_actions.phone_open(db(), view["locker_id"], code, source="web:" + (request.remote_addr or "?"))
        except ApiError as exc:
            error = web_actions.message_key(exc)
    with db().reading() as s:
        view = queries_villager.pickup_view(s, token, code)
    status = 400 if error else 200
    return render_template("web/villager_pickup.html", title_key="pickup.title", p=view, qr_png=None, token=token,
                           open_available=web_actions.phone_open_available(), open_error=error,
                           opened=error is None), status
