"""Pickup codes: the villager's link, QR codes read back by a real decoder (zxing-cpp), offline
pickups reconciled, and the operator's re-send / extend / revoke."""
import datetime
import io
import xml.etree.ElementTree as ET

import zxingcpp
from PIL import Image
from sqlalchemy import select
from support.server_world import bearer, build_world, last_code, link_of, sha16, snapshot

from server.models import AccessCode, Compartment, LockerCommand, Parcel
from server.services import codes, door_reports, pickups, qr


def _deposited(db, client, w, tracking="PN000001"):
    body = client.post("/api/v1/deposits", headers=bearer(w.courier_token),
                       json={"locker_id": w.locker_id, "tracking_number": tracking,
                             "recipient_phone": w.consenting_phone, "size": "S"}).get_json()
    door_reports.door_event(db, body["compartment"]["id"], "closed", occupied=True)
    code, note = last_code(db, body["parcel"]["id"])
    return body, code, note


def _decode(image):
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1
    return found[0].text


def _svg_matrix(svg_bytes):
    root = ET.fromstring(svg_bytes)
    size = int(float(root.get("width").rstrip("m")))
    grid = [[False] * size for _ in range(size)]
    for rect in root.iter("{http://www.w3.org/2000/svg}rect"):
        assert rect.get("width") == "1mm" and rect.get("height") == "1mm"
        grid[int(float(rect.get("y").rstrip("m")))][int(float(rect.get("x").rstrip("m")))] = True
    return grid


def _png_matrix(png_bytes, modules):
    img = Image.open(io.BytesIO(png_bytes)).convert("L")
    box = img.size[0] // modules
    return [[img.getpixel((x * box + box // 2, y * box + box // 2)) < 128 for x in range(modules)]
            for y in range(modules)]


def test_payload_format_and_check_digit():
    assert qr.payload(7, "12345678") == "CBX1:7:123456782"
    assert qr.parse_payload("CBX1:7:123456782") == (7, "12345678")
    for bad in ("CBX1:7:123456781", "CBX1:7:1234567", "CBX2:7:123456782", "CBX1:x:123456782"):
        try:
            qr.parse_payload(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
    # Luhn catches every single-digit error and adjacent swaps of different digits.
    code = "40731596"
    good = qr.luhn_digit(code)
    for i in range(8):
        for d in "0123456789":
            if d != code[i]:
                assert qr.luhn_digit(code[:i] + d + code[i + 1:]) != good


def test_pickup_link_shows_the_parcel_and_its_qr_codes_decode(db, client):
    w = build_world(db)
    body, code, note = _deposited(db, client, w)
    token, link_code = link_of(note.body)
    assert link_code == code
    r = client.get("/api/v1/pickup/%s?c=%s" % (token, code))
    assert r.status_code == 200, r.get_json()
    info = r.get_json()
    assert info["address"] == "Dongcun village, No. 1 Main Street" and info["storage_hours"] == 72
    assert info["locker"]["name"] == "Dongcun locker 1" and info["parcel"]["id"] == body["parcel"]["id"]

    expected = "CBX1:%d:%s%s" % (w.locker_id, code, qr.luhn_digit(code))
    png = client.get("/api/v1/pickup/%s/qr.png?c=%s" % (token, code))
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert _decode(Image.open(io.BytesIO(png.data))) == expected

    svg = client.get("/api/v1/pickup/%s/qr.svg?c=%s" % (token, code))
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    grid = _svg_matrix(svg.data)
    assert grid == qr.matrix(expected) == _png_matrix(png.data, len(grid))
    # Draw the SVG's modules and read them with the decoder too.
    n, box = len(grid), 8
    img = Image.new("L", (n * box, n * box), 255)
    for y, row in enumerate(grid):
        for x, dark in enumerate(row):
            if dark:
                img.paste(0, (x * box, y * box, (x + 1) * box, (y + 1) * box))
    assert _decode(img) == expected


def test_scanned_qr_payload_opens_at_the_locker(db, client):
    w = build_world(db)
    body, code, note = _deposited(db, client, w)
    token, _ = link_of(note.body)
    png = client.get("/api/v1/pickup/%s/qr.png?c=%s" % (token, code)).data
    locker_id, scanned = qr.parse_payload(_decode(Image.open(io.BytesIO(png))))
    r = client.post("/api/v1/lockers/%d/codes/verify" % locker_id, headers=bearer(w.locker_token),
                    json={"code": scanned, "source": "scanner"})
    assert r.status_code == 200 and r.get_json()["compartment"]["id"] == body["compartment"]["id"]


def test_phone_page_opens_the_door_and_wrong_codes_count(db, client):
    w = build_world(db)
    body, code, note = _deposited(db, client, w)
    token, _ = link_of(note.body)
    wrong = "%08d" % ((int(code) + 1) % 10 ** 8)
    before = snapshot(db)
    r = client.get("/api/v1/pickup/%s?c=%s" % (token, wrong))
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "wrong_code"
    after = snapshot(db)
    assert len(after["code_attempts"]) == len(before["code_attempts"]) + 1  # counted for throttling...
    after["code_attempts"] = before["code_attempts"]
    assert after == before  # ...and nothing else changed
    assert client.get("/api/v1/pickup/nope?c=%s" % code).status_code == 404
    assert client.get("/api/v1/pickup/%s?c=12" % token).get_json()["error"]["code"] == "bad_query"
    r = client.post("/api/v1/pickup/%s/open" % token, json={"code": code})
    assert r.status_code == 200 and r.get_json()["action"] == "pickup"
    assert door_reports.door_event(db, body["compartment"]["id"], "closed", occupied=False)["outcome"] == "picked_up"


def test_codes_are_8_digits_and_unique_among_live_codes_of_the_locker(db, client):
    w = build_world(db, layout=[(1, [("S", False, "middle")] * 12)])
    seen = set()
    for i in range(12):
        body, code, _ = _deposited(db, client, w, tracking="PN%06d" % i)
        assert len(code) == 8 and code.isdigit()
        seen.add(code)
    assert len(seen) == 12
    live = codes.live_codes(db, w.locker_id)
    assert len(live) == 12 and len({(r["board"], r["index"]) for r in live}) == 12
    assert all(len(r["salt"]) == 8 and len(r["hash"]) == 16 and r["expires"] > 1.7e9 for r in live)
    # Each code opens exactly its own compartment.
    with db.reading() as s:
        rows = s.scalars(select(AccessCode)).all()
        for c in seen:
            assert sum(1 for r in rows if r.code_hash == sha16(r.salt, c)) == 1


def test_board_offline_pickup_is_reconciled_once(db, client):
    w = build_world(db)
    body, code, _ = _deposited(db, client, w)
    comp_id = body["compartment"]["id"]
    live = codes.live_codes(db, w.locker_id)[0]
    at = datetime.datetime.utcnow().replace(microsecond=0)
    out = pickups.board_pickup(db, comp_id, code_id=live["code_id"], at=at)
    assert out["outcome"] == "pickup_opened"
    assert pickups.board_pickup(db, comp_id, code_id=live["code_id"], at=at)["outcome"] == "already_reconciled"
    assert door_reports.door_event(db, comp_id, "closed", occupied=False, at=at)["outcome"] == "picked_up"
    assert pickups.board_pickup(db, comp_id, code_id=live["code_id"], at=at)["outcome"] == "already_reconciled"
    with db.reading() as s:
        assert s.get(Parcel, body["parcel"]["id"]).state == "picked_up"
        assert s.get(Compartment, comp_id).state == "free"
        assert s.get(AccessCode, live["code_id"]).state == "used"


def test_resend_extend_revoke(db, client):
    w = build_world(db)
    body, code, note = _deposited(db, client, w)
    pid = body["parcel"]["id"]
    h = bearer(w.operator_token)
    old_expiry = codes.live_codes(db, w.locker_id)[0]["expires"]

    r = client.post("/api/v1/parcels/%d/resend" % pid, headers=h)
    assert r.status_code == 200, r.get_json()
    new_code, new_note = last_code(db, pid)
    assert new_note.id != note.id
    live = codes.live_codes(db, w.locker_id)
    assert len(live) == 1 and live[0]["hash"] == sha16(live[0]["salt"], new_code)
    assert live[0]["expires"] == old_expiry  # the storage period does not grow by re-sending
    verify = "/api/v1/lockers/%d/codes/verify" % w.locker_id
    if new_code != code:
        assert client.post(verify, headers=bearer(w.locker_token), json={"code": code}).status_code == 403

    r = client.post("/api/v1/parcels/%d/extend" % pid, headers=h, json={"hours": 24})
    assert r.status_code == 200
    assert codes.live_codes(db, w.locker_id)[0]["expires"] == old_expiry + 24 * 3600
    with db.reading() as s:
        kinds = [c.kind for c in s.scalars(select(LockerCommand).order_by(LockerCommand.id))]
    assert kinds == ["open", "install_code", "clear_code", "install_code", "install_code"]

    assert client.post("/api/v1/parcels/%d/extend" % pid, headers=h, json={"hours": 0}).status_code == 400
    r = client.post("/api/v1/parcels/%d/revoke" % pid, headers=h)
    assert r.status_code == 200
    assert codes.live_codes(db, w.locker_id) == []
    r = client.post(verify, headers=bearer(w.locker_token), json={"code": new_code})
    assert r.status_code == 403
    assert client.post("/api/v1/parcels/%d/revoke" % pid, headers=h).get_json()["error"]["code"] == "no_code"
