"""Villager pages: the pickup link from the notification, and booking a send of produce."""
import base64
import datetime
import secrets

from flask import jsonify, redirect, render_template, request, session, url_for

from server.errors import ApiError
from server.models import SIZES
from server.services import pickups, qr, sends
from server.web import queries_courier, queries_villager, web_actions
from server.web.blueprint import bp
from server.web.deps import db
from server.web.forms import CHECK_RE, Field, Form, phone_field


def _source():
    return "ip:%s" % (request.remote_addr or "unknown")


def _parse_iso(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None) if text else None


def _view(token, code):
    """(facts, error key): the parcel as the page shows it; the code and its deadline only once checked."""
    with db().reading() as s:
        facts = queries_villager.link_facts(s, token)
    if facts is None:
        return None, None
    if facts["state"] not in queries_villager.HOLDING:
        return facts, None
    if not code:
        return facts, "pickup.code_missing"
    try:
        checked = pickups.link_view(db(), token, code, _source())
    except ApiError as exc:
        return facts, _code_error(exc)
    facts["code"] = code
    facts["deadline"] = _parse_iso(checked["expires_at"])
    return facts, None


def _code_error(exc):
    """A wrong code (none of this parcel's, or one replaced by a resent code) is not an expired one."""
    return "pickup.code_wrong" if exc.code == "wrong_code" else web_actions.message_key(exc)


def _code_arg():
    """The code in the link as given ("" when the link has none); a malformed one is simply wrong."""
    return (request.args.get("c") or "").strip()[:16]


def _not_found():
    return render_template("web/error.html", title_key="pickup.unknown_title", message_key="pickup.unknown",
                           body_class="handheld"), 404


@bp.get("/p/<token>")
def villager_pickup(token):
    view, error = _view(token, _code_arg())
    if view is None:
        return _not_found()
    qr_png = None
    if view["code"]:
        qr_png = base64.b64encode(qr.png(qr.payload(view["locker_id"], view["code"]))).decode("ascii")
    return render_template("web/villager_pickup.html", title_key="pickup.title", p=view, qr_png=qr_png,
                           token=token, code_error=error)


@bp.get("/p/<token>/state.json")
def villager_pickup_state(token):
    """What the open page polls while the door is being opened: the parcel's state and the open's outcome."""
    with db().reading() as s:
        facts = queries_villager.link_facts(s, token)
    if facts is None:
        return jsonify({"error": "not_found"}), 404
    cmd = facts["command"]
    return jsonify({"state": facts["state"],
                    "command": {k: cmd[k] for k in ("state", "outcome")} if cmd else None})


@bp.post("/p/<token>/open")
def villager_pickup_open(token):
    code = _code_arg()
    with db().reading() as s:
        if queries_villager.link_facts(s, token) is None:
            return _not_found()
    try:
        web_actions.phone_open(db(), token, code, _source())
    except ApiError as exc:
        error = _code_error(exc)
    else:
        # Post/redirect/get: the page after the door opened is a GET, so a reload opens nothing again
        return redirect(url_for("web.villager_pickup", token=token, c=code), 303)
    view, _ = _view(token, code)
    return render_template("web/villager_pickup.html", title_key="pickup.title", p=view, qr_png=None, token=token,
                           open_error=error), (400 if error else 200)


class SendForm(Form):
    def __init__(self, formdata, lockers, carriers):
        self.fields = (
            phone_field(label="f.sender_phone"),
            Field("locker_id", "f.locker", kind="select", choices=[(str(lk["id"]), lk["label"]) for lk in lockers]),
            Field("carrier_id", "f.carrier", kind="select", choices=[(str(c["id"]), c["name"]) for c in carriers]),
            Field("size", "f.size", kind="select", choices=[(sz, "size." + sz) for sz in SIZES]),
            Field("perishable", "f.perishable", kind="checkbox", required=False),
            Field("chilled_agreed", "f.chilled_agreed", kind="checkbox", required=False),
        )
        super().__init__(formdata)

    def validate(self):
        ok = super().validate()
        if ok and self.cleaned["perishable"] and not self.cleaned["chilled_agreed"]:
            self.add_error("chilled_agreed", "err.chilled_agreed")
            return False
        return ok


@bp.route("/send", methods=["GET", "POST"])
def villager_send():
    """Step 1 of a villager's send: the form. Nothing is booked yet: a one-time number goes to the phone
    (sends.request_send) and the villager is sent to step 2 to type it back."""
    with db().reading() as s:
        lockers = queries_courier.lockers(s)
        carriers = queries_villager.carriers(s)
    form = SendForm(request.form, lockers, carriers)
    # One check per filled-in form: the form carries a one-time id; a second POST of the same form
    # (a double tap, a resubmit) goes to the first check's page instead of texting the phone again.
    nonce = request.form.get("nonce", "") if request.method == "POST" else ""
    asked = session.get("sends_asked") or {}
    if nonce and nonce in asked:
        return redirect(url_for("web.villager_send_check", token=asked[nonce]), 303)
    if request.method == "POST" and form.validate():
        try:
            out = sends.request_send(db(), int(form.cleaned["locker_id"]), int(form.cleaned["carrier_id"]),
                                     form.cleaned["size"], perishable=form.cleaned["perishable"],
                                     chilled_agreed=form.cleaned["chilled_agreed"], phone=form.cleaned["phone"],
                                     source=_source())
        except ApiError as exc:
            web_actions.attach_error(form, exc, {"bad_phone": "phone", "no_account": "phone", "shared_phone": "phone",
                                                 "checks_throttled": "phone",
                                                 "chilled_agreement_required": "chilled_agreed",
                                                 "bad_size": "size", "no_free_compartment": "size"})
        else:
            _remember("sends_asked", nonce or secrets.token_urlsafe(12), out["check"])
            return redirect(url_for("web.villager_send_check", token=out["check"]), 303)
    status = 400 if request.method == "POST" else 200
    return render_template("web/villager_send.html", title_key="send.title", form=form, step="form",
                           nonce=secrets.token_urlsafe(12), body_class="handheld"), status


def _remember(name, key, value):
    """Keep `value` under `key` in the session's `name`, beside the last few only (it is a cookie)."""
    kept = dict(list((session.get(name) or {}).items())[-4:])
    kept[key] = value
    session[name] = kept


class CheckForm(Form):
    def __init__(self, formdata):
        self.fields = (Field("number", "f.check_number", kind="tel", pattern=CHECK_RE,
                             pattern_error="err.check_number"),)
        super().__init__(formdata)


@bp.route("/send/check/<token>", methods=["GET", "POST"])
def villager_send_check(token):
    """Step 2: the villager types the one-time number from the SMS; the send is booked and the page
    moves to the booking (a GET, so a reload books nothing)."""
    if token in (session.get("sends_booked") or {}):
        return redirect(url_for("web.villager_send_booked", token=token), 303)
    with db().reading() as s:
        check = queries_villager.phone_check(s, token)
    if check is None:
        return _not_found()
    form = CheckForm(request.form)
    ended = check["ended"]
    if request.method == "POST" and not ended and form.validate():
        try:
            booked = sends.confirm_send(db(), token, form.cleaned["number"])
        except ApiError as exc:
            if exc.code == "check_wrong":
                form.add_error("number", "err.check_wrong", left=exc.details["left"])
            else:
                ended = web_actions.message_key(exc)
        else:
            # the proven phone's own browser keeps the code, to show it on the booking page
            _remember("sends_booked", token, {"phone_masked": check["phone_masked"], "locker": check["locker"],
                                              "expires_at": booked["expires_at"], "code": booked["dropoff_code"]})
            return redirect(url_for("web.villager_send_booked", token=token), 303)
    status = 400 if request.method == "POST" else 200
    return render_template("web/villager_send.html", title_key="send.title", form=form, step="check",
                           check=check, ended=ended, body_class="handheld"), status


@bp.get("/send/booked/<token>")
def villager_send_booked(token):
    info = (session.get("sends_booked") or {}).get(token)
    if info is None:
        return redirect(url_for("web.villager_send"))
    booked = dict(info, deadline=_parse_iso(info["expires_at"]))
    return render_template("web/villager_send.html", title_key="send.title", form=None, step="booked",
                           booked=booked, body_class="handheld")
