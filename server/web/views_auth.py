"""Home, sign-in and sign-out for operators, maintainers and couriers."""
from flask import g, redirect, render_template, request, url_for

from server.services.web_sessions import verify_password
from server.web import bp, session_auth
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
    if request.method == "POST" and form.validate():
        ident = verify_password(db(), form.cleaned["login"], form.cleaned["password"], roles=roles)
        if ident is None:
            form.add_error("password", "err.bad_login")
        else:
            session_auth.sign_in(**ident)
            default = url_for(HOME_BY_ROLE[ident["role"]])
            return redirect(session_auth.safe_next(request.args.get("next"), default))
    status = 400 if request.method == "POST" else 200
    return render_template(template, form=form, title_key=title_key, body_class=body_class), status


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
