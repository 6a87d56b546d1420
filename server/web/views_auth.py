"""Home, sign-in and sign-out for operators, maintainers and couriers."""
import math

from flask import g, redirect, render_template, request, url_for

from server.errors import Throttled
from server.services.accounts import verify_password
from server.web import session_auth
from server.web.blueprint import bp
from server.web.deps import db
from server.web.forms import Field, Form

HOME_BY_ROLE = {"operator": "web.station_lockers", "maintainer": "web.fleet_boards",
                "courier": "web.courier_deposit"}


class LoginForm(Form):
    fields = (Field("login", "f.login", max_length=80), Field("password", "f.password", kind="password"))


@bp.get("/")
def home():
    if g.user:
        return redirect(url_for(HOME_BY_ROLE[g.user["role"]]))
    return render_template("web/home.html", title_key="home.title")


def _login(roles, template, title_key, body_class=""):
    form = LoginForm(request.form)
    retry_after = None
    if request.method == "POST" and form.validate():
        try:
            ident = verify_password(db(), form.cleaned["login"], form.cleaned["password"], roles=roles,
                                    source="ip:%s" % (request.remote_addr or "unknown"))
        except Throttled as exc:
            ident, retry_after = None, exc.details["retry_after"]
            form.add_error("password", "err.sign_in_locked", minutes=max(1, math.ceil(retry_after / 60)))
        else:
            if ident is None:
                form.add_error("password", "err.bad_login")
            else:
                session_auth.sign_in(**ident)
                default = url_for(HOME_BY_ROLE[ident["role"]])
                return redirect(session_auth.safe_next(request.args.get("next"), default))
    status = (429 if retry_after else 400) if request.method == "POST" else 200
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    return render_template(template, form=form, title_key=title_key, body_class=body_class), status, headers


@bp.route("/login", methods=["GET", "POST"])
def login():
    return _login(("operator", "maintainer"), "web/login.html", "login.title")


@bp.route("/courier/login", methods=["GET", "POST"])
def courier_login():
    return _login(("courier",), "web/login.html", "courier.login_title", body_class="handheld")


@bp.post("/logout")
def logout():
    session_auth.sign_out()
    return redirect(url_for("web.home"))
