"""The HTTP request that queued a door command waits, a bounded time, for what the door did.

An after_request hook on the app: when a JSON response carries a command that is not final yet
("queued"/"sent"), it polls the command's row until it is done or failed, or LINK_WAIT_SECONDS pass,
and answers with the command as it then stands. Either way the response names the status resource
(/api/v1/commands/<id>, field "status_url" and the Location header) for the handheld to poll.
"""
import json

from flask import request

from server.services import link_commands


def attach(app, wait_s=8.0):
    app.config.setdefault("LINK_WAIT_SECONDS", wait_s)
    if app.extensions.get("cunbox_link_wait"):
        return  # hooked already: the link was restarted inside a server that has been serving
    app.extensions["cunbox_link_wait"] = True

    @app.after_request
    def _wait_for_door(response):
        if request.method != "POST" or response.mimetype != "application/json" or response.status_code >= 300:
            return response
        try:
            body = json.loads(response.get_data())
        except ValueError:
            return response
        cmd = body.get("command") if isinstance(body, dict) else None
        if not isinstance(cmd, dict) or "id" not in cmd:
            return response
        db = app.extensions["cunbox_db"]
        state, result = cmd.get("state"), cmd.get("result")
        if state in ("queued", "sent"):
            state, result = link_commands.wait_final(db, cmd["id"], float(app.config["LINK_WAIT_SECONDS"]))
        cmd["state"], cmd["result"] = state, result
        url = "/api/v1/commands/%d" % cmd["id"]
        cmd["status_url"] = url
        response.set_data(json.dumps(body, ensure_ascii=False))
        if state in ("queued", "sent"):
            response.headers["Location"] = url
        return response
