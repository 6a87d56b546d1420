"""Maintainer pages: the fleet by station and board, firmware releases and rollouts."""
from flask import g, render_template, request

from server.web import bp, queries_fleet, web_actions
from server.web.deps import db
from server.web.session_auth import require

maintainer_only = require("maintainer", "web.login")


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


@bp.get("/fleet/releases")
@maintainer_only
def fleet_releases():
    data = web_actions.rollout_overview(db())
    return render_template("web/fleet_releases.html", title_key="nav.releases", data=data)
