"""Maintainer pages: the fleet by station and board, firmware releases and rollouts."""
import re

from flask import flash, g, jsonify, redirect, render_template, request, url_for

from server.errors import ApiError
from server.web import queries_fleet, web_actions
from server.web.blueprint import bp
from server.web.deps import db, principal
from server.web.forms import Field, Form
from server.web.i18n import translate
from server.web.session_auth import require

maintainer_only = require("maintainer", "web.login")
IDS_RE = re.compile(r"^\s*\d+(\s*[,，\s]\s*\d+)*\s*$")
IMAGE_MAX_BYTES = 4 * 1024 * 1024


def _ids(text):
    return [int(x) for x in re.split(r"[,，\s]+", text.strip()) if x] if text else []


@bp.get("/fleet/")
@maintainer_only
def fleet_boards():
    try:
        station_id = int(request.args.get("station") or 0) or None
    except ValueError:
        station_id = None
    with db().reading() as s:
        stations = queries_fleet.boards(s, station_id=station_id)
        all_stations = queries_fleet.stations(s)
    return render_template("web/fleet_boards.html", title_key="nav.fleet", stations=stations,
                           all_stations=all_stations, station_id=station_id, user=g.user)


class UploadForm(Form):
    fields = (Field("image", "f.fw_image", kind="file"), Field("notes", "f.fw_notes", required=False,
                                                                kind="textarea", max_length=2000))


class RolloutForm(Form):
    def __init__(self, formdata, releases, stations):
        self.fields = (
            Field("release_id", "f.release", kind="select", choices=[(str(r["id"]), r["version"]) for r in releases]),
            Field("station_id", "f.rollout_station", kind="select", required=False,
                  choices=[(str(sid), name) for sid, name in stations]),
            Field("percent", "f.rollout_percent", kind="number", required=False, min_value=1, max_value=100),
            Field("board_ids", "f.rollout_boards", required=False, pattern=IDS_RE, pattern_error="err.ids"),
            Field("canaries", "f.canaries", required=False, pattern=IDS_RE, pattern_error="err.ids"),
            Field("failure_percent", "f.failure_percent", kind="number", min_value=0, max_value=100),
        )
        super().__init__(formdata)
        self.raw.setdefault("failure_percent", "")
        if not formdata:
            self.raw["failure_percent"] = "20"

    def validate(self):
        ok = super().validate()
        if ok:
            chosen = [n for n in ("station_id", "percent", "board_ids") if self.cleaned.get(n) not in (None, "")]
            if len(chosen) != 1:     # none chosen is not "more than one"
                self.add_error("station_id", "err.no_scope" if not chosen else "err.one_scope")
                return False
        return ok


def _releases_page(upload=None, start=None, status=200):
    fw = web_actions.firmware()
    releases, rollouts = [], None
    with db().reading() as s:
        stations = queries_fleet.stations(s)
        boards = queries_fleet.board_choices(s)
        if fw is not None:
            rollouts = queries_fleet.rollouts(s)
    if fw is not None:
        releases = fw[0].list_releases(db(), principal())
    upload = upload or UploadForm()
    start = start or RolloutForm(None, releases, stations)
    return render_template("web/fleet_releases.html", title_key="nav.releases", available=fw is not None,
                           releases=releases, rollouts=rollouts, upload=upload, start=start,
                           boards=boards), status


@bp.get("/fleet/releases")
@maintainer_only
def fleet_releases():
    return _releases_page()


@bp.post("/fleet/releases")
@maintainer_only
def fleet_release_upload():
    fw = web_actions.firmware()
    form = UploadForm(request.form, request.files)
    if fw is None:
        form.form_error = "releases.unavailable"
    elif form.validate():
        data = form.cleaned["image"].read(IMAGE_MAX_BYTES + 1)
        if len(data) > IMAGE_MAX_BYTES:
            form.add_error("image", "err.file_too_big")
        else:
            rollout, fleet_keys = fw
            try:
                rel = rollout.upload_release(db(), principal(), data, fleet_keys(), form.cleaned["notes"])
            except ApiError as exc:
                form.add_error("image", web_actions.message_key(exc))
            else:
                flash("releases.uploaded", "ok")
                return redirect(url_for("web.fleet_releases", _anchor="release-%d" % rel["id"]))
    return _releases_page(upload=form, status=400)


@bp.post("/fleet/rollouts")
@maintainer_only
def fleet_rollout_start():
    fw = web_actions.firmware()
    if fw is None:
        return _releases_page(status=400)
    rollout = fw[0]
    releases = rollout.list_releases(db(), principal())
    with db().reading() as s:
        stations = queries_fleet.stations(s)
    form = RolloutForm(request.form, releases, stations)
    if form.validate():
        c = form.cleaned
        try:
            out = rollout.create_rollout(
                db(), principal(), int(c["release_id"]),
                station_id=int(c["station_id"]) if c["station_id"] else None,
                percent=c["percent"], board_ids=_ids(c["board_ids"]) or None, canaries=_ids(c["canaries"]),
                failure_threshold=c["failure_percent"] / 100.0)
        except ApiError as exc:
            web_actions.attach_error(form, exc, {"bad_scope": "station_id", "not_found": "board_ids"})
        else:
            flash("releases.rollout_started", "ok")
            return redirect(url_for("web.fleet_rollout", rollout_id=out["id"]))
    return _releases_page(start=form, status=400)


@bp.get("/fleet/rollouts/<int:rollout_id>")
@maintainer_only
def fleet_rollout(rollout_id):
    fw = web_actions.firmware()
    if fw is None:
        return _releases_page(status=404)
    try:
        ro = fw[0].progress(db(), principal(), rollout_id)
    except ApiError:
        return render_template("web/error.html", title_key="err.not_found_title", message_key="err.not_found"), 404
    return render_template("web/fleet_rollout.html", title_key="releases.rollout", ro=ro, view=_rollout_view(ro),
                           poll_ms=ROLLOUT_POLL_MS)


ROLLOUT_POLL_MS = 1500


def _rollout_view(ro):
    with db().reading() as s:
        labels = queries_fleet.board_labels(s, [b["board_id"] for b in ro["boards"]])
    return queries_fleet.rollout_view(ro, labels, translate)


@bp.get("/fleet/rollouts/<int:rollout_id>.json")
@maintainer_only
def fleet_rollout_json(rollout_id):
    """The rollout page's live feed (static/rollout.js): counts, states and reasons in the page's language."""
    fw = web_actions.firmware()
    if fw is None:
        return jsonify({"error": "unavailable"}), 404
    try:
        ro = fw[0].progress(db(), principal(), rollout_id)
    except ApiError:
        return jsonify({"error": "not_found"}), 404
    return jsonify(_rollout_view(ro))


@bp.post("/fleet/rollouts/<int:rollout_id>/<any(pause, resume, cancel):action>")
@maintainer_only
def fleet_rollout_action(rollout_id, action):
    fw = web_actions.firmware()
    if fw is None:
        return _releases_page(status=400)
    try:
        fw[0].set_state(db(), principal(), rollout_id, action)
    except ApiError as exc:
        flash(web_actions.message_key(exc), "error")
    else:
        flash("releases.done_" + action, "ok")
    return redirect(url_for("web.fleet_rollout", rollout_id=rollout_id))
