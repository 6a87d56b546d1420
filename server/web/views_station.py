"""Station operator pages: lockers, parcels, overdue, alarms, resident book, fee ledger."""
import csv
import datetime
import io
import re

from flask import Response, flash, g, jsonify, redirect, render_template, request, url_for

from server.clock import beijing_month, beijing_text, utcnow
from server.errors import ApiError
from server.models import Station
from server.services import parcels as parcels_service
from server.services import pickups, sends
from server.texts import CATALOGUES
from server.web import queries, web_actions
from server.web.blueprint import bp
from server.web.deps import db, principal
from server.web.forms import Field, Form
from server.web.i18n import translate
from server.web.session_auth import require

operator_only = require("operator", "web.login")
LOCKER_STATES = ("free", "reserved", "occupied", "overdue", "faulty", "offline", "disabled")
PARCEL_TABS = ("in_locker", "overdue", "reserved", "awaiting_collection", "booked", "picked_up", "at_counter",
               "returned", "collected")


def _sid():
    return g.user["station_id"]


@bp.get("/station/")
@operator_only
def station_lockers():
    with db().reading() as s:
        st = queries.station(s, _sid())
        cabinets = queries.lockers(s, _sid())
    counts = queries.state_counts(cabinets)
    never_seen = all(b["status"] == "unknown" for lk in cabinets for b in lk["boards"])
    return render_template("web/station_lockers.html", title_key="nav.lockers", station=st, cabinets=cabinets,
                           counts=counts, states=LOCKER_STATES, never_seen=never_seen, now=utcnow())


@bp.get("/station/lockers.json")
@operator_only
def station_lockers_json():
    with db().reading() as s:
        cabinets = queries.lockers(s, _sid())
    cpts = []
    for lk in cabinets:
        for b in lk["boards"]:
            for c in b["compartments"]:
                cpts.append({"id": c["id"], "state": c["state"], "label": translate("state." + c["state"])})
    counts = queries.state_counts(cabinets)  # the legend's counters, live as the tiles are
    return jsonify({"at": beijing_text(utcnow(), "%H:%M:%S"), "compartments": cpts,
                    "counts": {st: counts.get(st, 0) for st in LOCKER_STATES}})


class SearchForm(Form):
    fields = (Field("q", "f.search", required=False, max_length=40),)


class ResidentSearchForm(Form):
    fields = (Field("q", "f.resident_search", required=False, max_length=40),)


@bp.get("/station/parcels")
@operator_only
def station_parcels():
    state = request.args.get("state") or None
    if state not in PARCEL_TABS:
        state = None
    form = SearchForm(request.args)
    form.validate()
    with db().reading() as s:
        rows = queries.parcels(s, _sid(), state=state, query=form.cleaned.get("q"))
        counts = queries.parcel_state_counts(s, _sid())
    return render_template("web/station_parcels.html", title_key="nav.parcels", rows=rows, form=form,
                           state=state, tabs=PARCEL_TABS, counts=counts)


@bp.get("/station/overdue")
@operator_only
def station_overdue():
    with db().reading() as s:
        rows = queries.parcels(s, _sid(), state="overdue", limit=500)
    return render_template("web/station_overdue.html", title_key="nav.overdue", rows=rows)


@bp.post("/station/overdue/<int:parcel_id>/<any(retrieve, return):action>")
@operator_only
def station_overdue_action(parcel_id, action):
    try:
        out = web_actions.staff_open(db(), principal(), parcel_id, action)
    except ApiError as exc:
        flash(web_actions.message_key(exc), "error")
    else:       # which door: the keeper at the cabinet must know which one to empty
        with db().reading() as s:
            label = queries.compartment_label(s, (out.get("parcel") or {}).get("compartment_id"))
        flash({"key": "overdue.done_" + action, "params": {"compartment": label or "—"}}, "ok")
    return redirect(url_for("web.station_overdue"))


@bp.get("/station/alarms")
@operator_only
def station_alarms():
    show_all = request.args.get("all") == "1"
    with db().reading() as s:
        rows = queries.alarms(s, _sid(), include_acknowledged=show_all)
    return render_template("web/station_alarms.html", title_key="nav.alarms", rows=rows, show_all=show_all)


@bp.post("/station/alarms/<int:alarm_id>/ack")
@operator_only
def station_alarm_ack(alarm_id):
    try:
        web_actions.acknowledge_alarm(db(), principal(), alarm_id)
    except ApiError as exc:
        flash(web_actions.message_key(exc), "error")
    else:
        flash("alarms.acknowledged", "ok")
    return redirect(url_for("web.station_alarms"))


class ImportForm(Form):
    fields = (Field("file", "f.import_file", kind="file"), Field("dry_run", "f.dry_run", kind="checkbox"),
              Field("apply_valid_rows", "f.apply_valid_rows", kind="checkbox"))


@bp.route("/station/residents", methods=["GET", "POST"])
@operator_only
def station_residents():
    form = ResidentSearchForm(request.args)
    form.validate()
    imp = ImportForm(request.form, request.files)
    report = None
    if request.method == "POST" and not web_actions.import_available():
        imp.form_error = "residents.import_unavailable"
    elif request.method == "POST" and imp.validate():
        upload = imp.cleaned["file"]
        data = upload.read(web_actions.IMPORT_MAX_BYTES + 1)
        if len(data) > web_actions.IMPORT_MAX_BYTES:
            imp.add_error("file", "err.file_too_big")
        else:
            try:
                report = web_actions.import_residents(db(), principal(), upload.filename, data,
                                                      dry_run=imp.cleaned["dry_run"],
                                                      apply_valid_rows=imp.cleaned["apply_valid_rows"])
            except ApiError as exc:
                imp.add_error("file", web_actions.message_key(exc))
            else:
                if not report["ok"]:
                    imp.add_error("file", "err.import_rejected", problems=len(report["rejected"]))
                elif report["rejected"]:
                    imp.add_error("file", "err.import_skipped", problems=len(report["rejected"]))
    with db().reading() as s:
        accounts = queries.residents(s, _sid(), query=form.cleaned.get("q"))
        proxies = web_actions.proxies_by_account(s, [a.id for a in accounts])
    conflicts = web_actions.open_conflicts(db(), _sid())
    for c in conflicts:       # shown in Beijing time like every other time on the pages
        c["detected_dt"] = datetime.datetime.fromisoformat(c["detected_at"])
    refused = imp.form_error or (imp.errors and not (report and report["ok"]))
    status = 400 if request.method == "POST" and refused else 200
    return render_template("web/station_residents.html", title_key="nav.residents", form=form, imp=imp,
                           report=report, accounts=accounts, proxies=proxies, conflicts=conflicts,
                           import_available=web_actions.import_available()), status


@bp.post("/station/residents/conflicts/<int:conflict_id>/<any(station, local):take>")
@operator_only
def station_conflict_resolve(conflict_id, take):
    field = web_actions.resolve_conflict(db(), principal(), conflict_id, take)
    if field is None:         # settled already, or not this station's: nothing changed
        flash("residents.conflict_gone", "error")
    else:
        flash({"key": "residents.resolved_" + take, "params": {"field": field}}, "ok")
    return redirect(url_for("web.station_residents"))


MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class FeesForm(Form):
    fields = (Field("month", "f.month", required=False, pattern=MONTH_RE, pattern_error="err.month"),)


def _month(form):
    return form.cleaned.get("month") or beijing_month()


@bp.get("/station/fees")
@operator_only
def station_fees():
    form = FeesForm(request.args)
    ok = form.validate()
    month = _month(form) if ok else beijing_month()
    with db().reading() as s:
        lines, totals = queries.ledger(s, _sid(), month)
        months = queries.ledger_months(s, _sid())
        station = s.get(Station, _sid())
        policy = {"free_hours": station.free_hours, "fee_cents_per_day": station.recipient_fee_cents_per_day,
                  "hour_cents": station.compartment_hour_cents}
    return render_template("web/station_fees.html", title_key="nav.fees", form=form, month=month, lines=lines,
                           totals=totals, months=months, policy=policy), (200 if ok else 400)


@bp.get("/station/fees.csv")
@operator_only
def station_fees_csv():
    form = FeesForm(request.args)
    if not form.validate():
        return Response(translate(form.errors["month"]), status=400, mimetype="text/plain")
    month = _month(form)
    with db().reading() as s:
        lines, totals = queries.ledger(s, _sid(), month)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["month", "carrier", "at", "tracking_number", "kind", "payer", "compartment_hours", "amount_yuan"])
    for ln in lines:
        w.writerow([month, ln["carrier"], beijing_text(ln["at"], "%Y-%m-%d %H:%M:%S"), ln["tracking_number"] or "",
                    ln["kind"], ln["payer"], "%.2f" % ln["compartment_hours"], "%.2f" % (ln["amount_cents"] / 100)])
    for tot in totals:
        w.writerow([month, tot["carrier"], "", "", "total", "carrier", "%.2f" % tot["compartment_hours"],
                    "%.2f" % (tot["amount_cents"] / 100)])
        if tot["recipient_cents"]:
            w.writerow([month, tot["carrier"], "", "", "total", "recipient", "",
                        "%.2f" % (tot["recipient_cents"] / 100)])
    # A UTF-8 byte order mark so the station PC's spreadsheet reads the Chinese carrier names.
    body = "\ufeff" + buf.getvalue()
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=cunbox-fees-%s.csv" % month})



class ExtendForm(Form):
    fields = (Field("hours", "f.extend_hours", kind="select", choices=[("24", "extend.24"), ("48", "extend.48"),
                                                                        ("72", "extend.72")]),)


def _parcel_page(parcel_id, extend=None, status=200):
    try:
        p = parcels_service.get_parcel(db(), principal(), parcel_id)
    except ApiError:
        return render_template("web/error.html", title_key="err.not_found_title", message_key="err.not_found"), 404
    for e in p["events"]:       # the service speaks ISO UTC; the page shows Beijing time like everywhere else
        e["at_dt"] = datetime.datetime.fromisoformat(e["at"].replace("Z", "+00:00")).replace(tzinfo=None)
    with db().reading() as s:
        rows = queries.parcels(s, _sid(), limit=1, parcel_id=parcel_id)
        for e in p["events"]:   # actions and actors in words: "投递完成", "快递员 王师傅", "柜机"
            e["action_key"] = "pact." + e["action"] if "pact." + e["action"] in CATALOGUES["zh"] else "pact.other"
            e["actor_key"], e["actor_name"] = queries.actor_words(s, e["actor"])
    return render_template("web/station_parcel.html", title_key="nav.parcels", p=p, row=rows[0] if rows else None,
                           events=p["events"], extend=extend or ExtendForm()), status


@bp.get("/station/parcels/<int:parcel_id>")
@operator_only
def station_parcel(parcel_id):
    return _parcel_page(parcel_id)


@bp.post("/station/parcels/<int:parcel_id>/<any(resend, revoke, extend, cancel_send):action>")
@operator_only
def station_parcel_action(parcel_id, action):
    form = ExtendForm(request.form)
    if action == "extend" and not form.validate():
        return _parcel_page(parcel_id, extend=form, status=400)
    try:
        if action == "resend":
            pickups.resend(db(), principal(), parcel_id)
        elif action == "revoke":
            pickups.revoke(db(), principal(), parcel_id)
        elif action == "cancel_send":
            sends.cancel(db(), principal(), parcel_id)
        else:
            pickups.extend(db(), principal(), parcel_id, int(form.cleaned["hours"]))
    except ApiError as exc:
        flash(web_actions.message_key(exc), "error")
    else:
        flash("parcel.done_" + action, "ok")
    return redirect(url_for("web.station_parcel", parcel_id=parcel_id))
