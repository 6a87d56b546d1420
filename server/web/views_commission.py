"""The maintainer's commissioning page of one board (/fleet/boards/<id>/commission): probe the lock
bus, follow its progress, see what was found, the polarity check (open a door, read its feedback
open and shut) and "store and send". Thin over services/commissioning.py, which queues the work for
the locker link; the page reloads itself while a step is under way (static/reload.js)."""
from flask import flash, g, jsonify, redirect, render_template, request, url_for

from server.errors import ApiError
from server.models.commissioning import POLARITIES
from server.services import commissioning
from server.web import queries_fleet, web_actions
from server.web.blueprint import bp
from server.web.deps import db, principal
from server.web.i18n import current_lang, translate
from server.web.session_auth import require

maintainer_only = require("maintainer", "web.login")
RELOAD_MS = 1500


def _ref(board_id):
    with db().reading() as s:
        return queries_fleet.board_ref(s, board_id)


def _not_found():
    return render_template("web/error.html", title_key="err.not_found_title", message_key="err.not_found"), 404


def _lang():
    return current_lang()


def _pending_token(view):
    """What changes when a step moves on: the page reloads when this does."""
    live = [c for c in view["commands"] if c["state"] in ("queued", "sent")]
    return ";".join("%d:%s:%s" % (c["id"], c["state"], (c["status"] or {}).get("progress", "")) for c in live)


@bp.get("/fleet/boards/<int:board_id>/commission")
@maintainer_only
def fleet_commission(board_id):
    ref = _ref(board_id)
    if ref is None:
        return _not_found()
    locker_id, address, label = ref
    view = commissioning.profile(db(), locker_id, address)
    lang = _lang()
    prof = view["profile"]
    steps = []
    for c in view["commands"]:
        if c["op"] == "push":
            line = translate("commission.state_sent") if c["state"] == "done" else ""
        elif c["result"] == "not_supported":
            line = translate("commission.not_supported")
        elif c["op"] == "read" and c["status"] and c["state"] == "done":
            line = translate("commission.reading", value="%s (%s)" % (c["status"]["feedback"], c["status"]["raw"]))
        else:
            line = commissioning.status_text(c["status"], lang)
        steps.append(dict(c, line=line))
    door = int(request.args.get("door") or 1)
    return render_template(
        "web/fleet_commission.html", title_key="commission.title", label=label, board_id=board_id, prof=prof,
        steps=steps, found_text=commissioning.status_text(prof["found"], lang) if prof and prof["found"] else None,
        refusal_text=commissioning.refusal_text(prof["refusal"], lang) if prof and prof["refusal"] else None,
        readings=commissioning.readings(view), polarities=POLARITIES.get(prof["type"], ()) if prof else (),
        door=door, pending=_pending_token(view), reload_ms=RELOAD_MS, user=g.user)


@bp.get("/fleet/boards/<int:board_id>/commission.json")
@maintainer_only
def fleet_commission_json(board_id):
    """reload.js's feed: `state` changes whenever a step under way moves on."""
    ref = _ref(board_id)
    if ref is None:
        return jsonify({"error": "not_found"}), 404
    view = commissioning.profile(db(), ref[0], ref[1])
    return jsonify({"state": _pending_token(view), "command": None})


@bp.post("/fleet/boards/<int:board_id>/commission/<any(scan, open, read_open, read_shut, store):step>")
@maintainer_only
def fleet_commission_step(board_id, step):
    ref = _ref(board_id)
    if ref is None:
        return _not_found()
    locker_id, address, _label = ref
    actor = principal().actor
    door = request.form.get("door", "1")
    try:
        door = int(door)
        if step == "scan":
            commissioning.start_scan(db(), locker_id, actor, address, dialect=request.form.get("dialect") or None)
        elif step == "open":
            commissioning.open_for_check(db(), locker_id, address, door, actor)
        elif step in ("read_open", "read_shut"):
            commissioning.start_read(db(), locker_id, actor, door, address, phase=step[5:])
        else:
            commissioning.store(db(), locker_id, actor, address, polarity=request.form.get("polarity") or None,
                                ir=request.form.get("ir") == "on")
            commissioning.push(db(), locker_id, actor, address)
    except ValueError:
        flash("svc.bad_lock", "error")
    except ApiError as exc:
        flash(web_actions.message_key(exc), "error")
    else:
        flash("commission.queued", "ok")
    return redirect(url_for("web.fleet_commission", board_id=board_id, door=door if isinstance(door, int) else 1))
