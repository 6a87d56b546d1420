# The FW_* messages on the board (firmware/update_handler.py) as PROTOCOL.md words them. CPython and MicroPython.
import hashlib

from _update_power import boot, clean, fresh_root, make_updater, provision, running
from _update_util import make_image

from firmware import update_handler
from protocol import messages as m
from protocol.errors import NAK_BAD_PAYLOAD, NAK_BAD_STATE, NAK_BUSY, NakError


def _nak(h, t, f=None):
    try:
        h.handle(t, f or {})
    except NakError as exc:
        return exc.code, exc.detail
    raise AssertionError("no NAK")


def _begin(image, version):
    return {"size": len(image), "sha256": hashlib.sha256(image).digest(), "version": version}


def _board(version="1.0.0"):
    root = fresh_root()
    provision(root, version)
    slot = boot(root)[0]
    resets = []
    h = update_handler.FwHandler(make_updater(root, slot=slot), {"link": lambda: True}, None, lambda: resets.append(1))
    return root, h, resets


def test_fwupd_handler_flow_and_states():
    root, h, _resets = _board()
    image = make_image("1.1.0")
    assert h.handle(m.FW_STATUS, {}) == {"state": m.FW_IDLE, "size": 0, "received": 0, "running_version": "1.0.0"}
    assert h.handle(m.FW_BEGIN, _begin(image, "1.1.0")) == {"chunk_size": m.FW_CHUNK_MAX}
    off = 0
    while off < len(image):
        off = h.handle(m.FW_CHUNK, {"offset": off, "data": image[off:off + 100]})["received"]
    st = h.handle(m.FW_STATUS, {})
    assert (st["state"], st["size"], st["received"]) == (m.FW_RECEIVING, len(image), len(image))
    assert h.handle(m.FW_COMMIT, {}) == {"result": m.FW_OK}
    assert h.handle(m.FW_STATUS, {})["state"] == m.FW_READY
    slot = boot(root)[0]
    h2 = update_handler.FwHandler(make_updater(root, slot=slot), {"link": lambda: True})
    assert h2.handle(m.FW_STATUS, {})["state"] == m.FW_TESTING
    assert h2.running_version() == "1.1.0"
    assert h2.handle(m.FW_CONFIRM, {}) == {"state": m.FW_IDLE}
    assert h2.handle(m.FW_CONFIRM, {}) == {"state": m.FW_IDLE}  # again: nothing on trial
    assert running(root) == ("b", "1.1.0", False)
    clean(root)


def test_fwupd_handler_spec_refusals():
    root, h, _resets = _board()
    image = make_image("1.1.0")
    assert _nak(h, m.FW_CHUNK, {"offset": 0, "data": b"x"})[0] == NAK_BAD_STATE  # before FW_BEGIN
    assert _nak(h, m.FW_COMMIT)[0] == NAK_BAD_STATE
    h.handle(m.FW_BEGIN, _begin(image, "1.1.0"))
    h.handle(m.FW_CHUNK, {"offset": 0, "data": image[:100]})
    assert _nak(h, m.FW_CHUNK, {"offset": 150, "data": image[150:200]}) == (NAK_BAD_STATE, 100)  # gap
    assert h.handle(m.FW_CHUNK, {"offset": 50, "data": image[50:100]}) == {"received": 100}  # already there
    assert h.handle(m.FW_COMMIT, {}) == {"result": m.FW_SIZE_MISMATCH}  # incomplete
    h.handle(m.FW_BEGIN, _begin(image, "1.1.0"))  # a new FW_BEGIN restarts
    assert h.handle(m.FW_STATUS, {})["received"] == 0
    code, detail = _nak(h, m.FW_BEGIN, _begin(image, "1.0.0"))
    assert (code, update_handler.REFUSAL_NAMES[detail]) == (NAK_BAD_PAYLOAD, "downgrade")
    code, detail = _nak(h, m.FW_BEGIN, _begin(image, "banana"))
    assert (code, update_handler.REFUSAL_NAMES[detail]) == (NAK_BAD_PAYLOAD, "manifest")
    wrong = make_image("1.1.0", family="other-board")
    h.handle(m.FW_BEGIN, _begin(wrong, "1.1.0"))
    off = 0
    refused = None
    while refused is None and off < len(wrong):  # refused as soon as the signed manifest is in
        try:
            off = h.handle(m.FW_CHUNK, {"offset": off, "data": wrong[off:off + 224]})["received"]
        except NakError as exc:
            refused = (exc.code, update_handler.REFUSAL_NAMES[exc.detail])
    assert refused == (NAK_BAD_PAYLOAD, "family") and off < len(wrong), (refused, off)
    assert h.handle(m.FW_STATUS, {})["state"] == m.FW_IDLE
    # the announced SHA-256 must match what arrived
    h.handle(m.FW_BEGIN, {"size": len(image), "sha256": b"\x00" * 32, "version": "1.1.0"})
    h.handle(m.FW_CHUNK, {"offset": 0, "data": image[:224]})
    off = 224
    while off < len(image):
        off = h.handle(m.FW_CHUNK, {"offset": off, "data": image[off:off + 224]})["received"]
    assert h.handle(m.FW_COMMIT, {}) == {"result": m.FW_HASH_MISMATCH}
    assert running(root)[1] == "1.0.0"
    clean(root)


def test_fwupd_handler_failed_self_test_and_busy():
    root, h, _resets = _board()
    image = make_image("1.1.0")
    h.handle(m.FW_BEGIN, _begin(image, "1.1.0"))
    h.handle(m.FW_CHUNK, {"offset": 0, "data": image})
    h.handle(m.FW_COMMIT, {})
    assert _nak(h, m.FW_BEGIN, _begin(make_image("1.2.0"), "1.2.0"))[0] == NAK_BUSY  # previous not confirmed
    slot = boot(root)[0]
    resets = []
    h2 = update_handler.FwHandler(make_updater(root, slot=slot), {"locks": lambda: False}, None,
                                  lambda: resets.append(1))
    code, detail = _nak(h2, m.FW_CONFIRM)
    assert (code, update_handler.REFUSAL_NAMES[detail]) == (NAK_BAD_STATE, "selftest") and resets == [1]
    assert running(root) == ("a", "1.0.0", False)
    clean(root)


def test_fwupd_handler_allows_explicit_downgrade():
    root, h, _resets = _board("1.3.0")
    image = make_image("1.2.0")
    h.handle(m.FW_BEGIN, _begin(image, "1.2.0!"))
    h.handle(m.FW_CHUNK, {"offset": 0, "data": image})
    assert h.handle(m.FW_COMMIT, {}) == {"result": m.FW_OK}
    clean(root)


def test_fwupd_handler_no_install_while_a_door_is_busy():
    root, h, _resets = _board()
    ticks = []
    h.updater.tick = lambda: ticks.append(1)
    door_busy = [True]
    h.busy = lambda: door_busy[0]
    image = make_image("1.1.0")
    h.handle(m.FW_BEGIN, _begin(image, "1.1.0"))
    h.handle(m.FW_CHUNK, {"offset": 0, "data": image})
    code, detail = _nak(h, m.FW_COMMIT)
    assert (code, update_handler.REFUSAL_NAMES[detail]) == (NAK_BUSY, "busy")
    assert h.handle(m.FW_STATUS, {})["state"] == m.FW_RECEIVING  # nothing installed, nothing lost
    door_busy[0] = False
    assert h.handle(m.FW_COMMIT, {}) == {"result": m.FW_OK}
    assert len(ticks) >= 3  # the long steps let the firmware feed its watchdog
    clean(root)
