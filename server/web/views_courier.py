"""Courier handheld pages: deposit (scan or type, size, which door opened, did not fit) and collect."""
from flask import flash, g, jsonify, redirect, render_template, request, session, url_for

from server.errors import ApiError
from server.models import SIZES
from server.services import deposits
from server.web import queries_courier, web_actions
from server.web.blueprint import bp
from server.web.deps import db, principal
from server.web.forms import Field, Form, phone_field, tracking_field
from server.web.i18n import translate
from server.web.session_auth import require

courier_only = require("courier", "web.courier_login")
SIZE_CHOICES = [(s, "size." + s) for s in SIZES]


class DepositForm(Form):
    def __init__(self, formdata, lockers):
        self.fields = (
            Field("locker_id", "f.locker", kind="select",
                  choices=[(str(lk["id"]), lk["label"] + (translate("courier.locker_offline") if lk["offline"] else ""))
                           for lk in lockers]),
            tracking_field(),
            phone_field(label="f.recipient_phone"),
            Field("size", "f.size", kind="select", choices=SIZE_CHOICES),
            Field("perishable", "f.perishable", kind="checkbox", required=False),
        )
        super().__init__(formdata)
        if not self.raw.get("locker_id") and session.get("courier_locker"):
            self.raw["locker_id"] = str(session["courier_locker"])


@bp.route("/courier/", methods=["GET", "POST"])
@courier_only
def courier_deposit():
    with db().reading() as s:
        lockers = queries_courier.lockers(s)
    form = DepositForm(request.form, lockers)
    if request.method == "POST" and form.validate():
        locker_id = int(form.cleaned["locker_id"])
        session["courier_locker"] = locker_id
        try:
            result = deposits.start_deposit(db(), principal(), locker_id, form.cleaned["tracking_number"],
                                            form.cleaned["phone"], form.cleaned["size"],
                                            perishable=form.cleaned["perishable"])
        except ApiError as exc:
            web_actions.attach_error(form, exc, {"bad_phone": "phone", "no_account": "phone", "shared_phone": "phone",
                                                 "no_consent": "phone", "no_free_compartment": "size",
                                                 "tracking_number_in_use": "tracking_number",
                                                 "not_found": "locker_id"})
        else:
            return redirect(url_for("web.courier_parcel", parcel_id=result["parcel"]["id"]))
    status = 400 if request.method == "POST" else 200
    return render_template("web/courier_deposit.html", title_key="nav.deposit", form=form,
                           body_class="handheld"), status


def _parcel_or_404(parcel_id):
    with db().reading() as s:
        view = queries_courier.parcel(s, g.user["carrier_id"], parcel_id)
    if view is None:
        return None
    return view


@bp.get("/courier/parcel/<int:parcel_id>")
@courier_only
def courier_parcel(parcel_id):
    view = _parcel_or_404(parcel_id)
    if view is None:
        return render_template("web/error.html", title_key="err.not_found_title", message_key="err.not_found",
                               body_class="handheld"), 404
    return render_template("web/courier_parcel.html", title_key="courier.door_title", p=view,
                           body_class="handheld")


@bp.get("/courier/parcel/<int:parcel_id>.json")
@courier_only
def courier_parcel_json(parcel_id):
    view = _parcel_or_404(parcel_id)
    if view is None:
        return jsonify({"error": "not_found"}), 404
    cmd = view["command"]
    return jsonify({"state": view["state"],
                    "command": {k: cmd[k] for k in ("state", "result", "outcome")} if cmd else None})


@bp.post("/courier/parcel/<int:parcel_id>/<any(did_not_fit, cancel):action>")
@courier_only
def courier_parcel_action(parcel_id, action):
    fn = deposits.did_not_fit if action == "did_not_fit" else deposits.cancel
    try:
        fn(db(), principal(), parcel_id)
    except ApiError as exc:
        flash(web_actions.message_key(exc), "error")
    else:
        flash("courier.done_" + action, "ok")
    if action == "cancel":
        return redirect(url_for("web.courier_deposit"))
    return redirect(url_for("web.courier_parcel", parcel_id=parcel_id))


@bp.get("/courier/collect")
@courier_only
def courier_collect():
    with db().reading() as s:
        rows = queries_courier.outbound(s, g.user["carrier_id"])
    return render_template("web/courier_collect.html", title_key="nav.collect", rows=rows, body_class="handheld")


@bp.post("/courier/collect/<int:parcel_id>")
@courier_only
def courier_collect_action(parcel_id):
    try:
        web_actions.collect(db(), principal(), parcel_id)
    except ApiError as exc:
        flash(web_actions.message_key(exc), "error")
    else:
        flash("courier.done_collect", "ok")
    return redirect(url_for("web.courier_collect"))
