"""Security review, as tests: pickup-code brute force against the board and the API (the throttles
hold, and the guessing rates SECURITY.md quotes are the ones the code allows), the pickup link is no
oracle for other parcels' codes, token scoping, web CSRF and session cookies, replayed and forged
frames after a power cut. The figures are computed by harness/security_figures.py, shared with the
benchmark report.
"""
import re

from sqlalchemy import func, select, update
from support.server_world import bearer, build_world, last_code, link_of

from harness import security_figures as sf
from harness.fuzz_rig import ADDRESS, KEY, FuzzBoard
from protocol import messages as m
from protocol.auth import Hmac
from protocol.frame import decode_wire, encode_frame
from server.models import ApiToken, CodeAttempt, Parcel
from server.services import door_reports

# ---- the board's keypad --------------------------------------------------------------------------------

def test_board_keypad_guess_rate_is_what_security_md_says():
    rate = sf.board_guesses_per_day()
    assert rate == sf.BOARD_GUESSES_PER_DAY, "update SECURITY.md and BOARD_GUESSES_PER_DAY: %d/day" % rate


def test_board_lockout_refuses_even_the_right_code_and_survives_a_power_cut():
    board = FuzzBoard()
    app = board.app
    salt = b"saltsalt"
    from firmware.codes import code_hash
    app.codes.set(0, salt, code_hash(salt, b"24681357"), 0, 1)
    for i in range(4):                                # 3 free wrong codes, the 4th locks the keypad
        assert app.enter_code(b"1111111%d" % i, 1) == "wrong"
    assert app.throttle.locked(board.clock.ms())
    assert app.enter_code(b"24681357", 1) == "throttled"   # not even compared while locked out
    assert board.lock_pins[0].pulses == 0
    # pull the power: the lock-out is on flash and restarts in full
    again = FuzzBoard(flash=board.flash, clock=board.clock)
    assert again.app.enter_code(b"24681357", 1) == "throttled"
    board.clock.advance(again.app.throttle.remaining_ms(board.clock.ms()) + 1)
    assert again.app.enter_code(b"24681357", 1) == "accepted"


# ---- the API -----------------------------------------------------------------------------------------

def _deposit(db, client, w, tracking):
    r = client.post("/api/v1/deposits", headers=bearer(w.courier_token),
                    json={"locker_id": w.locker_id, "tracking_number": tracking,
                          "recipient_phone": w.consenting_phone, "size": "S"})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    door_reports.door_event(db, body["compartment"]["id"], "opened")
    door_reports.door_event(db, body["compartment"]["id"], "closed", occupied=True)
    code, note = last_code(db, body["parcel"]["id"])
    return body["parcel"]["id"], code, note


def _wrong(code):
    return "%08d" % ((int(code) + 1) % 10 ** 8)


def test_api_code_throttle_holds_per_source_and_per_locker(db, client):
    w = build_world(db)
    pid, code, _ = _deposit(db, client, w, "SEC00001")
    url = "/api/v1/lockers/%d/codes/verify" % w.locker_id
    h = bearer(w.locker_token)
    for _ in range(5):
        assert client.post(url, headers=h, json={"code": _wrong(code), "source": "kp1"}).status_code == 403
    r = client.post(url, headers=h, json={"code": code, "source": "kp1"})
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "throttled_source"
    assert r.headers["Retry-After"] == "600"
    # a compromised locker credential can change the source, but the locker as a whole is capped
    sent = 5
    n = 0
    while sent < sf.API_PER_LOCKER:
        n += 1
        assert client.post(url, headers=h, json={"code": _wrong(code), "source": "s%d" % n}).status_code == 403
        sent += 1
    r = client.post(url, headers=h, json={"code": code, "source": "fresh"})
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "throttled_locker"
    with db.reading() as s:
        assert s.get(Parcel, pid).state == "in_locker"       # the right code did not open during the lock-out
        assert s.scalar(select(func.count()).select_from(CodeAttempt)) == sf.API_PER_LOCKER


def test_api_guess_rate_is_what_security_md_says(db):
    assert db.settings["THROTTLE_PER_LOCKER"] == sf.API_PER_LOCKER
    assert db.settings["THROTTLE_WINDOW_SECONDS"] == sf.API_WINDOW_S
    from server import config
    defaults = config.load({})
    assert defaults["THROTTLE_PER_LOCKER"] == sf.API_PER_LOCKER
    assert defaults["THROTTLE_WINDOW_SECONDS"] == sf.API_WINDOW_S
    assert sf.api_guesses_per_day() == 4320


def test_pickup_link_is_no_oracle_for_other_parcels_codes(db, client):
    """Finding F2: with parcel A's link, parcel B's code (same locker) answered differently from a wrong
    code and was not counted, so a link holder could search for other parcels' codes."""
    w = build_world(db)
    _pa, _code_a, note_a = _deposit(db, client, w, "SEC00002")
    pb, code_b, _ = _deposit(db, client, w, "SEC00003")
    token_a, _ = link_of(note_a.body)
    wrong = client.get("/api/v1/pickup/%s?c=%s" % (token_a, "00000000" if code_b != "00000000" else "00000001"))
    other = client.get("/api/v1/pickup/%s?c=%s" % (token_a, code_b))
    assert other.status_code == wrong.status_code == 403
    assert other.get_json() == wrong.get_json()
    r = client.post("/api/v1/pickup/%s/open" % token_a, json={"code": code_b})
    assert r.status_code == 403 and r.get_json() == wrong.get_json()
    with db.reading() as s:
        assert s.scalar(select(func.count()).select_from(CodeAttempt)) == 3   # every one counted
        assert s.get(Parcel, pb).state == "in_locker"


def test_tokens_are_scoped_and_revocable(db, client):
    w = build_world(db)
    pid, _code, _ = _deposit(db, client, w, "SEC00004")
    assert client.get("/api/v1/parcels/%d" % pid, headers=bearer(w.courier_token)).status_code == 200
    assert client.get("/api/v1/parcels/%d" % pid, headers=bearer(w.other_courier_token)).status_code == 404
    assert client.get("/api/v1/parcels/%d" % pid, headers=bearer(w.other_operator_token)).status_code == 404
    assert client.get("/api/v1/lockers/%d/codes" % w.locker_id, headers=bearer(w.other_locker_token)).status_code == 404
    assert client.get("/api/v1/lockers/%d/codes" % w.locker_id, headers=bearer(w.courier_token)).status_code == 403
    with db.transaction() as s:
        s.execute(update(ApiToken).values(revoked_at=func.now()))
    r = client.get("/api/v1/parcels/%d" % pid, headers=bearer(w.courier_token))
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "bad_token"
    # tokens are stored only as hashes
    with db.reading() as s:
        stored = [t for (t,) in s.execute(select(ApiToken.token_hash)).all()]
    assert w.courier_token not in stored and all(re.fullmatch(r"[0-9a-f]{64}", t) for t in stored)


# ---- web sessions and CSRF -------------------------------------------------------------------------------

def test_web_forms_need_the_session_csrf_token_and_cookies_are_locked_down(db):
    from server.app import create_app
    app = create_app({"DATABASE": db, "SECRET_KEY": "harness-secret"})
    w = build_world(db)
    c = app.test_client()
    page = c.get("/courier/login")
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    cookie = page.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    before = snapshot(db)
    r = c.post("/courier/login", data={"login": "courier-post", "password": "pw-courier"})
    assert r.status_code == 400                               # no token: refused, nothing changed
    r = c.post("/courier/login", data={"login": "courier-post", "password": "pw-courier", "csrf_token": token},
               headers={"Origin": "http://evil.example"})
    assert r.status_code == 400                               # cross-origin: refused
    assert snapshot(db) == before
    r = c.post("/courier/login", data={"login": "courier-post", "password": "pw-courier", "csrf_token": token})
    assert r.status_code in (302, 303), r.status_code
    # the token seen before signing in is useless afterwards (rotated at login)
    r = c.post("/logout", data={"csrf_token": token})
    assert r.status_code == 400
    assert w.courier_token  # the API token is unaffected by web sessions


from support.server_world import snapshot  # noqa: E402

# ---- protocol: replay and forgery across a power cut --------------------------------------------------

def test_replayed_open_refused_after_power_cut_and_forged_open_never_pulses():
    board = FuzzBoard()
    ran = []

    def handler(t, f):
        ran.append(t)
        return board.server._handle(t, f)

    wire = encode_frame(ADDRESS, 9, m.OPEN, bytes((1, 1, 0, 0, 0, 1)), 0, 5, Hmac(KEY))
    board.receive(wire, handler)
    assert ran == [m.OPEN] and board.lock_pins[0].pulses == 1
    board.close_doors()
    again = FuzzBoard(flash=board.flash, clock=board.clock)       # power cut: reply cache gone
    reply = again.receive(wire, handler)
    nak = decode_wire(reply[0])[0]
    assert nak.type == m.NAK and nak.payload[0] == 2 and ran == [m.OPEN]   # NAK REPLAY
    forged = encode_frame(ADDRESS, 10, m.OPEN, bytes((1, 1, 0, 0, 0, 2)), 0, 6, Hmac(b"\x00" * 32))
    again.receive(forged, handler)
    assert ran == [m.OPEN] and again.lock_pins[0].pulses == 0
